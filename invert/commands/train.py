"""`invert train ...`: training runs whose results are weights files any command accepts.

Every training command checkpoints each epoch into its folder and resumes from it. Settings
follow the one rule of :func:`invert.settings.choose`: the source's full setting, or the small
one with ``--quick``; options given explicitly win over both (and the command says which quick
value they replaced).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from invert.commands import options
from invert.training.noise import QUICK as NOISE_QUICK
from invert.training.noise import NoiseTraining

train_app = typer.Typer(
    help="Train models: `noise` (memorise labelled noise), `classifier` (CIFAR-10).", no_args_is_help=True
)

_N = NoiseTraining()
_NOISE_SMALL = NoiseTraining(**{**_N.to_dict(), **NOISE_QUICK})
#: `invert train classifier`'s settings: the full run and the ``--quick`` changes (the one place they are set).
CLASSIFIER_FULL: dict[str, Any] = dict(epochs=30, batch_size=128, lr=1e-3, val_fraction=0.1, limit=None)
CLASSIFIER_QUICK: dict[str, Any] = dict(epochs=3, limit=2000)


def _both(name: str, full: Any, small: Any) -> str:
    """Help text: the full default and the --quick one, read from the settings."""
    f, s = (
        full[name] if isinstance(full, dict) else getattr(full, name),
        small[name] if isinstance(small, dict) else getattr(small, name),
    )

    def fmt(v: Any) -> str:
        return "all" if v is None else f"{v:g}" if isinstance(v, float) else str(v)

    return f" (default {fmt(f)}" + ("" if s == f else f"; --quick {fmt(s)}") + ")"


def _say_overridden(changed: dict[str, tuple[Any, Any]], quiet: bool) -> None:
    if changed and not quiet:
        from rich.console import Console

        Console(stderr=True).print(
            "--quick: explicit "
            + ", ".join(f"--{k.replace('_', '-')} {v}" for k, (_, v) in changed.items())
            + " kept (quick would set "
            + ", ".join(f"{k}={q}" for k, (q, _) in changed.items())
            + ")",
            highlight=False,
        )


def _run_folder_option() -> Any:
    return typer.Option(
        None, help="Run folder (default: a new folder under results/train/). An existing run folder is resumed."
    )


def _resume_option() -> Any:
    return typer.Option(True, "--resume/--no-resume", help="Continue from the folder's last checkpoint, or start over.")


def _tensorboard_option() -> Any:
    return typer.Option(
        None, help="Also log loss and accuracy per epoch to TensorBoard: a new run folder under this folder."
    )


def _prepare(
    out: Optional[Path], stem: str, resume: bool, tensorboard: Optional[Path], device: str
) -> tuple[Path, Any]:
    """Check the TensorBoard folder, lock the run folder (:func:`_run_folder`) and pick the device."""
    from invert.io import resolve_device
    from invert.tensorboard import check_root

    check_root(tensorboard)
    folder = _run_folder(out, stem, resume)
    return folder, resolve_device(device)


@train_app.command("noise")
def noise(
    model: Optional[str] = typer.Option(
        None, help="Architecture to train (any `invert models` name)" + _both("model", _N, _NOISE_SMALL) + "."
    ),
    n: Optional[int] = typer.Option(
        None,
        "--n",
        "--images",
        help="Noise images in the fixed set"
        + _both("n", _N, _NOISE_SMALL)
        + " (under torchrun spell it --images: torchrun takes --n for its own --nnodes).",
    ),
    size: Optional[int] = typer.Option(None, help="Image side in pixels" + _both("size", _N, _NOISE_SMALL) + "."),
    sigma: str = typer.Option(
        "text",
        help=(
            "Noise σ of N(0.5, σ): 'text' = 1/3 (report §5), 'code' = 1/4 (its randomized_training.py), "
            "or a number/fraction."
        ),
    ),
    classes: Optional[int] = typer.Option(None, help="Random label classes" + _both("classes", _N, _NOISE_SMALL) + "."),
    epochs: Optional[int] = typer.Option(
        None, help="Epochs" + _both("epochs", _N, _NOISE_SMALL) + ". Raising it on a finished run trains on."
    ),
    batch_size: Optional[int] = typer.Option(None, help="Batch size" + _both("batch_size", _N, _NOISE_SMALL) + "."),
    lr: Optional[float] = typer.Option(
        None, parser=options.positive, help="Adam learning rate" + _both("lr", _N, _NOISE_SMALL) + "."
    ),
    seed: int = options.seed(_N.seed, "the noise set, the labels, the initial weights and the shuffling"),
    normalize: bool = typer.Option(
        _N.normalize,
        "--normalize/--raw",
        help=(
            "Feed the model (noise − mean)/std as `--weights FILE` encoders do, "
            "or raw noise as the reference code does (then invert with --no-normalize)."
        ),
    ),
    quick: bool = options.quick(
        "ResNet-20, 1000 images of 32 px, 10 classes, 10 epochs at lr 2e-3 — minutes on two CPU cores"
    ),
    out: Optional[Path] = _run_folder_option(),
    resume: bool = _resume_option(),
    device: str = options.device(),
    quiet: bool = options.quiet(),
    tensorboard: Optional[Path] = _tensorboard_option(),
) -> None:
    """Train a model to memorise labelled Gaussian noise (report §5); writes OUT/model.pt for `--weights`."""
    from rich.console import Console

    from invert.settings import choose, overridden
    from invert.tensorboard import logging_epochs
    from invert.training.noise import parse_sigma, train_noise

    given = dict(model=model, n=n, size=size, classes=classes, epochs=epochs, batch_size=batch_size, lr=lr)
    cfg = choose(
        _N,
        NOISE_QUICK,
        quick,
        {**given, "sigma": parse_sigma(sigma), "seed": seed, "normalize": normalize},
        "noise training",
    )
    _say_overridden(overridden(_N, NOISE_QUICK, quick, given), quiet)
    folder, dev = _prepare(out, "noise", resume, tensorboard, device)

    with logging_epochs(tensorboard, f"train-noise-{cfg.model}"):
        net, history = train_noise(cfg, folder, resume=resume, device=dev, progress=not quiet)
    last = history[-1]
    Console().print(
        f"{cfg.model} memorised noise: training accuracy {last['train_acc']:.3f} after epoch {last['epoch']} "
        f"(chance {1 / cfg.classes:.3f}); weights in [bold]{folder / 'model.pt'}[/bold] (use --weights)"
    )


def _run_folder(out: Optional[Path], stem: str, resume: bool) -> Path:
    """The training folder, locked for this run: a fresh one by default;
    an existing ``--out`` only if it holds a checkpoint.
    """
    from invert.errors import InvertError
    from invert.io import claim_folder, prepare_out_dir

    if out is None:
        return prepare_out_dir(None, Path("results") / "train", stem, False)
    if out.exists() and not out.is_dir():
        raise InvertError(f"--out {out} is a file, not a folder — choose another path")
    held = [p for p in out.iterdir() if not p.name.startswith(".")] if out.is_dir() else []
    if held and not (out / "last.pt").is_file() and not (out / "config.json").is_file():
        raise InvertError(
            f"--out {out} already holds files but no training checkpoint (last.pt) — choose another folder"
        )
    return claim_folder(out)


_C_SMALL = {**CLASSIFIER_FULL, **CLASSIFIER_QUICK}


@train_app.command("classifier")
def classifier(
    model: str = typer.Option(
        "cifar_resnet20",
        help="cifar_resnet18 (the thesis encoder: 3×3 stem, no max-pool) or cifar_resnet20/32/56 (He et al.).",
    ),
    epochs: Optional[int] = typer.Option(
        None, help="Epochs" + _both("epochs", CLASSIFIER_FULL, _C_SMALL) + ". Raising it on a finished run trains on."
    ),
    batch_size: Optional[int] = typer.Option(
        None, help="Batch size" + _both("batch_size", CLASSIFIER_FULL, _C_SMALL) + "."
    ),
    lr: Optional[float] = typer.Option(
        None,
        parser=options.positive,
        help="Adam learning rate (the thesis trained its ResNet-18 with Adam)"
        + _both("lr", CLASSIFIER_FULL, _C_SMALL)
        + ".",
    ),
    val_fraction: Optional[float] = typer.Option(
        None,
        parser=options.fraction,
        help="Fraction of the training images held out to pick the best epoch"
        + _both("val_fraction", CLASSIFIER_FULL, _C_SMALL)
        + ".",
    ),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Random flips and 4-pixel crops."),
    limit: Optional[int] = typer.Option(
        None, help="Use the first N training images" + _both("limit", CLASSIFIER_FULL, _C_SMALL) + "."
    ),
    test_limit: Optional[int] = typer.Option(
        None, help="Measure test accuracy on the first N test images (default: all)."
    ),
    data: Optional[str] = typer.Option(
        None, help="CIFAR-10 source: torchvision folder or .npz (default: the shared arrays)."
    ),
    download: bool = typer.Option(False, help="Download CIFAR-10 with torchvision when no local copy is found."),
    quick: bool = options.quick("2000 images, 3 epochs — a few minutes on two CPU cores"),
    seed: int = options.seed(0, "the initial weights, split, shuffling and augmentation"),
    out: Optional[Path] = _run_folder_option(),
    resume: bool = _resume_option(),
    device: str = options.device(),
    quiet: bool = options.quiet(),
    tensorboard: Optional[Path] = _tensorboard_option(),
) -> None:
    """Train a CIFAR-10 classifier; writes OUT/model.pt (use as --weights, e.g. for `invert decoder train`).

    OUT also holds config.json (the manifest) and metrics.json (test accuracy, per-epoch history).
    """
    from rich.console import Console

    from invert.settings import choose, overridden
    from invert.tensorboard import logging_epochs
    from invert.training.cifar import train_cifar_classifier

    given = dict(epochs=epochs, batch_size=batch_size, lr=lr, val_fraction=val_fraction, limit=limit)
    s = choose(CLASSIFIER_FULL, CLASSIFIER_QUICK, quick, given, "classifier training")
    _say_overridden(overridden(CLASSIFIER_FULL, CLASSIFIER_QUICK, quick, given), quiet)
    folder, dev = _prepare(out, "classifier", resume, tensorboard, device)

    with logging_epochs(tensorboard, f"train-classifier-{model}"):
        result = train_cifar_classifier(
            folder,
            model=model,
            augment=augment,
            test_limit=test_limit,
            data=data,
            download=download,
            seed=seed,
            resume=resume,
            device=dev,
            progress=not quiet,
            **s,
        )
    Console().print(
        f"{model}: test accuracy {100 * result['test_accuracy']:.1f}% on {result['test_images']} images after "
        f"{result['epochs']} epochs; weights in [bold]{result['weights']}[/bold] (use --weights)"
    )
