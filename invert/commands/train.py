"""`invert train ...`: training runs whose results are weights files any command accepts.

Every training command checkpoints each epoch into its folder and resumes from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

train_app = typer.Typer(help="Train models: `noise` (memorise labelled noise), `classifier` (CIFAR-10).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")


@train_app.command("noise")
def noise(
    model: Optional[str] = typer.Option(None, help="Architecture to train (any `invert models` name). Default resnet50; --quick: cifar_resnet20."),
    n: Optional[int] = typer.Option(None, help="Noise images in the fixed set (report 10000; --quick 1000)."),
    size: Optional[int] = typer.Option(None, help="Image side in pixels (report 224; --quick 32)."),
    sigma: str = typer.Option("text", help="Noise σ of N(0.5, σ): 'text' = 1/3 (report §5), 'code' = 1/4 (its randomized_training.py), or a number/fraction."),
    classes: Optional[int] = typer.Option(None, help="Random label classes (report 100; --quick 10)."),
    epochs: Optional[int] = typer.Option(None, help="Epochs (report 90; --quick 10). Raising it on a finished run trains on."),
    batch_size: int = typer.Option(128, help="Batch size (report 128)."),
    lr: Optional[float] = typer.Option(None, help="Adam learning rate (report 1e-4; --quick 2e-3)."),
    seed: int = typer.Option(0, help="Seed of the noise set, the labels, the initial weights and the shuffling."),
    normalize: bool = typer.Option(True, "--normalize/--raw", help="Feed the model (noise − mean)/std as `--weights FILE` encoders do (default), or raw noise as the reference code does (then invert with --no-normalize)."),
    quick: bool = typer.Option(False, help="Small setting: ResNet-20, 1000 images of 32 px, 10 classes, 10 epochs at lr 2e-3 — minutes on two CPU cores."),
    out: Optional[Path] = typer.Option(None, help="Run folder (default: a new folder under results/train/). An existing run folder is resumed."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from the folder's last checkpoint (default), or start over."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N."),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Train a model to memorise labelled Gaussian noise (report §5); writes OUT/model.pt for `--weights`."""
    from rich.console import Console

    from invert.io import resolve_device
    from invert.training.noise import QUICK, NoiseTraining, parse_sigma, train_noise

    base = NoiseTraining(**QUICK) if quick else NoiseTraining()
    given = dict(model=model, n=n, size=size, classes=classes, epochs=epochs, lr=lr)
    cfg = NoiseTraining(**{**base.to_dict(), **{k: v for k, v in given.items() if v is not None},
                           "sigma": parse_sigma(sigma), "batch_size": batch_size, "seed": seed, "normalize": normalize})
    folder = _run_folder(out, "noise", resume)
    dev = resolve_device(device)
    net, history = train_noise(cfg, folder, resume=resume, device=dev, progress=not quiet)
    last = history[-1]
    Console().print(f"{cfg.model} memorised noise: training accuracy {last['train_acc']:.3f} after epoch {last['epoch']} "
                    f"(chance {1 / cfg.classes:.3f}); weights in [bold]{folder / 'model.pt'}[/bold] (use --weights)")


def _run_folder(out: Optional[Path], stem: str, resume: bool) -> Path:
    """The training folder: a fresh one by default; an existing ``--out`` only if it holds a checkpoint to resume."""
    from invert.errors import InvertError
    from invert.io import prepare_out_dir

    if out is None:
        return prepare_out_dir(None, Path("results") / "train", stem, False)
    if out.exists() and not out.is_dir():
        raise InvertError(f"--out {out} is a file, not a folder — choose another path")
    if out.is_dir() and any(out.iterdir()) and not (out / "last.pt").is_file():
        raise InvertError(f"--out {out} already holds files but no training checkpoint (last.pt) — choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


@train_app.command("classifier")
def classifier(
    model: str = typer.Option("cifar_resnet20", help="cifar_resnet18 (the thesis encoder: 3×3 stem, no max-pool) or cifar_resnet20/32/56 (He et al.)."),
    epochs: int = typer.Option(30, help="Epochs. Raising it on a finished run trains on."),
    batch_size: int = typer.Option(128, help="Batch size."),
    lr: float = typer.Option(1e-3, help="Adam learning rate (the thesis trained its ResNet-18 with Adam)."),
    val_fraction: float = typer.Option(0.1, help="Fraction of the training images held out to pick the best epoch."),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Random flips and 4-pixel crops."),
    limit: Optional[int] = typer.Option(None, help="Use the first N training images (default: all available; --quick 2000)."),
    test_limit: Optional[int] = typer.Option(None, help="Measure test accuracy on the first N test images (default: all)."),
    data: Optional[str] = typer.Option(None, help="CIFAR-10 source: torchvision folder or .npz (default: the shared arrays)."),
    download: bool = typer.Option(False, help="Download CIFAR-10 with torchvision when no local copy is found."),
    quick: bool = typer.Option(False, help="Small setting: 2000 images, 3 epochs — a few minutes on two CPU cores."),
    seed: int = typer.Option(0, help="Seed of the initial weights, split, shuffling and augmentation."),
    out: Optional[Path] = typer.Option(None, help="Run folder (default: a new folder under results/train/). An existing run folder is resumed."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from the folder's last checkpoint (default), or start over."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N."),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Train a CIFAR-10 classifier; writes OUT/model.pt (use as --weights, e.g. for `invert decoder train`)."""
    from rich.console import Console

    from invert.decoder.runs import train_cifar_classifier
    from invert.io import resolve_device

    if quick:
        epochs = min(epochs, 3)
        limit = limit or 2000
    folder = _run_folder(out, "classifier", resume)
    s = train_cifar_classifier(folder, model=model, epochs=epochs, batch_size=batch_size, lr=lr, val_fraction=val_fraction,
                               augment=augment, limit=limit, test_limit=test_limit, data=data, download=download, seed=seed, resume=resume,
                               device=resolve_device(device), progress=not quiet)
    Console().print(f"{model}: test accuracy {100 * s['test_accuracy']:.1f}% on {s['test_images']} images after {s['epochs']} epochs; "
                    f"weights in [bold]{s['weights']}[/bold] (use --weights)")
