"""`invert decoder train|eval` and `invert compare`: the learned decoder (Björklund 2024) as a second inverter.

Thin wrappers over :mod:`invert.decoder.runs`; every setting has one default, in
:class:`~invert.decoder.training.DecoderTrainConfig` (thesis) or ``QUICK``, chosen by the one
rule of :func:`invert.settings.choose` (explicit options win over ``--quick``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional, TypeAlias

import typer
from rich.console import Console
from rich.table import Table

from invert.commands import options
from invert.decoder.training import QUICK, DecoderTrainConfig
from invert.errors import InvertError
from invert.io import claim_folder
from invert.settings import choose

decoder_app = typer.Typer(
    help="Learned decoders that map a layer's activation back to the image: `train`, `eval`.", no_args_is_help=True
)
console = Console()
_T = DecoderTrainConfig()
if TYPE_CHECKING:  # str Enums built from the registries at run time: to the type checker their members are str
    _Preset: TypeAlias = str
else:
    _Preset = options.choices("Preset", __import__("invert.inversion.config", fromlist=["PRESETS"]).PRESETS)
#: ``--quick``'s change outside :class:`DecoderTrainConfig`: the training images used.
QUICK_LIMIT = 2000


def _both(name: str) -> str:
    """' (default X; --quick Y)' for a DecoderTrainConfig field, read from the settings."""
    full, small = options.default_of(_T, name), options.default_of(QUICK, name)
    return f" (default {full}" + ("" if small == full else f"; --quick {small}") + ")"


def _setting(name: str, text: str, **kw: Any) -> Any:
    """The option of DecoderTrainConfig field ``name``: unset, the full or ``--quick`` default (said in its help)."""
    if name == "seed":
        kw.update(min=0, max=options.SEED_MAX)
    return typer.Option(None, help=text + _both(name) + ".", **kw)


def _device(name: str):
    from invert.io import resolve_device

    return resolve_device(name)


@decoder_app.command("train")
def train(
    out: Path = typer.Option(..., help="Run folder: checkpoints per layer; re-running the same command resumes."),
    model: str = typer.Option(
        "cifar_resnet20",
        help="ResNet to invert: cifar_resnet20/32/56 (trained weights offline), cifar_resnet18, torchvision resnet*.",
    ),
    weights: str = typer.Option(
        "trained",
        help=(
            "Encoder weights: trained/imagenet, untrained, or a state-dict file (e.g. from `invert train classifier`)."
        ),
    ),
    layer: Optional[List[str]] = typer.Option(
        None,
        "--layer",
        help="Checkpoint (repeatable): conv2…, avgpool, fc or any graph node. Default: the thesis's checkpoints.",
    ),
    quick: bool = options.quick(
        f"{QUICK.epochs} epochs, batch {QUICK.batch_size}, {QUICK_LIMIT} images: minutes on two CPU cores"
    ),
    epochs: Optional[int] = _setting("epochs", "Maximum epochs per decoder"),
    batch_size: Optional[int] = _setting("batch_size", "Batch size"),
    lr: Optional[float] = _setting("lr", "Adam learning rate", parser=options.positive),
    patience: Optional[int] = _setting("patience", "Early-stopping patience in epochs"),
    val_fraction: Optional[float] = _setting(
        "val_fraction", "Fraction of the training images held out for early stopping", parser=options.fraction
    ),
    ce_weight: Optional[float] = _setting(
        "ce_weight",
        "c in eq. 14: weight of the classifier's cross-entropy on the reconstruction, 0 = thesis MSE only",
        parser=options.non_negative,
    ),
    feature_weight: Optional[float] = _setting(
        "feature_weight", "Weight of feature consistency ‖O(x̂)−O(a)‖/‖O(a)‖, 0 = off", parser=options.non_negative
    ),
    limit: Optional[int] = typer.Option(
        None, help=f"Use the first N training images (default: all; --quick {QUICK_LIMIT})."
    ),
    data: Optional[str] = typer.Option(
        None, help="CIFAR-10 source: torchvision folder or .npz (default: shared arrays)."
    ),
    download: bool = typer.Option(False, help="Download CIFAR-10 with torchvision when no local copy is found."),
    warm: bool = typer.Option(
        True,
        "--warm-start/--no-warm-start",
        help="Initialise each decoder from the previous checkpoint's (thesis §3.2).",
    ),
    learn_unpool: bool = typer.Option(
        True,
        "--learn-unpool/--fixed-unpool",
        help="Train the unpooling multiplier (thesis text) or keep it at 1 (what the thesis code does in effect).",
    ),
    seed: Optional[int] = _setting("seed", "Seed for the decoder init, split and shuffling"),
    device: str = options.device(),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start over in an --out folder that holds another run."),
    quiet: bool = options.quiet(),
    tensorboard: Optional[Path] = typer.Option(
        None, help="Also log each decoder's losses per epoch to TensorBoard: a new run folder under this folder."
    ),
) -> None:
    """Train one decoder per checkpoint, in order, each warm-started from the previous.

    OUT holds config.json (the manifest), metrics.json, training.csv, loss_curves.png and one folder per layer.
    """
    from invert.decoder.runs import train_run
    from invert.tensorboard import check_root, logging_epochs

    given = dict(epochs=epochs, batch_size=batch_size, lr=lr, patience=patience, val_fraction=val_fraction)
    given.update(ce_weight=ce_weight, feature_weight=feature_weight, seed=seed)
    config = choose(_T, QUICK, quick, given, "decoder training")
    limit = choose({"limit": None}, {"limit": QUICK_LIMIT}, quick, {"limit": limit})["limit"]
    check_root(tensorboard)
    _check_training(model, layer, data, download)  # everything that can be checked, before the folder is made
    claim_folder(out)
    run: dict[str, Any] = dict(layers=layer, limit=limit, data=data, download=download)
    run.update(warm=warm, learn_unpool=learn_unpool)
    with logging_epochs(tensorboard, f"decoder-{model}"):
        result = train_run(out, model=model, weights=weights, config=config, overwrite=overwrite, **run,
                           device=_device(device), progress=not quiet)  # fmt: skip
    _say_trained(result, model, weights, out)


def _say_trained(result: dict[str, Any], model: str, weights: str, out: Path) -> None:
    """One row per trained decoder (best epoch, validation MSE, epochs, seconds) and what to run next."""
    table = Table(title=f"decoders for {model} ({weights})")
    for col in ("layer", "best epoch", "val MSE", "epochs", "seconds"):
        table.add_column(col, justify="right")
    for l, (_, r) in result.items():
        table.add_row(l, str(r.best_epoch), f"{r.best_val_mse:.4g}", str(len(r.history)), f"{r.seconds:.0f}")
    console.print(table)
    console.print(f"decoders in [bold]{out}[/bold]; next: `invert decoder eval {out}`")


def _check_training(model: str, layers: Optional[List[str]], data: Optional[str], download: bool) -> None:
    """Refuse a decoder training whose model, layers or CIFAR-10 data cannot be had, before any folder is made."""
    from invert.datasets import load_cifar10
    from invert.decoder.architecture import build_decoder, checkpoint_layers

    for name in layers or checkpoint_layers(model):
        build_decoder(model, name)
    if not download:
        load_cifar10("train", 1, root=data)


@decoder_app.command("eval")
def evaluate(
    run: Path = typer.Argument(..., help="A run folder written by `invert decoder train`."),
    out: Optional[Path] = typer.Option(None, help="Where to write metrics and figures (default RUN/eval)."),
    limit: Optional[int] = typer.Option(1000, help="Test images to evaluate (0 = all 10,000)."),
    data: Optional[str] = typer.Option(None, help="CIFAR-10 source (default: shared arrays)."),
    download: bool = typer.Option(False, help="Download CIFAR-10 when no local copy is found."),
    seed: int = options.seed(0, "the m_s noise"),
    device: str = options.device(),
    overwrite: bool = options.overwrite(),
    quiet: bool = options.quiet(),
) -> None:
    """Per checkpoint on the test set: MSE, PSNR, SSIM, classifier accuracy/agreement, m_g vs m_s;
    the thesis's figures.
    """
    from invert.decoder.runs import evaluate_run, read_run
    from invert.io import check_out_dir, prepare_out_dir, write_config

    read_run(run)  # RUN must be a decoder run: refused before anything is made
    check_out_dir(out or run / "eval", overwrite)
    folder = prepare_out_dir(out or run / "eval", run, "eval", overwrite)
    settings = dict(run=str(run), limit=limit or None, data=data)
    write_config(folder, "decoder eval", seed=seed, device=_device(device), status="running", settings=settings)
    rows = evaluate_run(
        run, folder, limit=limit or None, data=data, download=download, seed=seed, device=_device(device)
    )
    write_config(folder, "decoder eval", seed=seed, device=_device(device), settings=settings)
    table = Table(
        title=f"decoders of {run} on {rows[0]['images']} test images (mean-image MSE {rows[0]['baseline_mse']:.4f})"
    )
    for col in ("layer", "MSE", "PSNR dB", "SSIM", "accuracy", "agreement", "m_g/m_s", "m_g < m_s"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["layer"],
            f"{r['mse']:.4f}",
            f"{r['psnr']:.2f}",
            f"{r['ssim']:.3f}",
            f"{100 * r.get('accuracy', float('nan')):.1f}%",
            f"{100 * r['agreement']:.1f}%",
            f"{r['m_g_over_m_s']:.3g}",
            f"{100 * r['below_ms']:.0f}%",
        )
    console.print(table)
    console.print(f"results in [bold]{folder}[/bold]")


def compare(
    run: Path = typer.Option(..., help="Decoder run folder from `invert decoder train`."),
    layer: Optional[List[str]] = typer.Option(
        None, "--layer", help="Layer(s) to compare (default: every trained decoder)."
    ),
    images: int = typer.Option(16, help="Test images to invert with every method."),
    iterations: Optional[int] = typer.Option(100, help="Optimisation iterations (optimisation and hybrid)."),
    lr: Optional[float] = typer.Option(
        None, parser=options.positive, help="Optimisation learning rate (default: the preset's)."
    ),
    preset: Optional[_Preset] = typer.Option(
        None, help="Inversion settings preset (`invert presets`; default: default)."
    ),
    amortise_over: int = typer.Option(10_000, help="Images over which the decoder's training time is amortised."),
    data: Optional[str] = typer.Option(None, help="CIFAR-10 source (default: shared arrays)."),
    download: bool = typer.Option(False, help="Download CIFAR-10 when no local copy is found."),
    seed: int = options.seed(0, "the optimisation's start and the m_s noise"),
    device: str = options.device(),
    out: Optional[Path] = options.out("a new folder under results/compare/"),
    overwrite: bool = options.overwrite(),
    quiet: bool = options.quiet(),
) -> None:
    """Decoder vs optimisation vs hybrid (optimisation from the decoder's output) on the same images and layers."""
    from invert.decoder.runs import compare_run, read_run, trained_layers
    from invert.io import check_out_dir, prepare_out_dir, write_config
    from invert.job import resolve_config

    config = resolve_config(options.value(preset), {"iterations": iterations, "lr": lr, "seed": seed})
    read_run(run)  # RUN must be a decoder run, with a trained decoder for every --layer
    have = trained_layers(run)
    missing = [name for name in layer or have if name not in have]
    if missing or not have:
        raise InvertError(
            f"no trained decoder for layer(s) {', '.join(missing) or 'any'} in {run} "
            f"(have: {', '.join(have) or 'none'}) — train them with `invert decoder train --layer ...`"
        )
    check_out_dir(out, overwrite)
    folder = prepare_out_dir(out, "results/compare", "compare", overwrite)
    settings = dict(run=str(run), layers=layer, images=images, amortise_over=amortise_over, data=data)
    write_config(
        folder,
        "compare",
        seed=seed,
        device=_device(device),
        status="running",
        settings=settings,
        inversion=config.to_dict(),
    )
    rows, comps = compare_run(
        run,
        folder,
        layers=layer,
        count=images,
        config=config,
        amortise_over=amortise_over,
        data=data,
        download=download,
        device=_device(device),
        progress=not quiet,
    )
    table = Table(title=f"{images} test images, {config.iterations} optimisation iterations")
    for col in ("layer", "method", "MSE", "PSNR dB", "SSIM", "m_g/m_s", "accuracy", "s/image", "amortised s/image"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["layer"],
            r["method"],
            f"{r['mse']:.4f}",
            f"{r['psnr']:.2f}",
            f"{r['ssim']:.3f}",
            f"{r['m_g_over_m_s']:.3g}",
            f"{100 * r.get('accuracy', float('nan')):.0f}%",
            f"{r['seconds_per_image']:.3g}",
            f"{r['amortised_seconds_per_image']:.3g}",
        )
    console.print(table)
    for c in comps:
        console.print(f"[bold]{c.layer}[/bold] wins: " + ", ".join(f"{k}={v}" for k, v in c.winners.items()))
    write_config(folder, "compare", seed=seed, device=_device(device), settings=settings, inversion=config.to_dict())
    console.print(f"results in [bold]{folder}[/bold]")
