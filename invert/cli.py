"""The `invert` command line: a thin layer over the Python API.

Every user-facing problem is an :class:`~invert.errors.InvertError`, printed as one line with
no traceback; the exit status says what kind (2 bad input or usage, 1 a run that failed,
130 Ctrl-C or SIGTERM after the partial results are written). Usage errors from the parser
(a typo in a choice, a number out of range) are printed as one line too.

Command groups in ``invert.commands`` are imported only when used, so ``invert --help`` does
not pay for torchvision, scipy or matplotlib.
"""

from __future__ import annotations

import importlib
import signal
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional, TypeAlias

import typer

try:  # the click typer runs on: typer ≥ 0.24 vendors its own copy, older typer uses the click package
    import typer._click as click
except ImportError:  # pragma: no cover
    import click  # type: ignore[no-redef]
from rich.console import Console
from rich.table import Table
from typer.core import TyperCommand, TyperGroup

from invert import __version__
from invert.commands import options
from invert.errors import Interrupted, InvertError
from invert.inversion.config import INITS, OPTIMIZERS, PRESETS, TV_SCALES, InversionConfig
from invert.inversion.schedules import SCHEDULE_KINDS
from invert.sweep.executors import EXECUTORS

console = Console()
err_console = Console(stderr=True)


#: Commands defined in ``invert.commands`` modules, imported only when used: name → ("module:object", help).
#: ``object`` is a command function or a ``typer.Typer`` group; the help is what ``invert --help`` lists before
#: importing it (tests/test_cli_options.py checks both against the real modules, so the table cannot drift).
COMMANDS: dict[str, tuple[str, str]] = {
    "attack": (
        "invert.commands.methods:attack",
        "Adversarial examples: the smallest L∞ change (FGSM or PGD) that flips the classifier.",
    ),
    "attribute": (
        "invert.commands.methods:attribute",
        "Where is the evidence? CAM / Grad-CAM heatmaps, or deconvnet / guided-backprop projections.",
    ),
    "compare": (
        "invert.commands.decoder:compare",
        "Decoder vs optimisation vs hybrid (optimisation from the decoder's output) on the same images and layers.",
    ),
    "decoder": (
        "invert.commands.decoder:decoder_app",
        "Learned decoders that map a layer's activation back to the image: `train`, `eval`.",
    ),
    "profile": (
        "invert.commands.profile:profile",
        "Profile what every layer knows: invert each layer of the model(s) and plot PSNR and m_i against depth.",
    ),
    "sweep": (
        "invert.commands.sweep:sweep",
        "Run a grid of inversions (models × layers × images × weights × presets × seeds), resumably, and tabulate "
        "them.",
    ),
    "train": (
        "invert.commands.train:train_app",
        "Train models: `noise` (memorise labelled noise), `classifier` (CIFAR-10).",
    ),
    "visualize": (
        "invert.commands.methods:visualize",
        "Activation maximisation / deep dream: ascend on the image until the layer's channel (or energy) is high.",
    ),
}


class _LazyGroup(TyperGroup):
    """The top-level group: commands from ``invert.commands`` modules are imported when run or asked for help."""

    _loaded: dict[str, click.Command] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(super().list_commands(ctx)) + sorted(n for n in COMMANDS if n not in self.commands)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands or name not in COMMANDS:
            return super().get_command(ctx, name)
        if name in _LazyGroup._loaded:
            return _LazyGroup._loaded[name]
        return TyperCommand(name, help=COMMANDS[name][1])  # for the command list: help without importing

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else None
        if name in COMMANDS and name not in self.commands:
            load_command(name)
        return super().resolve_command(ctx, args)


def command_object(name: str) -> Any:
    """The function or ``typer.Typer`` group that ``COMMANDS[name]`` names, imported."""
    module, attr = COMMANDS[name][0].split(":")
    return getattr(importlib.import_module(module), attr)


def load_command(name: str) -> click.Command:
    """Import the module that defines command ``name`` (per :data:`COMMANDS`) and return the real click command."""
    if name not in _LazyGroup._loaded:
        obj, holder = command_object(name), typer.Typer()
        if isinstance(obj, typer.Typer):
            holder.add_typer(obj, name=name)
        else:
            holder.command(name)(obj)
        _LazyGroup._loaded[name] = options.with_threads(typer.main.get_group(holder).commands[name])
    return _LazyGroup._loaded[name]


def _version(show: bool) -> None:
    if show:
        console.print(f"invert {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="invert",
    cls=_LazyGroup,
    help="Invert vision-model representations: what does this layer still know about its input?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Invert vision-model representations: what does this layer still know about its input?"""


experiment_app = typer.Typer(
    help="Reproduce the report's experiments: `list`, `show NAME`, `run NAME [--quick]`, `report`.",
    no_args_is_help=True,
)
app.add_typer(experiment_app, name="experiment")

_D = InversionConfig()  # the defaults every `invert run` option falls back to (presets change some)
if TYPE_CHECKING:  # str Enums built from the registries at run time: to the type checker their members are str
    Objective: TypeAlias = str
    Optimizer: TypeAlias = str
    ScheduleKind: TypeAlias = str
    Init: TypeAlias = str
    PresetName: TypeAlias = str
    Resize: TypeAlias = str
    TvScale: TypeAlias = str
    Executor: TypeAlias = str
else:
    Objective = options.choices("Objective", __import__("invert.objectives", fromlist=["OBJECTIVES"]).OBJECTIVES)
    Optimizer = options.choices("Optimizer", OPTIMIZERS)
    ScheduleKind = options.choices("ScheduleKind", SCHEDULE_KINDS)
    Init = options.choices("Init", INITS)
    PresetName = options.choices("PresetName", PRESETS)
    Resize = options.choices("Resize", ("crop", "stretch"))
    TvScale = options.choices("TvScale", TV_SCALES)
    Executor = options.choices("Executor", EXECUTORS, noun="executor")
_PRESET_HELP = "Settings preset (`invert presets`): " + "; ".join(
    options.escape(f"[{p.name}] {p.summary}") for p in PRESETS.values()
)


def _d(name: str, extra: str = "") -> str:
    """' (default X)' for InversionConfig field ``name``: help text reads the default, never copies it."""
    return f" (default {options.default_of(_D, name)}{extra})"


def _lr_value(value: Optional[str]) -> tuple[Optional[float], bool]:
    if value is None:
        return None, False
    if value == "auto":
        return None, True
    try:
        lr = float(value)
    except ValueError:
        raise InvertError(f"--lr must be a number or 'auto' (got {value!r})") from None
    if not (lr > 0 and lr != float("inf")):
        raise InvertError(f"learning rate must be positive and finite (got {value}) — try 0.1, or --lr auto")
    return lr, False


@app.command()
def run(
    model: str = typer.Option(
        "resnet50", help="Model name: any torchvision classifier, cifar_resnet20/32/56/18, mlp specs (`invert models`)."
    ),
    layer: str = typer.Option(
        "conv4", help="Layer: alias (conv1…conv5, avgpool, fc) or graph node name (`invert layers MODEL`)."
    ),
    weights: str = typer.Option(
        "untrained", help="untrained (seeded default init) | imagenet/trained | path to a state-dict file."
    ),
    image: Optional[List[Path]] = options.path_list("Target image (repeatable). Default: the embedded photograph."),
    size: Optional[int] = options.size(
        None,
        "Pixels of the square input (default: the model's own — 32 for CIFAR ResNets, 224 for "
        "ImageNet models, timm's pretrained config; the badger preset sets 299)",
    ),
    iterations: Optional[int] = typer.Option(None, help="Gradient steps" + _d("iterations") + "."),
    lr: Optional[str] = typer.Option(
        None,
        help="Learning rate, or 'auto' for the appendix's random line search (default: by image size, blur σ/5 — "
        "0.2 at 224 px, 0.1 at ≤ 112 px; 0.05 with another objective or optimiser than l1 + adam).",
    ),
    lr_schedule: Optional[ScheduleKind] = typer.Option(
        None, "--schedule", help="Learning-rate schedule" + _d("lr_schedule") + "."
    ),
    lr_end: Optional[float] = typer.Option(
        None, parser=options.non_negative, help="Final learning rate for linear/cosine schedules" + _d("lr_end") + "."
    ),
    objective: Optional[Objective] = typer.Option(
        None, help="Embedding objective (gram: match channel co-activations, style)" + _d("objective") + "."
    ),
    objective_weight: Optional[float] = typer.Option(
        None,
        parser=options.non_negative,
        help="Weight on the objective" + _d("objective_weight", "; badger 0.15") + ".",
    ),
    l2_weight: Optional[float] = typer.Option(
        None,
        parser=options.non_negative,
        help="Weight c of c·√n·‖O(x) − O(a)‖₂ added to the objective (n outputs per image: the L2 gap in L1's units; "
        "default 4 with l1 + adam, else 0; 0 = off).",
    ),
    optimizer: Optional[Optimizer] = typer.Option(
        None,
        help="Update rule: gd = eq. 4, sgd with momentum, adam, lbfgs, normalized (η∇/mean|∇|)" + _d("optimizer") + ".",
    ),
    momentum: Optional[float] = typer.Option(
        None, parser=options.finite, help="Momentum for sgd" + _d("momentum") + "."
    ),
    blur: Optional[float] = typer.Option(
        None,
        parser=options.non_negative,
        help="Gaussian blur σ after each step (eq. 5); 0 = off (default: image size/224 px within [0.5, 1], "
        "annealed to 0; off with another objective or optimiser than l1 + adam).",
    ),
    blur_end: Optional[float] = typer.Option(
        None,
        parser=options.non_negative,
        help="Final blur σ (linear from --blur; default: --blur, or 0 with the size-chosen blur).",
    ),
    blur_kernel: Optional[int] = typer.Option(None, help="Blur kernel size, odd" + _d("blur_kernel") + "."),
    smooth: Optional[float] = typer.Option(
        None,
        parser=options.non_negative,
        help="σ (px) of the Gaussian each update is smoothed by (and scaled back by 1 + 3σ²/8), faded linearly to 0 "
        "over --smooth-over iterations; 0 = off (default: by the layer's stride, 0 where outputs are ≤ 2 px apart, "
        "2 × the size rule's blur σ (2 px at 224 px) where ≥ 4 px, off for images ≤ 112 px; off with another "
        "objective or optimiser than l1 + adam).",
    ),
    smooth_over: Optional[int] = typer.Option(
        None,
        min=0,
        help="Iterations over which the update smoothing fades to 0 (0 = the whole run)" + _d("smooth_over") + ".",
    ),
    average: Optional[float] = typer.Option(
        None,
        min=0.0,
        max=0.999,
        help="β of the running average x̄ ← β x̄ + (1 − β) x of the iterates that a --stop-below-ms run also watches "
        "(one more forward pass per iteration), stopping each image at the first of the two below m_s; 0 = the "
        "iterate alone (default 0.6 with l1 + adam, else 0).",
    ),
    tv: Optional[float] = typer.Option(
        None,
        parser=options.non_negative,
        help="Weight of the total-variation prior TV^β (default 0.03 in --tv-scale target units with l1 + adam; "
        "else 0).",
    ),
    tv_end: Optional[float] = typer.Option(
        None,
        parser=options.non_negative,
        help="Final TV weight, linear from --tv over the run (default: --tv, or 0 with the default's TV).",
    ),
    tv_scale: Optional[TvScale] = typer.Option(
        None,
        help="How --tv is read: absolute (weight · TV(x)) or target (in units of ‖O(a)‖₁/TV(a) per target: the same "
        "pull against L1 at any layer's scale; default: target for the default's TV, absolute for --tv).",
    ),
    tv_beta: Optional[float] = typer.Option(
        None, parser=options.positive, help="β of the TV prior" + _d("tv_beta") + "."
    ),
    alpha_norm: Optional[float] = typer.Option(
        None, parser=options.non_negative, help="Weight of the α-norm prior" + _d("alpha_norm") + "."
    ),
    alpha: Optional[float] = typer.Option(
        None, parser=options.finite, help="α of the α-norm prior" + _d("alpha") + "."
    ),
    pixel_l2: Optional[float] = typer.Option(
        None, parser=options.non_negative, help="Weight of the pixel L2 prior" + _d("pixel_l2") + "."
    ),
    clamp: Optional[bool] = typer.Option(
        None, "--clamp/--no-clamp", help="Clamp pixels to [0,1] after each step" + _d("clamp") + "."
    ),
    init: Optional[Init] = typer.Option(None, help="Initial input" + _d("init") + "."),
    init_mean: Optional[float] = typer.Option(
        None, parser=options.finite, help="Mean of a normal start, the value of a constant one" + _d("init_mean") + "."
    ),
    init_std: Optional[float] = typer.Option(
        None, parser=options.non_negative, help="Standard deviation of a normal start" + _d("init_std") + "."
    ),
    init_image: Optional[Path] = typer.Option(None, help="Start from this image (sets --init image)."),
    max_pixels: Optional[int] = typer.Option(
        None,
        min=1,
        help="Refuse images with more pixels than this before decoding (default: $INVERT_MAX_PIXELS or 100 million).",
    ),
    normalize: Optional[bool] = typer.Option(
        None,
        "--normalize/--no-normalize",
        help="Normalise inputs with the model's mean/std (default: only for trained weights).",
    ),
    resize: Optional[Resize] = typer.Option(
        None, help="Fit images to the square: crop keeps the aspect, stretch does not" + _d("resize") + "."
    ),
    restarts: int = typer.Option(1, help="Independent restarts per image (different seeded starts), batched."),
    seed: Optional[int] = typer.Option(
        None,
        min=0,
        max=options.SEED_MAX,
        help="Seed for the untrained weights, starts and m_s noise" + _d("seed") + ".",
    ),
    preset: Optional[PresetName] = typer.Option(None, help=_PRESET_HELP),
    stop_below_ms: Optional[bool] = typer.Option(
        None, "--stop-below-ms/--no-stop-below-ms", help="Stop once every m_g < m_s" + _d("stop_below_ms") + "."
    ),
    record_every: Optional[int] = typer.Option(
        None, help="Record metrics every k iterations" + _d("record_every") + "."
    ),
    ms_draws: Optional[int] = typer.Option(None, help="Noise draws averaged for m_s" + _d("ms_draws") + "."),
    ms_sigma: Optional[float] = typer.Option(
        None,
        parser=options.positive,
        help="σ of the m_s shift (report text 1/20, its code 1/18)" + _d("ms_sigma") + ".",
    ),
    chunk: Optional[int] = typer.Option(
        None,
        help="Images per forward/backward pass (0 = automatic: whole batch on a GPU, cache-sized on the CPU)"
        + _d("chunk")
        + ".",
    ),
    device: str = options.device(),
    dtype: Any = options.dtype(),
    out: Optional[Path] = options.out("a new folder under results/runs/"),
    overwrite: bool = options.overwrite(),
    quiet: bool = options.quiet(),
    tensorboard: Optional[Path] = typer.Option(
        None,
        help="Also log to TensorBoard: a new run folder under this folder "
        "(scalars every iteration, images every --record-every); tensorboard --logdir DIR.",
    ),
) -> None:
    """Invert a layer's representation of the target image(s) and measure what comes back."""
    from invert.encoders.registry import default_size
    from invert.job import JobSpec, format_table_rows, resolve_config, run_job
    from invert.tensorboard import check_root

    lr_value, lr_auto = _lr_value(lr)
    check_root(tensorboard)
    if not quiet:
        _say_preset_setup(options.value(preset), {"seed": seed, "size": size, "resize": options.value(resize)})
    v = options.value
    if size is None and "size" not in PRESETS[v(preset) or "default"].settings:
        size = default_size(model)  # the model's own input size unless a preset fixes one
    config = resolve_config(
        v(preset),
        dict(
            size=size,
            iterations=iterations,
            lr=lr_value,
            lr_schedule=v(lr_schedule),
            lr_end=lr_end,
            objective=v(objective),
            objective_weight=objective_weight,
            l2_weight=l2_weight,
            optimizer=v(optimizer),
            momentum=momentum,
            blur=blur,
            blur_end=blur_end,
            blur_kernel=blur_kernel,
            smooth=smooth,
            smooth_over=smooth_over,
            average=average,
            tv=tv,
            tv_end=tv_end,
            tv_scale=v(tv_scale),
            tv_beta=tv_beta,
            alpha_norm=alpha_norm,
            alpha=alpha,
            pixel_l2=pixel_l2,
            clamp=clamp,
            init=v(init),
            init_mean=init_mean,
            init_std=init_std,
            normalize=normalize,
            resize=v(resize),
            seed=seed,
            stop_below_ms=stop_below_ms,
            record_every=record_every,
            ms_draws=ms_draws,
            ms_sigma=ms_sigma,
            chunk=chunk,
        ),
    )
    spec = JobSpec(
        model=model,
        layer=layer,
        weights=weights,
        images=options.paths(image),
        restarts=restarts,
        device=device,
        dtype=v(dtype),
        out=str(out) if out else None,
        overwrite=overwrite,
        lr_auto=lr_auto,
        init_image=str(init_image) if init_image else None,
        tensorboard=str(tensorboard) if tensorboard else None,
        max_pixels=max_pixels,
    )
    result, folder = run_job(spec, config, progress=not quiet, console=None if quiet else console)
    from invert.health import record_warnings, run_warnings

    record_warnings(folder, run_warnings(result))
    table = Table(
        title=options.escape(
            f"{model} {layer} ({weights}) — {result.iterations} iterations, {result.seconds:.1f} s"
            + (" [interrupted]" if result.interrupted else "")
        )
    )
    for col in ("image", "m_g", "m_s", "m_g < m_s", "m_i", "PSNR dB", "SSIM"):
        table.add_column(col, justify="right")
    for row in format_table_rows(result):
        table.add_row(*row)
    console.print(table)
    console.print(f"results in [bold]{options.escape(str(folder))}[/bold]")
    if result.interrupted:
        raise Interrupted(
            f"interrupted after {result.iterations} iterations — partial results in {folder} (status: interrupted)"
        )


#: Preset settings that change what is inverted (other untrained weights, another input), not how.
_SETUP = ("seed", "size", "resize")


def _say_preset_setup(preset: Optional[str], given: dict[str, Any]) -> None:
    """One line when a preset changes more than the procedure: the seed (other untrained weights), the size or the
    resizing — a comparison with another preset then compares other networks or inputs. Given options win."""
    if not preset:
        return
    changed = {k: v for k, v in PRESETS[preset].settings.items() if k in _SETUP and given.get(k) is None}
    if changed:
        err_console.print(
            f"note: preset {preset} also sets {', '.join(f'{k}={v}' for k, v in changed.items())} (beyond the "
            f"procedure: other weights or inputs than another preset's) — "
            f"{' / '.join('--' + k for k in changed)} override it",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def layers(
    model: str = typer.Argument(..., help="Model name."),
    size: Optional[int] = typer.Option(None, help="Input size in pixels (default: the model's)."),
    aliases_only: bool = typer.Option(False, "--aliases", help="Only the named aliases (conv1…conv5 …)."),
    as_json: bool = typer.Option(
        False, "--json", help="One JSON document (input shape, and per layer: name, node, shape, elements, alias)."
    ),
    quiet: bool = options.quiet(),
) -> None:
    """List a model's addressable layers with their output shapes (tab-separated rows when piped)."""
    from invert.listing import print_layers

    if size is not None and size < 8:
        raise InvertError(f"--size {size} is too small: use at least 8 pixels (or omit it for the model's own size)")
    print_layers(model, size, aliases_only=aliases_only, as_json=as_json, quiet=quiet)


@app.command()
def models(quiet: bool = options.quiet()) -> None:
    """List the model names `--model` accepts, and one row per model family (mlp-SPEC, timm:ARCH)."""
    from invert.listing import print_models

    print_models()  # only data: --quiet is accepted like everywhere, there is nothing else to leave out


@app.command()
def presets(quiet: bool = options.quiet()) -> None:
    """Show the named settings presets and exactly what they set."""
    for p in PRESETS.values():
        console.print(f"[bold]{p.name}[/bold]: {options.escape(p.summary)}")
        if p.settings:
            console.print("  " + options.escape(", ".join(f"{k}={v}" for k, v in p.settings.items())))


@experiment_app.command("list")
def experiment_list(quiet: bool = options.quiet()) -> None:
    """List registered experiments."""
    from invert.experiments import list_experiments

    table = Table(title=None if quiet else "experiments")
    table.add_column("name")
    table.add_column("what it reproduces")
    for e in list_experiments():
        table.add_row(e.name, options.escape(e.summary))
    console.print(table)


@experiment_app.command("show")
def experiment_show(
    name: str = typer.Argument(..., help="Experiment name (`invert experiment list`)."),
    quiet: bool = options.quiet(),
) -> None:
    """Print an experiment's claim, source, declared criterion and its quick and full settings (all data: --quiet
    changes nothing)."""
    from invert.experiments.report import show_text

    typer.echo(show_text(name))


@experiment_app.command("report")
def experiment_report(
    results: Path = typer.Option(Path("results"), help="The results folder: reads its verdicts, writes README.md."),
    quick_from: Optional[Path] = typer.Option(
        None, help="First copy the verdicts of quick runs in DIR/NAME/ into RESULTS/quick/NAME.json."
    ),
    quiet: bool = options.quiet(),
) -> None:
    """Write the reproduction report RESULTS/README.md (one row per claim) from the verdict files."""
    from invert.experiments.report import collect_quick, write_report

    if quick_from is not None:
        names = collect_quick(quick_from, results)
        if not quiet:
            console.print(f"quick verdicts copied: {', '.join(names) or 'none'}")
    path = write_report(results)
    if not quiet:
        console.print(f"report written — {options.escape(str(path))}")


@experiment_app.command("run")
def experiment_run(
    name: str = typer.Argument(..., help="Experiment name (`invert experiment list`)."),
    quick: bool = options.quick("the experiment's small setting: under two minutes on two CPU cores"),
    out: Optional[Path] = options.out("results/NAME"),
    seed: int = options.seed(0, "everything the experiment draws"),
    device: str = options.device(),
    overwrite: bool = options.overwrite(),
    quiet: bool = options.quiet(),
    executor: Executor = typer.Option(
        "local", help="Where independent inversions run (depth, architectures, noise-trained): local | ray."
    ),
    workers: Optional[int] = typer.Option(
        None, help="Parallel tasks: local default 1 (this process), ray default all at once."
    ),
    address: Optional[str] = typer.Option(
        None, help="--executor ray: join this cluster (auto or HOST:PORT) instead of a local Ray."
    ),
) -> None:
    """Run one experiment; writes figures, data, config.json and summary.md."""
    from invert.experiments import run_experiment
    from invert.io import resolve_device

    params = {
        k: v
        for k, v in {"executor": options.value(executor), "workers": workers, "address": address}.items()
        if v is not None
    }
    verdict, folder = run_experiment(
        name, quick=quick, out=out, seed=seed, device=resolve_device(device), overwrite=overwrite, params=params
    )
    if not quiet:
        console.print(f"[bold]{name}[/bold]: {options.escape(verdict.measured)}")
    colour = {True: "green", False: "red", None: "yellow"}[verdict.held]
    console.print(f"claim [{colour}]{verdict.outcome}[/{colour}] — {options.escape(str(folder))}/summary.md")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _usage_message(exc: Exception) -> str:
    """A parser error as one line; a refused choice reads ``unknown optimizer 'rmsprop': choose from gd, sgd, …``."""
    import re

    text = _one_line(exc.format_message())  # type: ignore[attr-defined]
    param = getattr(exc, "param", None)
    m = re.search(r"'([^']*)' is not one of (.*?)\.?$", text)
    if m and param is not None:
        allowed = re.findall(r"'([^']*)'", m.group(2))
        name = options.NOUNS.get(frozenset(allowed)) or (
            param.opts[0] if getattr(param, "opts", None) else param.name or ""
        ).lstrip("-")
        return f"unknown {name} {m.group(1)!r}: choose from {', '.join(allowed)}"
    return text.replace("Value error, ", "")


def main(argv: Optional[List[str]] = None) -> None:
    """Console-script entry point: run the app; errors become one line and an exit status (2 input, 1 failed,
    130 stopped).
    """
    from invert.signals import handle_signals

    previous = handle_signals()  # first: Ctrl-C or SIGTERM from here on is one line and 130, never a traceback
    try:
        code = _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:  # only in the instants before _main's own handling begins
        err_console.print("interrupted")
        code = Interrupted.exit_code
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    sys.exit(code)


def _main(args: list[str]) -> int:
    """:func:`main` with its signal handlers in place: run the app, return the exit status."""
    from invert.io import release_folder, set_command_line
    from invert.signals import ignore_signals, restore_signals

    set_command_line(["invert", *args])
    code = 0
    caught = warnings.catch_warnings()
    caught.__enter__()  # scoped to this call: warnings print as one plain line, not Python's two-line form
    warnings.showwarning = lambda message, *a, **k: err_console.print(
        f"warning: {options.escape(str(message))}", highlight=False, soft_wrap=True
    )
    try:
        rv = options.with_threads(typer.main.get_command(app)).main(
            args=args, prog_name="invert", standalone_mode=False
        )
        code = rv if isinstance(rv, int) else 0
        if code == Interrupted.exit_code:  # typer turns a KeyboardInterrupt into a silent Exit(130)
            err_console.print("interrupted")
    except click.core.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        code = 2
    except click.core.UsageError as exc:
        hint = f" — see `{exc.ctx.command_path} --help`" if exc.ctx else ""
        err_console.print(
            f"[bold red]error:[/bold red] {options.escape(_usage_message(exc))}{hint}", highlight=False, soft_wrap=True
        )
        code = exc.exit_code
    except click.ClickException as exc:
        err_console.print(
            f"[bold red]error:[/bold red] {options.escape(_one_line(exc.format_message()))}",
            highlight=False,
            soft_wrap=True,
        )
        code = exc.exit_code
    except InvertError as exc:
        err_console.print(f"[bold red]error:[/bold red] {options.escape(str(exc))}", highlight=False, soft_wrap=True)
        code = exc.exit_code
    except (click.core.Abort, KeyboardInterrupt):
        err_console.print("interrupted")
        code = Interrupted.exit_code
    finally:
        ignored = ignore_signals()  # a second Ctrl-C while the folder is released must not cut that short
        release_folder()
        caught.__exit__(None, None, None)
        restore_signals(ignored)
    return code


if __name__ == "__main__":
    main()
