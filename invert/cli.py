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
from invert.commands.run import run
from invert.errors import Interrupted, InvertError
from invert.inversion.config import PRESETS
from invert.sweep.executors import EXECUTORS

console = Console()
err_console = Console(stderr=True)


#: Commands defined in ``invert.commands`` modules, imported only when used: name → ("module:object", help).
#: ``object`` is a command function or a ``typer.Typer`` group; the help is what ``invert --help`` lists before
#: importing it (tests/test_cli_options.py checks both against the real modules, so the table cannot drift).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": (
        "invert.commands.run:run",
        "Invert a layer's representation of the target image(s) and measure what comes back.",
    ),
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

if TYPE_CHECKING:  # a str Enum built from the registry at run time: to the type checker its members are str
    Executor: TypeAlias = str
else:
    Executor = options.choices("Executor", EXECUTORS, noun="executor")

app.command("run")(run)  # its options are made from InversionConfig's fields (invert.commands.run)


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
        "local",
        help="Where independent inversions run (architectures, depth, depth-trained, gd-decay, lr-by-depth, "
        "noise-trained, noise-blur, nonuniqueness, trained-nonuniqueness): local | ray.",
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
