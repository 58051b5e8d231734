"""Models that memorise labelled Gaussian noise (report §5): the fixed noise set and its training run.

Badger trains ResNet-50 on 10k images drawn from N(0.5, σ) at 224 px with random labels from
100 classes (Adam 1e-4, batch 128, 90 epochs). The text says σ = 1/3, the reference code
(``randomized_training.py``) draws ``randn / 4 + 0.5``, i.e. σ = 1/4: ``sigma`` is an option.
Each image is generated from ``(seed, index)``, so the set is fixed and never has to be held
in memory (10k × 3 × 224² floats are 6 GB); small sets are materialised once for speed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from invert.errors import InvertError
from invert.io import write_config, write_csv
from invert.training import distributed
from invert.training.classifier import evaluate, fit_classifier, save_figure, training_figure

SIGMA_TEXT = 1 / 3  # §5 of the report
SIGMA_CODE = 1 / 4  # randomized_training.py: torch.randn(3, 224, 224) / 4 + 0.5
MATERIALISE_BYTES = 1 << 30  # sets smaller than this are generated once and kept


def parse_sigma(value: str | float) -> float:
    """``text`` (1/3), ``code`` (1/4), a number or a fraction like ``1/4`` → σ > 0."""
    if isinstance(value, (int, float)):
        sigma = float(value)
    else:
        named = {"text": SIGMA_TEXT, "code": SIGMA_CODE}
        try:
            sigma = named[value] if value in named else float(Fraction(value.strip()))
        except (ValueError, ZeroDivisionError):
            raise InvertError(
                f"cannot read noise σ {value!r}: pass 'text' (1/3), 'code' (1/4), a number or a fraction like 1/4"
            ) from None
    if not sigma > 0:
        raise InvertError(f"noise σ must be positive (got {sigma})")
    return sigma


class NoiseImages:
    """``n`` fixed images N(``mean``, ``sigma``) of ``channels``×``size``×``size``,
    image ``i`` drawn from ``(seed, i)``.

    Indexing with a LongTensor returns the batch (optionally normalised by ``norm_mean``/``norm_std``).
    Pixels are not clipped to [0, 1], as in the report's code.
    """

    def __init__(
        self,
        n: int,
        size: int,
        sigma: float,
        *,
        seed: int = 0,
        channels: int = 3,
        mean: float = 0.5,
        norm_mean: Sequence[float] | None = None,
        norm_std: Sequence[float] | None = None,
        materialise: bool | None = None,
    ):
        if n < 1 or size < 1 or channels < 1:
            raise InvertError(f"noise set needs n ≥ 1 images of size ≥ 1 (got n={n}, size={size})")
        self.n, self.size, self.sigma, self.seed, self.channels, self.mean = (
            n,
            size,
            float(sigma),
            int(seed),
            channels,
            mean,
        )
        self.norm = None
        if norm_mean is not None and norm_std is not None:
            self.norm = (torch.tensor(norm_mean).view(1, -1, 1, 1), torch.tensor(norm_std).view(1, -1, 1, 1))
        nbytes = n * channels * size * size * 4
        self._cache: torch.Tensor | None = None
        if materialise if materialise is not None else nbytes <= MATERIALISE_BYTES:
            self._cache = self.generate(torch.arange(n))

    def __len__(self) -> int:
        return self.n

    def image(self, i: int) -> torch.Tensor:
        """Image ``i`` in pixel space (not normalised), regenerated from its seed."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(i) + 1)
        return torch.randn(self.channels, self.size, self.size, generator=g) * self.sigma + self.mean

    def generate(self, index: torch.Tensor) -> torch.Tensor:
        """The images at ``index`` in pixel space, generated (not read from the cache)."""
        return torch.stack([self.image(int(i)) for i in index])

    def __getitem__(self, index: torch.Tensor | int) -> torch.Tensor:
        index = torch.as_tensor(index).long()
        single = index.dim() == 0
        index = index.reshape(-1)
        if int(index.min()) < 0 or int(index.max()) >= self.n:
            raise IndexError(f"noise image index out of range 0..{self.n - 1}")
        x = self._cache[index] if self._cache is not None else self.generate(index)
        if self.norm is not None:
            x = (x - self.norm[0]) / self.norm[1]
        return x[0] if single else x


def noise_labels(n: int, classes: int, seed: int = 0) -> torch.Tensor:
    """Fixed random labels in ``0..classes-1`` for the noise set, drawn from ``seed``."""
    if classes < 2:
        raise InvertError(f"need at least 2 classes to learn (got {classes})")
    return torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(seed + 7_777))


@dataclass(frozen=True)
class NoiseTraining:
    """One noise-memorisation run. Defaults: the report (ResNet-50, 10k × 224 px, 100 classes, Adam 1e-4, 90 epochs)."""

    model: str = "resnet50"
    n: int = 10_000
    size: int = 224
    sigma: float = SIGMA_TEXT
    classes: int = 100
    epochs: int = 90
    batch_size: int = 128
    lr: float = 1e-4
    seed: int = 0
    normalize: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def key(self) -> str:
        """A folder name naming every setting, so a cache of this run is never mistaken for another's."""
        raw = "" if self.normalize else "-raw"
        return (
            f"noise-{self.model}-n{self.n}-px{self.size}-sigma{self.sigma:.4g}-c{self.classes}-e{self.epochs}"
            f"-b{self.batch_size}-lr{self.lr:g}-s{self.seed}{raw}"
        )


QUICK = dict(model="cifar_resnet20", n=1000, size=32, classes=10, epochs=10, lr=2e-3)
"""``--quick``: ResNet-20 on 1000 noise images of 32 px in 10 classes; minutes on two CPU cores."""


def train_noise(
    cfg: NoiseTraining,
    folder: str | Path,
    *,
    resume: bool = True,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Train ``cfg.model`` (untrained init from ``cfg.seed``) to memorise the noise set; weights in ``folder/model.pt``.

    ``normalize=True`` feeds the model ``(noise - mean) / std`` with the model's statistics, so the
    weights file behaves with ``--weights`` like any trained model; ``False`` feeds raw noise as
    the reference code does (invert such a model with ``--no-normalize``).
    """
    from invert.encoders import build_model

    device = distributed.setup(device)  # under torchrun: join the group (rank 0 alone writes files)
    folder = Path(folder)
    _check_same_run(folder, cfg, resume)
    net, spec = build_model(cfg.model, "untrained", cfg.seed)
    outputs = _output_count(net, spec.input_shape[0], cfg.size)
    if cfg.classes > outputs:
        raise InvertError(
            f"{cfg.model} has {outputs} outputs, fewer than --classes {cfg.classes}: pass --classes {outputs} or less"
        )
    images = NoiseImages(
        cfg.n,
        cfg.size,
        cfg.sigma,
        seed=cfg.seed,
        channels=spec.input_shape[0],
        norm_mean=spec.mean if cfg.normalize else None,
        norm_std=spec.std if cfg.normalize else None,
    )
    labels = noise_labels(cfg.n, cfg.classes, cfg.seed)
    main = distributed.is_main()
    if main:
        _manifest(folder, cfg, device, "running")
    t0 = time.perf_counter()
    history = fit_classifier(
        net,
        images,
        labels,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        folder=folder,
        resume=resume,
        seed=cfg.seed,
        device=device,
        progress=progress,
    )
    eval_acc = evaluate(net, images, labels, torch.arange(cfg.n), max(cfg.batch_size, 256), device)
    if not main:
        return net.eval().requires_grad_(False), history
    write_csv(folder / "history.csv", history)
    fig = training_figure(
        history,
        title=f"{cfg.model} memorising {cfg.n} noise images N(0.5, {cfg.sigma:.3g}), {cfg.classes} classes",
        chance=1 / cfg.classes,
    )
    save_figure(fig, folder / "training.png")
    _manifest(
        folder,
        cfg,
        device,
        "complete",
        seconds_this_session=round(time.perf_counter() - t0, 2),
        final_train_acc=history[-1]["train_acc"],
        final_train_acc_eval_mode=eval_acc,
    )
    return net.eval().requires_grad_(False), history


def _manifest(folder: Path, cfg: NoiseTraining, device: torch.device, status: str, **results: Any) -> None:
    """``config.json`` of a noise-training run: the settings, the status, the results so far and the DDP setup."""
    write_config(
        folder,
        "train noise",
        seed=cfg.seed,
        device=device,
        status=status,
        training=cfg.to_dict(),
        **results,
        distributed=distributed.describe(),
    )


def _check_same_run(folder: Path, cfg: NoiseTraining, resume: bool) -> None:
    """Refuse to resume a checkpoint of a different noise run (other model, σ, size...) in ``folder``."""
    import json

    cfg_file = folder / "config.json"
    if not resume or not (folder / "last.pt").is_file() or not cfg_file.is_file():
        return
    record = json.loads(cfg_file.read_text())
    saved = record.get("training") or record.get("settings") or {}  # this module's record, or the CLI's manifest
    diff = {k: (saved.get(k), v) for k, v in cfg.to_dict().items() if k != "epochs" and saved.get(k) != v}
    if diff:
        names = ", ".join(f"{k} {a!r}→{b!r}" for k, (a, b) in diff.items())
        raise InvertError(
            f"{folder} holds a different noise run ({names}): choose another --out, or --no-resume to start over"
        )


@torch.no_grad()
def _output_count(net: nn.Module, channels: int, size: int) -> int:
    was = net.training
    net.eval()
    out = net(torch.zeros(1, channels, size, size))
    net.train(was)
    return int(out.shape[-1])
