"""Shared set-up of the decoder experiments (Björklund 2024): settings, one cached decoder run,
the thesis's checkpoint groups.

Training decoders dominates these experiments' cost, and four of them need the same run (one
decoder per checkpoint, warm-started in order, thesis §3.2). :func:`decoder_run` trains it once
into a cache folder keyed by every setting *and* the decoder code, and copies the light files
(``config.json``, ``metrics.json``, ``decoder.pt``, ``result.json``, ``training.csv``, ``loss_curves.png``) into the
experiment's own folder, so each result folder stands alone and reruns cost only the evaluation.

The thesis's encoder is a CIFAR ResNet-18 with six checkpoints. No trained one ships offline and
training it (30 epochs) is a GPU job, so both settings use the trained He et al. ResNet-20 from ``../shared``
(five checkpoints): the quick one on 1,000 images, the full one on all 20,000 training images to saturation.
:data:`SOURCE_RUN` is the thesis's own scale (ResNet-18 trained here once, cached) for a machine with a GPU.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from invert.decoder.training import DecoderTrainConfig
from invert.experiments.registry import ExperimentContext

THESIS = "Björklund 2024"

QUICK_RUN: dict[str, Any] = {
    "model": "cifar_resnet20",
    "weights": "trained",
    "layers": None,
    "train": 1000,
    "test": 100,
    "epochs": 6,
    "batch_size": 10,
    "lr": 1e-3,
    "patience": 2,
}
"""The quick decoder run shared by the decoder experiments: ResNet-20, 1000 training images (900 + 100 for early
stopping), the thesis's Adam lr 1e-3 and batch 10, ≤ 6 epochs, patience 2 — a few minutes on two CPU cores.

With decoders that predict the normalised image (the thesis's target) the conv2 decoder reaches validation MSE 0.010
after one epoch and 0.004 after six (mean image 0.060), still improving by ~5–10 % an epoch: six epochs do not
saturate it, so verdicts that need saturated decoders may stay INCONCLUSIVE here; the full setting decides."""

FULL_RUN: dict[str, Any] = {
    "model": "cifar_resnet20",
    "weights": "trained",
    "layers": None,
    "train": None,
    "test": None,
    "epochs": 30,
    "batch_size": 10,
    "lr": 1e-3,
    "patience": 3,
}
"""The full decoder run: the trained ResNet-20, all 20,000 training images (18,000 + 2,000 for early stopping), the
thesis's Adam lr 1e-3 and batch 10, each decoder stopped after 3 epochs without a better validation loss (≤ 30
epochs, the thesis's cap); judged on the 10,000 test images. What differs from the thesis: ResNet-20 (5 checkpoints)
instead of its ResNet-18 (6), patience 3 instead of 10. A cap of 20 epochs left the avgpool decoder still improving
at epoch 20."""

SOURCE_RUN: dict[str, Any] = {**FULL_RUN, "model": "cifar_resnet18", "weights": None, "epochs": 30, "patience": 10}
"""The thesis's scale: ResNet-18 (trained here by :data:`CLASSIFIER_FULL`), all 20,000 images, batch 10, ≤ 30 epochs,
patience 10 — a GPU job: ``run_experiment(NAME, params=SOURCE_RUN, device="cuda")`` (explicit params win over the full
setting)."""

CLASSIFIER_FULL: dict[str, Any] = {"epochs": 30, "batch_size": 128, "lr": 1e-3}
"""How :data:`SOURCE_RUN` trains the thesis's CIFAR ResNet-18 when no ``weights`` are given (cached; a GPU job)."""


def settings(ctx: ExperimentContext, quick: dict[str, Any], full: dict[str, Any]) -> dict[str, Any]:
    """The experiment's settings (:meth:`ExperimentContext.settings`), recorded in ``config.json``."""
    s = dict(ctx.settings(full, quick))
    ctx.params.update(s)
    return s


def cache_dir() -> Path:
    """Where trained decoders and classifiers are cached: ``$INVERT_CACHE`` or ``~/.cache/invert``."""
    return Path(os.environ.get("INVERT_CACHE") or Path.home() / ".cache" / "invert")


def _code_fingerprint() -> str:
    """A hash of the code that decides what a trained decoder is, so a code change never reuses a stale cache."""
    import invert.datasets
    import invert.decoder.architecture
    import invert.decoder.training
    import invert.encoders.cifar

    h = hashlib.sha256()
    for mod in (invert.decoder.architecture, invert.decoder.training, invert.encoders.cifar, invert.datasets):
        h.update(inspect.getsource(mod).encode())
    return h.hexdigest()[:16]


def _key(spec: dict[str, Any]) -> str:
    text = repr(sorted(spec.items())) + _code_fingerprint()
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def classifier_weights(ctx: ExperimentContext, s: dict[str, Any]) -> str:
    """``s['weights']``, or for ``cifar_resnet18`` without weights: the thesis's classifier,
    trained once into the cache.
    """
    if s.get("weights"):
        return str(s["weights"])
    from invert.training.cifar import read_metrics, train_cifar_classifier

    spec = {"model": s["model"], "seed": 0, **CLASSIFIER_FULL}
    folder = cache_dir() / "classifiers" / f"{s['model']}-{_key(spec)}"
    if read_metrics(folder) is None:  # not trained to the end yet (an older cache's summary.json counts)
        train_cifar_classifier(folder, model=s["model"], seed=0, device=ctx.device, progress=False, **CLASSIFIER_FULL)
    s["weights"] = str(folder / "model.pt")
    ctx.params["weights"] = s["weights"]
    return s["weights"]


def train_config(s: dict[str, Any], seed: int, **changes: Any) -> DecoderTrainConfig:
    """The decoder training settings of ``s`` (epochs, batch, lr, patience) for ``seed``; ``changes`` override."""
    return DecoderTrainConfig().updated(
        epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"], patience=s["patience"], seed=seed, **changes
    )


_LIGHT = ("config.json", "metrics.json", "training.csv", "loss_curves.png")  # config.json: the run's manifest
_PER_LAYER = ("decoder.pt", "result.json")


def _complete(run: Path, layers: Sequence[str]) -> bool:
    light = all((run / name).is_file() for name in _LIGHT)  # a cache from before config.json was the manifest: retrain
    return light and all((run / l / name).is_file() for l in layers for name in _PER_LAYER)


def decoder_run(
    ctx: ExperimentContext,
    s: dict[str, Any],
    *,
    layers: Sequence[str] | None = None,
    config: DecoderTrainConfig | None = None,
    warm: bool = True,
    into: str = "decoders",
) -> Path:
    """Decoders for ``layers`` (default: the model's checkpoints) trained with ``s``; cached,
    copied to ``ctx.out/into``.

    Returns the run folder inside ``ctx.out`` (what :func:`~invert.decoder.runs.evaluate_run` and
    :func:`~invert.decoder.runs.compare_run` read). ``params['cache'] = False`` trains in place, uncached.
    """
    from invert.decoder.architecture import checkpoint_layers
    from invert.decoder.runs import train_run
    from invert.io.folders import build_once

    weights = classifier_weights(ctx, s)
    layers = list(layers or s.get("layers") or checkpoint_layers(s["model"]))
    config = config or train_config(s, ctx.seed)
    here = ctx.out / into
    kw = {
        "model": s["model"],
        "weights": weights,
        "layers": layers,
        "config": config,
        "limit": s["train"],
        "warm": warm,
        "device": ctx.device,
        "progress": False,
    }
    if ctx.params.get("cache") is False:
        train_run(here, **kw)
        return here
    spec = {k: (repr(v) if k in ("config", "device") else v) for k, v in kw.items() if k != "progress"}
    spec["device"] = ctx.device.type
    cached = cache_dir() / "decoders" / f"{s['model']}-{_key(spec)}"
    # trained in NAME.partial, locked and resumed by train_run (a killed run continues from its last finished
    # epoch); only a finished run becomes the cache
    hit = build_once(
        cached, lambda folder: train_run(folder, **kw), complete=lambda f: _complete(f, layers), what="decoder training"
    )
    here.mkdir(parents=True, exist_ok=True)
    for name in _LIGHT:
        shutil.copy2(cached / name, here / name)
    for l in layers:
        (here / l).mkdir(exist_ok=True)
        for name in _PER_LAYER:
            shutil.copy2(cached / l / name, here / l / name)
    ctx.params.setdefault("decoder_cache", {})[into] = {
        "folder": str(cached),
        "reused": hit,
    }  # reused: seconds exclude training
    return here


def early_late(layers: Sequence[str]) -> tuple[list[str], list[str]]:
    """The thesis's split of checkpoints: *early* = the residual stages before the last one
    (ResNet-18: checkpoints 1–3), *late* = the last stage, average pooling and the logits (checkpoints 4–6)."""
    stages = [l for l in layers if l not in ("avgpool", "fc")]
    early = stages[:-1] if len(stages) > 1 else stages
    return early, [l for l in layers if l not in early]
