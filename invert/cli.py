"""The `invert` command line: a thin layer over the Python API.

Every user-facing problem is an :class:`~invert.errors.InvertError`, printed as one line
with a non-zero exit and no traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from invert.errors import InvertError
from invert.inversion.config import PRESETS

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="invert",
    help="Invert vision-model representations: what does this layer still know about its input?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
experiment_app = typer.Typer(help="Reproduce the report's experiments: `list`, `run NAME [--quick]`.", no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")

_PRESET_HELP = "Settings preset: " + "; ".join(f"[{p.name}] {p.summary}" for p in PRESETS.values())


def _lr_value(value: Optional[str]) -> tuple[Optional[float], bool]:
    if value is None:
        return None, False
    if value == "auto":
        return None, True
    try:
        return float(value), False
    except ValueError:
        raise InvertError(f"--lr must be a number or 'auto' (got {value!r})") from None


@app.command()
def run(
    model: str = typer.Option("resnet50", help="Model name: any torchvision classifier, cifar_resnet20/32/56/18, mlp specs (`invert models`)."),
    layer: str = typer.Option("conv4", help="Layer: alias (conv1…conv5, avgpool, fc) or graph node name (`invert layers MODEL`)."),
    weights: str = typer.Option("untrained", help="untrained (seeded default init) | imagenet/trained | path to a state-dict file."),
    image: Optional[List[Path]] = typer.Option(None, "--image", help="Target image (repeatable). Default: the embedded photograph."),
    size: Optional[int] = typer.Option(None, help="Pixels of the square input (default 224; badger preset 299)."),
    iterations: Optional[int] = typer.Option(None, help="Gradient steps (default 200)."),
    lr: Optional[str] = typer.Option(None, help="Learning rate, or 'auto' for the appendix's random line search."),
    lr_schedule: Optional[str] = typer.Option(None, "--schedule", help="Learning-rate schedule: constant | linear | cosine | step."),
    lr_end: Optional[float] = typer.Option(None, help="Final learning rate for linear/cosine schedules."),
    objective: Optional[str] = typer.Option(None, help="Embedding objective: l1 | l2 | mse | cosine | normalized-l2 | gram (style: match channel co-activations)."),
    objective_weight: Optional[float] = typer.Option(None, help="Weight on the objective (badger: 0.15)."),
    optimizer: Optional[str] = typer.Option(None, help="Update rule: gd (eq. 4) | sgd (momentum) | adam | lbfgs."),
    momentum: Optional[float] = typer.Option(None, help="Momentum for sgd."),
    blur: Optional[float] = typer.Option(None, help="Gaussian blur σ after each step (eq. 5); 0 = off."),
    blur_end: Optional[float] = typer.Option(None, help="Final blur σ (linear from --blur)."),
    blur_kernel: Optional[int] = typer.Option(None, help="Blur kernel size (odd; report: 3)."),
    tv: Optional[float] = typer.Option(None, help="Weight of the total-variation prior TV^β."),
    tv_beta: Optional[float] = typer.Option(None, help="β of the TV prior."),
    alpha_norm: Optional[float] = typer.Option(None, help="Weight of the α-norm prior."),
    alpha: Optional[float] = typer.Option(None, help="α of the α-norm prior (default 6)."),
    pixel_l2: Optional[float] = typer.Option(None, help="Weight of the pixel L2 prior."),
    clamp: Optional[bool] = typer.Option(None, "--clamp/--no-clamp", help="Clamp pixels to [0,1] after each step."),
    init: Optional[str] = typer.Option(None, help="Initial input: normal | uniform | constant | image."),
    init_image: Optional[Path] = typer.Option(None, help="Start from this image (sets --init image)."),
    normalize: Optional[bool] = typer.Option(None, "--normalize/--no-normalize", help="Normalise inputs with the model's mean/std (default: only for trained weights)."),
    resize: Optional[str] = typer.Option(None, help="Fit images to the square: crop (keep aspect) | stretch."),
    restarts: int = typer.Option(1, help="Independent restarts per image (different seeded starts), batched."),
    seed: Optional[int] = typer.Option(None, help="Seed for the untrained weights, starts and m_s noise."),
    preset: Optional[str] = typer.Option(None, help=_PRESET_HELP),
    stop_below_ms: Optional[bool] = typer.Option(None, "--stop-below-ms/--no-stop-below-ms", help="Stop once every m_g < m_s."),
    record_every: Optional[int] = typer.Option(None, help="Record metrics every k iterations."),
    ms_draws: Optional[int] = typer.Option(None, help="Noise draws averaged for m_s."),
    ms_sigma: Optional[float] = typer.Option(None, help="σ of the m_s shift (report text 1/20, its code 1/18)."),
    chunk: Optional[int] = typer.Option(None, help="Images per forward/backward pass (0 = automatic: whole batch on a GPU, cache-sized on the CPU)."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N."),
    dtype: str = typer.Option("float32", help="float32 | float64."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default: a new folder under results/runs/)."),
    overwrite: bool = typer.Option(False, help="Replace results in an existing --out folder."),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Invert a layer's representation of the target image(s) and measure what comes back."""
    from invert.job import JobSpec, format_table_rows, resolve_config, run_job

    lr_value, lr_auto = _lr_value(lr)
    config = resolve_config(preset, dict(
        size=size, iterations=iterations, lr=lr_value, lr_schedule=lr_schedule, lr_end=lr_end, objective=objective,
        objective_weight=objective_weight, optimizer=optimizer, momentum=momentum, blur=blur, blur_end=blur_end,
        blur_kernel=blur_kernel, tv=tv, tv_beta=tv_beta, alpha_norm=alpha_norm, alpha=alpha, pixel_l2=pixel_l2,
        clamp=clamp, init=init, normalize=normalize, resize=resize, seed=seed, stop_below_ms=stop_below_ms,
        record_every=record_every, ms_draws=ms_draws, ms_sigma=ms_sigma, chunk=chunk,
    ))
    spec = JobSpec(model=model, layer=layer, weights=weights, images=[str(p) for p in image or []], restarts=restarts,
                   device=device, dtype=dtype, out=str(out) if out else None, overwrite=overwrite, lr_auto=lr_auto,
                   init_image=str(init_image) if init_image else None)
    result, folder = run_job(spec, config, progress=not quiet, console=console)
    table = Table(title=f"{model} {layer} ({weights}) — {result.iterations} iterations, {result.seconds:.1f} s"
                  + (" [interrupted]" if result.interrupted else ""))
    for col in ("image", "m_g", "m_s", "m_g < m_s", "m_i", "PSNR dB", "SSIM"):
        table.add_column(col, justify="right")
    for row in format_table_rows(result):
        table.add_row(*row)
    console.print(table)
    console.print(f"results in [bold]{folder}[/bold]")


@app.command()
def layers(
    model: str = typer.Argument(..., help="Model name."),
    size: Optional[int] = typer.Option(None, help="Input size in pixels (default: the model's)."),
    aliases_only: bool = typer.Option(False, "--aliases", help="Only the named aliases (conv1…conv5 …)."),
) -> None:
    """List a model's addressable layers with their output shapes."""
    from invert.encoders import layer_table

    rows = layer_table(model, size)
    table = Table(title=f"{model} layers" + (f" at {size} px" if size else ""))
    for col in ("layer", "graph node", "output shape", "elements"):
        table.add_column(col)
    for r in rows:
        if aliases_only and "alias" in r:
            continue
        shape = r["shape"]
        numel = 1
        for d in shape or ():
            numel *= d
        table.add_row(str(r["name"]), str(r["node"]), "×".join(map(str, shape)) if shape else "?", f"{numel:,}" if shape else "")
    console.print(table)


@app.command()
def models() -> None:
    """List the model names `--model` accepts."""
    from invert.encoders import available_models, get_spec

    for name in available_models():
        try:
            desc = get_spec(name).description
        except InvertError:
            desc = ""
        console.print(f"{name}" + (f"  [dim]{desc}[/dim]" if desc and not desc.startswith("torchvision") else ""))


@app.command()
def presets() -> None:
    """Show the named settings presets and exactly what they set."""
    for p in PRESETS.values():
        console.print(f"[bold]{p.name}[/bold]: {p.summary}")
        if p.settings:
            console.print("  " + ", ".join(f"{k}={v}" for k, v in p.settings.items()))


@experiment_app.command("list")
def experiment_list() -> None:
    """List registered experiments."""
    from invert.experiments import list_experiments

    table = Table(title="experiments")
    table.add_column("name")
    table.add_column("what it reproduces")
    for e in list_experiments():
        table.add_row(e.name, e.summary)
    console.print(table)


@experiment_app.command("run")
def experiment_run(
    name: str = typer.Argument(..., help="Experiment name (`invert experiment list`)."),
    quick: bool = typer.Option(False, "--quick", help="Small setting: under two minutes on two CPU cores."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default results/NAME)."),
    seed: int = typer.Option(0, help="Seed."),
    device: str = typer.Option("auto", help="auto | cpu | cuda."),
    overwrite: bool = typer.Option(False, help="Replace an existing results folder."),
) -> None:
    """Run one experiment; writes figures, data, config.json and summary.md."""
    from invert.experiments import run_experiment
    from invert.io import resolve_device

    verdict, folder = run_experiment(name, quick=quick, out=out, seed=seed, device=resolve_device(device), overwrite=overwrite)
    console.print(f"[bold]{name}[/bold]: {verdict.measured}")
    colour = {True: "green", False: "red", None: "yellow"}[verdict.held]
    console.print(f"claim [{colour}]{verdict.outcome}[/{colour}] — {folder}/summary.md")


def _register_extensions() -> None:
    """Attach command groups defined in ``invert.commands`` (training, decoders, comparison)."""
    import importlib
    import pkgutil

    import invert.commands as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        m = importlib.import_module(f"invert.commands.{mod.name}")
        if hasattr(m, "register"):
            m.register(app)


_register_extensions()


def main() -> None:
    """Console-script entry point: run the app, turning InvertError into a one-line error."""
    try:
        app()
    except InvertError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
