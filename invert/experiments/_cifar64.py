"""A torchvision ResNet-18 (ImageNet stem: 7×7 stride-2 conv + max-pool) trained on CIFAR-10 upsampled to 64 px.

The CIFAR ResNets have a stride-1 3×3 stem, so their untrained early layers invert exactly and
cannot show "training sharpens early layers"; this model's untrained early layers are
lossy, and its 7×7 first layer is large enough for a Gabor fit. Offline there are no ImageNet
weights, so the experiments train it here once and cache it (``results/cache/…``, resumable).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from invert.encoders.base import IMAGENET_MEAN, IMAGENET_STD
from invert.encoders.registry import RESNET_ALIASES, ModelSpec, register_model

MODEL = "resnet18_cifar64"
SIZE = 64


def _build() -> torch.nn.Module:
    import torchvision

    return torchvision.models.resnet18(num_classes=10)


register_model(
    ModelSpec(
        MODEL,
        _build,
        (3, SIZE, SIZE),
        RESNET_ALIASES,
        IMAGENET_MEAN,
        IMAGENET_STD,
        description="torchvision ResNet-18 (ImageNet stem), 10 classes, for CIFAR-10 at 64 px",
    )
)


@dataclass(frozen=True)
class Cifar64Training:
    """How the CIFAR-10 ResNet-18 is trained: images, epochs, lr, batch, seed and the recipe (the cache key).

    The default recipe is Adam at a constant lr; ``optimizer="sgd"`` with ``schedule="onecycle"`` (``lr`` the peak),
    ``label_smoothing``, ``weight_decay`` and ``channels_last`` is the fast-training one
    (:func:`~invert.training.classifier.fit_classifier`).
    """

    images: int = 20_000
    epochs: int = 15
    lr: float = 1e-3
    batch_size: int = 128
    test_images: int = 2_000
    seed: int = 0
    optimizer: str = "adam"
    schedule: str = "constant"
    label_smoothing: float = 0.0
    weight_decay: float = 0.0
    channels_last: bool = False

    def key(self) -> str:
        key = f"{MODEL}-n{self.images}-e{self.epochs}-lr{self.lr:g}-b{self.batch_size}-s{self.seed}"
        if (self.optimizer, self.schedule, self.label_smoothing, self.weight_decay) != ("adam", "constant", 0.0, 0.0):
            key += f"-{self.optimizer}-{self.schedule}-ls{self.label_smoothing:g}-wd{self.weight_decay:g}"
        return key  # channels_last changes the speed, not the weights' meaning: not in the key

    def recipe(self) -> dict[str, Any]:
        """The keyword arguments of :func:`~invert.training.classifier.fit_classifier` beyond images and epochs."""
        return {
            "batch_size": self.batch_size,
            "lr": self.lr,
            "optimizer": self.optimizer,
            "schedule": self.schedule,
            "label_smoothing": self.label_smoothing,
            "weight_decay": self.weight_decay,
            "channels_last": self.channels_last,
        }


QUICK = Cifar64Training(images=512, epochs=1, batch_size=64, test_images=500)
#: The fast-training recipe: SGD (Nesterov) with a one-cycle lr peaking at 0.2, label smoothing 0.1, weight decay
#: 5e-4 on weights, batch 256, channels-last, flip + crop, on the 20k CIFAR-10 training images in ../shared; accuracy
#: on 2,000 CIFAR-10 test images (never used to choose the recipe). Time and accuracy: benchmarks/training.md.
FULL = Cifar64Training(
    images=20_000,
    epochs=6,
    lr=0.2,
    batch_size=256,
    test_images=2_000,
    optimizer="sgd",
    schedule="onecycle",
    label_smoothing=0.1,
    weight_decay=5e-4,
    channels_last=True,
)


def given_training(training: Cifar64Training, params: Mapping[str, Any]) -> Cifar64Training:
    """``training`` with the explicit ``classifier_images`` / ``classifier_epochs`` of an experiment's params."""
    from invert.settings import updated

    return updated(
        training, "classifier", images=params.get("classifier_images"), epochs=params.get("classifier_epochs")
    )


class Upsampled:
    """CIFAR images (N, 3, 32, 32) in [0, 1], served normalised and bilinearly upsampled to 64 px per batch."""

    def __init__(self, images: torch.Tensor):
        from invert.encoders.base import Normalize

        self.images, self.norm = images, Normalize(IMAGENET_MEAN, IMAGENET_STD)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.interpolate(self.images[index], size=(SIZE, SIZE), mode="bilinear", align_corners=False)
        return self.norm.to(x)(x)


def trained_cifar64(
    cfg: Cifar64Training, cache_root: Path, *, device: torch.device | str = "cpu", progress: bool = False
) -> tuple[str, dict[str, Any]]:
    """Weights of ``MODEL`` trained by ``cfg`` in ``cache_root/KEY`` (trained there on first use, resumed, then reused)
    and a summary.
    """
    import json

    from invert.datasets import load_cifar10
    from invert.encoders import build_encoder, build_model
    from invert.io import write_json
    from invert.io.folders import build_once
    from invert.training.classifier import fit_classifier, flip_crop

    def build(into: Path) -> None:
        x, y = load_cifar10("train", cfg.images)
        net, _ = build_model(MODEL, "untrained", cfg.seed)
        history = fit_classifier(
            net,
            Upsampled(x),
            y,
            epochs=cfg.epochs,
            **cfg.recipe(),
            folder=into,
            seed=cfg.seed,
            device=device,
            augment=flip_crop(8),
            progress=progress,
        )
        xt, yt = load_cifar10("test", cfg.test_images)
        clf = build_encoder(MODEL, "fc", str(into / "model.pt"), input_size=SIZE, device=device)
        with torch.no_grad():
            up = torch.nn.functional.interpolate(xt, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
            pred = torch.cat([clf(up[i : i + 250].to(device)).argmax(1).cpu() for i in range(0, len(up), 250)])
        summary = {
            "model": MODEL,
            "training": asdict(cfg),
            "epochs": len(history),
            "train_acc": history[-1]["train_acc"],
            "test_accuracy": float((pred == yt).float().mean()),
            "test_images": len(yt),
            "seconds": round(sum(h["seconds"] for h in history), 1),
        }
        write_json(into / "summary.json", summary)  # written last: it marks the training complete

    folder = Path(cache_root) / cfg.key()
    reused = build_once(
        folder,
        build,
        complete=lambda f: (f / "summary.json").is_file() and (f / "model.pt").is_file(),
        what="CIFAR-64 classifier training",
    )
    summary = json.loads((folder / "summary.json").read_text())
    return str(folder / "model.pt"), {**summary, "cached": reused}


def cache_root(out: Path, params: dict[str, Any]) -> Path:
    """Where trained helper models are cached: ``params['cache']`` or ``results/cache`` beside the experiment's
    folder.
    """
    return Path(params.get("cache", Path(out).resolve().parent / "cache"))
