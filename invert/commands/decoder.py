"""`invert decoder train|eval` and `invert compare`: the learned decoder (Björklund 2024) as a second inverter.

Thin wrappers over :mod:`invert.decoder.runs`; every setting has one default, in
:class:`~invert.decoder.training.DecoderTrainConfig` (thesis) or ``QUICK``.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

decoder_app = typer.Typer(help="Learned decoders that map a layer's activation back to the image: `train`, `eval`.",
                          no_args_is_help=True)
console = Console()


def _device(name: str):
    from invert.io import resolve_device

    return resolve_device(name)


@decoder_app.command("train")
def train(
    out: Path = typer.Option(..., help="Run folder: checkpoints per layer; re-running the same command resumes."),
    model: str = typer.Option("cifar_resnet20", help="ResNet to invert: cifar_resnet20/32/56 (trained weights offline), cifar_resnet18, torchvision resnet*."),
    weights: str = typer.Option("trained", help="Encoder weights: trained/imagenet, untrained, or a state-dict file (e.g. from `invert train classifier`)."),
    layer: Optional[List[str]] = typer.Option(None, "--layer", help="Checkpoint (repeatable): conv2…, avgpool, fc or any graph node. Default: the thesis's checkpoints."),
    quick: bool = typer.Option(False, "--quick", help="4 epochs, batch 32, 2000 images: minutes on two CPU cores."),
    epochs: Optional[int] = typer.Option(None, help="Maximum epochs per decoder (thesis 30)."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (thesis 10)."),
    lr: Optional[float] = typer.Option(None, help="Adam learning rate (thesis 1e-3)."),
    patience: Optional[int] = typer.Option(None, help="Early-stopping patience in epochs (thesis 10)."),
    val_fraction: Optional[float] = typer.Option(None, help="Fraction of the training images held out for early stopping (default 0.1)."),
    ce_weight: Optional[float] = typer.Option(None, help="c in eq. 14: weight of the classifier's cross-entropy on the reconstruction (0 = thesis MSE only)."),
    feature_weight: Optional[float] = typer.Option(None, help="Weight of feature consistency ‖O(x̂)−O(a)‖/‖O(a)‖ (0 = off)."),
    limit: Optional[int] = typer.Option(None, help="Use the first N training images (default: all; --quick 2000)."),
    data: Optional[str] = typer.Option(None, help="CIFAR-10 source: torchvision folder or .npz (default: shared arrays)."),
    download: bool = typer.Option(False, help="Download CIFAR-10 with torchvision when no local copy is found."),
    warm: bool = typer.Option(True, "--warm-start/--no-warm-start", help="Initialise each decoder from the previous checkpoint's (thesis §3.2)."),
    learn_unpool: bool = typer.Option(True, "--learn-unpool/--fixed-unpool", help="Train the unpooling multiplier (thesis text) or keep it at 1 (what the thesis code does in effect)."),
    seed: Optional[int] = typer.Option(None, help="Seed for the decoder init, split and shuffling."),
    device: str = typer.Option("auto", help="auto | cpu | cuda."),
    overwrite: bool = typer.Option(False, help="Start over in an --out folder that holds another run."),
    quiet: bool = typer.Option(False, help="No progress bars."),
) -> None:
    """Train one decoder per checkpoint, in order, each warm-started from the previous."""
    from invert.decoder.runs import train_run
    from invert.decoder.training import QUICK, DecoderTrainConfig

    base = QUICK if quick else DecoderTrainConfig()
    config = base.updated(epochs=epochs, batch_size=batch_size, lr=lr, patience=patience, val_fraction=val_fraction,
                          ce_weight=ce_weight, feature_weight=feature_weight, seed=seed)
    if quick and limit is None:
        limit = 2000
    result = train_run(out, model=model, weights=weights, layers=layer, config=config, limit=limit, data=data, download=download,
                       warm=warm, learn_unpool=learn_unpool, overwrite=overwrite, device=_device(device), progress=not quiet)
    table = Table(title=f"decoders for {model} ({weights})")
    for col in ("layer", "best epoch", "val MSE", "epochs", "seconds"):
        table.add_column(col, justify="right")
    for l, (_, r) in result.items():
        table.add_row(l, str(r.best_epoch), f"{r.best_val_mse:.4g}", str(len(r.history)), f"{r.seconds:.0f}")
    console.print(table)
    console.print(f"decoders in [bold]{out}[/bold]; next: `invert decoder eval {out}`")


@decoder_app.command("eval")
def evaluate(
    run: Path = typer.Argument(..., help="A run folder written by `invert decoder train`."),
    out: Optional[Path] = typer.Option(None, help="Where to write metrics and figures (default RUN/eval)."),
    limit: Optional[int] = typer.Option(1000, help="Test images to evaluate (0 = all 10,000)."),
    data: Optional[str] = typer.Option(None, help="CIFAR-10 source (default: shared arrays)."),
    download: bool = typer.Option(False, help="Download CIFAR-10 when no local copy is found."),
    seed: int = typer.Option(0, help="Seed of the m_s noise."),
    device: str = typer.Option("auto", help="auto | cpu | cuda."),
    overwrite: bool = typer.Option(False, help="Replace an existing evaluation folder."),
) -> None:
    """Per checkpoint on the test set: MSE, PSNR, SSIM, classifier accuracy/agreement, m_g vs m_s; the thesis's figures."""
    from invert.decoder.runs import evaluate_run
    from invert.io import prepare_out_dir

    folder = prepare_out_dir(out or run / "eval", run, "eval", overwrite)
    rows = evaluate_run(run, folder, limit=limit or None, data=data, download=download, seed=seed, device=_device(device))
    table = Table(title=f"decoders of {run} on {rows[0]['images']} test images (mean-image MSE {rows[0]['baseline_mse']:.4f})")
    for col in ("layer", "MSE", "PSNR dB", "SSIM", "accuracy", "agreement", "m_g/m_s", "m_g < m_s"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(r["layer"], f"{r['mse']:.4f}", f"{r['psnr']:.2f}", f"{r['ssim']:.3f}", f"{100 * r.get('accuracy', float('nan')):.1f}%",
                      f"{100 * r['agreement']:.1f}%", f"{r['m_g_over_m_s']:.3g}", f"{100 * r['below_ms']:.0f}%")
    console.print(table)
    console.print(f"results in [bold]{folder}[/bold]")


def compare(
    run: Path = typer.Option(..., help="Decoder run folder from `invert decoder train`."),
    layer: Optional[List[str]] = typer.Option(None, "--layer", help="Layer(s) to compare (default: every trained decoder)."),
    images: int = typer.Option(16, help="Test images to invert with every method."),
    iterations: Optional[int] = typer.Option(100, help="Optimisation iterations (optimisation and hybrid)."),
    lr: Optional[float] = typer.Option(None, help="Optimisation learning rate (default: the inverter's)."),
    preset: Optional[str] = typer.Option(None, help="Inversion settings preset (`invert presets`)."),
    amortise_over: int = typer.Option(10_000, help="Images over which the decoder's training time is amortised."),
    data: Optional[str] = typer.Option(None, help="CIFAR-10 source (default: shared arrays)."),
    download: bool = typer.Option(False, help="Download CIFAR-10 when no local copy is found."),
    seed: int = typer.Option(0, help="Seed of the optimisation's start and the m_s noise."),
    device: str = typer.Option("auto", help="auto | cpu | cuda."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default: a new folder under results/compare/)."),
    overwrite: bool = typer.Option(False, help="Replace an existing --out folder."),
    quiet: bool = typer.Option(False, help="No progress bars."),
) -> None:
    """Decoder vs optimisation vs hybrid (optimisation from the decoder's output) on the same images and layers."""
    from invert.decoder.runs import compare_run
    from invert.io import prepare_out_dir
    from invert.job import resolve_config

    config = resolve_config(preset, {"iterations": iterations, "lr": lr, "seed": seed})
    folder = prepare_out_dir(out, "results/compare", "compare", overwrite)
    rows, comps = compare_run(run, folder, layers=layer, count=images, config=config, amortise_over=amortise_over, data=data,
                              download=download, device=_device(device), progress=not quiet)
    table = Table(title=f"{images} test images, {config.iterations} optimisation iterations")
    for col in ("layer", "method", "MSE", "PSNR dB", "SSIM", "m_g/m_s", "accuracy", "s/image", "amortised s/image"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(r["layer"], r["method"], f"{r['mse']:.4f}", f"{r['psnr']:.2f}", f"{r['ssim']:.3f}", f"{r['m_g_over_m_s']:.3g}",
                      f"{100 * r.get('accuracy', float('nan')):.0f}%", f"{r['seconds_per_image']:.3g}", f"{r['amortised_seconds_per_image']:.3g}")
    console.print(table)
    for c in comps:
        console.print(f"[bold]{c.layer}[/bold] wins: " + ", ".join(f"{k}={v}" for k, v in c.winners.items()))
    console.print(f"results in [bold]{folder}[/bold]")


def register(app: typer.Typer) -> None:
    app.add_typer(decoder_app, name="decoder")
    app.command("compare")(compare)
