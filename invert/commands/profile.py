"""`invert profile MODEL [MODEL …]`: every layer's invertibility from input to logits, in one command."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional, TypeAlias

import typer
from rich.console import Console

from invert.commands import options
from invert.sweep.executors import EXECUTORS

if TYPE_CHECKING:  # str Enums built at run time: to the type checker their members are str
    _Executor: TypeAlias = str
else:
    _Executor = options.choices("Executor", EXECUTORS)


def profile(
    model: List[str] = typer.Argument(
        ...,
        help="Models to profile (`invert models`), e.g. cifar_resnet20 resnet18 timm:convnext_tiny.",
    ),
    weights: Optional[List[str]] = typer.Option(
        None,
        help="untrained (default) | trained/imagenet | a state-dict file; `--weights untrained trained` (or "
        "untrained,trained, or the option repeated) profiles each model once per weights.",
    ),
    image: Optional[List[Path]] = options.path_list("Target image (repeatable). Default: the embedded photograph."),
    layers: Optional[str] = typer.Option(
        None,
        help="Default: the family's named stages (ResNets conv1…conv5, avgpool, fc; CIFAR ResNets conv1…conv4, "
        "avgpool, fc; timm feature stages; VGG blocks; ViT encoder blocks; then the logits). `all`: every graph "
        "node with a tensor output. Or a comma-separated list (aliases or graph nodes, `invert layers MODEL`).",
    ),
    size: Optional[int] = options.size(None, "Pixels of the square input (default: each model's own)"),
    iterations: Optional[int] = typer.Option(None, help="Gradient steps per layer (default: the preset's, 200)."),
    preset: Optional[str] = typer.Option(None, help="Inversion preset (`invert presets`; default: default)."),
    seed: Optional[int] = typer.Option(None, help="Seed for untrained weights, starts and m_s noise (preset's)."),
    decoder: bool = typer.Option(
        False,
        "--decoder",
        help="Also train a quick decoder per layer (ResNets; CIFAR-10 training images) — or reuse one trained "
        "before in --decoder-dir — and add its PSNR.",
    ),
    decoder_epochs: int = typer.Option(3, min=1, help="Epochs of each quick decoder."),
    decoder_images: int = typer.Option(512, min=4, help="CIFAR-10 training images each quick decoder sees."),
    decoder_dir: Optional[Path] = typer.Option(
        None,
        help="Where decoders are kept and reused, one folder per model-weights-layer-size (default: OUT/decoders).",
    ),
    out: Path = typer.Option(
        ...,
        help="Profile folder: cells/<id>/ per layer, table.csv, profile.png, grid.png, profile.json, index.html. "
        "Re-running into it skips finished layers.",
    ),
    executor: _Executor = typer.Option(
        "local", help="local: a pool of worker processes here | ray: Ray tasks (local Ray, or --address)."
    ),
    workers: Optional[int] = typer.Option(
        None, help="local: worker processes (default: one per core); ray: most layers in flight."
    ),
    address: Optional[str] = typer.Option(None, help="ray: join a running cluster, `auto` or HOST:PORT."),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Rerun the layers that failed before (they are skipped otherwise)."
    ),
    device: str = options.device(),
    dtype: Any = options.dtype(),
    quiet: bool = options.quiet(),
) -> None:
    """Profile what every layer knows: invert each layer of the model(s) and plot PSNR and m_i against depth."""
    from invert.profiling import profile as run_profile

    report = run_profile(
        model,
        out,
        weights=weights or [],
        images=options.paths(image),
        layers=layers,
        size=size,
        iterations=iterations,
        preset=preset,
        seed=seed,
        device=device,
        dtype=options.value(dtype),
        decoder=decoder,
        decoder_epochs=decoder_epochs,
        decoder_images=decoder_images,
        decoder_dir=decoder_dir,
        executor=options.value(executor),
        workers=workers,
        address=address,
        retry_failed=retry_failed,
        progress=not quiet,
        console=Console(),
    )
    _say(report)


def _say(report: Any) -> None:
    """What ran, where the page is, and each failed layer (then exit status 1)."""
    console = Console()
    done = sum(1 for r in report.rows if r["status"] == "complete")
    console.print(
        f"ran {report.ran} layers in {report.seconds:.1f} s; {done} of {len(report.rows)} rows finished, "
        f"{len(report.failures)} layers failed — open [bold]{options.escape(str(report.out / 'index.html'))}[/bold]",
        soft_wrap=True,
    )
    for f in report.failures:
        console.print(f"[red]failed:[/red] {f['model']} {f['layer']}: {options.escape(f['error'])}", soft_wrap=True)
    if report.failures:
        raise typer.Exit(1)
