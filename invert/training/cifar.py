"""CIFAR-10 classifiers (the thesis's encoder, He et al.'s ResNets) trained into a folder: `invert train classifier`.

The run folder holds ``config.json`` (the manifest every command writes: command line, seed, ``--out``, every
setting, versions, device, ``world_size`` and backend), ``metrics.json`` (results only: test accuracy, image counts,
per-epoch history), ``history.csv``, the ``last.pt``/``best.pt`` checkpoints and ``model.pt``. The weights file works
as ``--weights`` everywhere; under ``torchrun`` the run is data-parallel (:mod:`invert.training.distributed`) and
rank 0 alone writes. Folders from before this layout hold ``summary.json`` (settings and results together) instead.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from invert.errors import InvertError
from invert.io import write_config, write_csv, write_json
from invert.training import distributed


def train_cifar_classifier(
    out: str | Path,
    *,
    model: str = "cifar_resnet20",
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 1e-3,
    val_fraction: float = 0.1,
    augment: bool = True,
    limit: int | None = None,
    test_limit: int | None = None,
    data: str | None = None,
    download: bool = False,
    seed: int = 0,
    resume: bool = True,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Train a CIFAR-10 classifier (``cifar_resnet18`` — the thesis encoder — or ``cifar_resnet20/32/56``) into ``out``.

    Uses :func:`invert.training.classifier.fit_classifier` (checkpoint every epoch, resume) on images
    normalised with the model's mean/std, so ``out/model.pt`` works as ``--weights`` for every command.
    Writes ``out/config.json`` (status ``running``, then ``complete``) and ``out/metrics.json``; returns the
    metrics, with the test accuracy measured through ``build_encoder(..., weights=model.pt)``.
    """
    from invert.datasets import load_cifar10
    from invert.encoders.registry import build_model, get_spec
    from invert.training.classifier import fit_classifier, flip_crop, normalize_images

    device = distributed.setup(device)  # under torchrun: join the group; rank 0 alone writes files
    spec = get_spec(model)
    if tuple(spec.input_shape) != (3, 32, 32):
        raise InvertError(
            f"{model} is not a CIFAR model (input {spec.input_shape}): use cifar_resnet18 or cifar_resnet20/32/56"
        )
    out = Path(out)
    settings = dict(model=model, epochs=epochs, batch_size=batch_size, lr=lr, val_fraction=val_fraction)
    settings.update(augment=augment, limit=limit, test_limit=test_limit, data=data, seed=seed)

    def manifest(status: str) -> None:  # rank 0 alone writes (write_config skips the others)
        write_config(out, "train classifier", seed=seed, device=device, status=status, settings=settings)

    manifest("running")
    x, y = load_cifar10("train", limit, root=data, download=download)
    net, _ = build_model(model, "untrained", seed)
    net.requires_grad_(True).train()
    t0 = time.perf_counter()
    fit = dict(epochs=epochs, batch_size=batch_size, lr=lr, folder=out, resume=resume, val_fraction=val_fraction)
    try:
        history = fit_classifier(
            net,
            normalize_images(x, spec.mean, spec.std),
            y,
            **fit,
            seed=seed,
            device=device,
            augment=flip_crop() if augment else None,
            progress=progress,
        )
    except KeyboardInterrupt:
        manifest("interrupted")
        raise
    xt, yt = load_cifar10("test", test_limit, root=data, download=download)
    metrics = {
        "model": model,
        "weights": str(out / "model.pt"),
        "epochs": len(history),
        "train_images": len(x),
        "test_images": len(xt),
        "test_accuracy": accuracy_of(model, out / "model.pt", xt, yt, device),
        "history": history,
        "seconds_this_call": round(time.perf_counter() - t0, 2),
    }
    if distributed.is_main():
        write_json(out / "metrics.json", metrics)
        write_csv(out / "history.csv", history)
        manifest("complete")
    return metrics


def accuracy_of(
    model: str, weights: str | Path, images: torch.Tensor, labels: torch.Tensor, device: torch.device
) -> float:
    """Accuracy of ``model`` with the ``weights`` file, built as every command builds it (``build_encoder``)."""
    from invert.encoders import build_encoder

    clf = build_encoder(model, "fc", str(weights), device=device)
    with torch.no_grad():
        pred = torch.cat([clf(images[i : i + 500].to(device)).argmax(1).cpu() for i in range(0, len(images), 500)])
    return float((pred == labels).float().mean())


def read_metrics(folder: str | Path) -> dict[str, Any] | None:
    """A finished classifier run's results: ``metrics.json`` (or an older folder's ``summary.json``); else ``None``."""
    import json

    folder = Path(folder)
    for name in ("metrics.json", "summary.json"):  # summary.json: folders written before config.json was the manifest
        if (folder / name).is_file() and (folder / "model.pt").is_file():
            return json.loads((folder / name).read_text())
    return None
