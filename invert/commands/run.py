"""`invert run`: the main job from the command line, its options made from the settings' fields.

The job's own options (model, layer, weights, images, restarts, output …) are declared here; every inversion
setting is an option made from its :class:`~invert.inversion.config.InversionConfig` field (:func:`config_option`):
its type, choices, parser and one-line doc come from the field, its default is read from the dataclass, and each
defaults to ``None`` so a preset's value falls through. The command parses and calls :func:`invert.job.run`.
"""

from __future__ import annotations

import inspect
from dataclasses import Field
from pathlib import Path
from typing import Any, List, Optional

import typer

from invert.commands import options
from invert.inversion.config import PRESETS, InversionConfig, cli_fields

_D = InversionConfig()  # the defaults every option falls back to (presets change some)
_TYPES = {"int": int, "float": float, "bool": bool, "str": str}
_PARSERS = {"finite": options.finite, "positive": options.positive, "non_negative": options.non_negative}
#: Choice types' names (``--help`` and the refusal say ``unknown optimizer 'rmsprop'``), by field.
_CHOICE_NAMES = {
    "objective": "Objective",
    "optimizer": "Optimizer",
    "lr_schedule": "ScheduleKind",
    "init": "Init",
    "resize": "Resize",
    "tv_scale": "TvScale",
}
PRESET_HELP = "Settings preset (`invert presets`): " + "; ".join(
    options.escape(f"[{p.name}] {p.summary}") for p in PRESETS.values()
)


def help_text(f: Field[Any]) -> str:
    """A setting's help: its one-line doc, then its default — read from the dataclass, or what the run chooses."""
    meta = f.metadata
    if "chosen" in meta:
        default = f" (default: {meta['chosen']})"
    else:
        note = f"; {meta['note']}" if "note" in meta else ""
        default = f" (default {options.default_of(_D, f.name)}{note})"
    return meta["help"] + default + "."


def option_type(f: Field[Any]) -> Any:
    """The option's Python type: a choice Enum, ``str`` for a setting that also takes a word (``lr auto``), or the
    field's own type; every setting is optional (unset: the preset's or the default's value)."""
    meta = f.metadata
    if "choices" in meta:
        kind: Any = options.choices(_CHOICE_NAMES.get(f.name, f.name.title()), meta["choices"])
    elif "text" in meta:
        kind = str
    else:
        kind = _TYPES[str(f.type).split("|")[0].strip()]
    return Optional[kind]


def config_option(f: Field[Any]) -> Any:
    """The ``typer.Option`` of setting ``f``: ``--name`` (or the field's ``flag``; ``--name/--no-name`` for a
    switch), its parser or range, and its help."""
    meta = f.metadata
    flag = meta.get("flag", "--" + f.name.replace("_", "-"))
    decls = [f"{flag}/--no-{flag[2:]}"] if str(f.type).startswith("bool") else [flag]
    extra = {k: meta[k] for k in ("min", "max") if k in meta}
    if "parser" in meta:
        extra["parser"] = _PARSERS[meta["parser"]]
    return typer.Option(None, *decls, help=help_text(f), **extra)


def _param(name: str, default: Any, annotation: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _job_parameters() -> list[inspect.Parameter]:
    """The job's options before the settings: what to invert, how often, from which start."""
    from invert.job_spec import JobSpec  # no torch: `invert run --help` reads the defaults

    return [
        _param(
            "model",
            typer.Option(
                JobSpec.model,
                help="Model name: any torchvision classifier, cifar_resnet20/32/56/18, mlp specs (`invert models`).",
            ),
            str,
        ),
        _param(
            "layer",
            typer.Option(
                JobSpec.layer,
                help="Layer: alias (conv1…conv5, avgpool, fc) or graph node name (`invert layers MODEL`).",
            ),
            str,
        ),
        _param(
            "weights",
            typer.Option(
                JobSpec.weights, help="untrained (seeded default init) | imagenet/trained | path to a state-dict file."
            ),
            str,
        ),
        _param(
            "image",
            options.path_list("Target image (repeatable). Default: the embedded photograph."),
            Optional[List[Path]],
        ),
        _param("preset", typer.Option(None, help=PRESET_HELP), Optional[options.choices("PresetName", PRESETS)]),
        _param(
            "restarts",
            typer.Option(JobSpec.restarts, help="Independent restarts per image (different seeded starts), batched."),
            int,
        ),
        _param("init_image", typer.Option(None, help="Start from this image (sets --init image)."), Optional[Path]),
        _param(
            "max_pixels",
            typer.Option(
                None,
                min=1,
                help="Refuse images with more pixels than this before decoding (default: $INVERT_MAX_PIXELS or "
                "100 million).",
            ),
            Optional[int],
        ),
    ]


def _output_parameters() -> list[inspect.Parameter]:
    """Where the run goes and how it talks."""
    return [
        _param("device", options.device(), str),
        _param("dtype", options.dtype(), Any),
        _param("out", options.out("a new folder under results/runs/"), Optional[Path]),
        _param("overwrite", options.overwrite(), bool),
        _param("quiet", options.quiet(), bool),
        _param(
            "tensorboard",
            typer.Option(
                None,
                help="Also log to TensorBoard: a new run folder under this folder "
                "(scalars every iteration, images every --record-every); tensorboard --logdir DIR.",
            ),
            Optional[Path],
        ),
    ]


def signature() -> inspect.Signature:
    """`invert run`'s parameters: the job's, one per setting (:func:`config_option`), then the output's."""
    settings = [_param(f.name, config_option(f), option_type(f)) for f in cli_fields()]
    return inspect.Signature([*_job_parameters(), *settings, *_output_parameters()], return_annotation=None)


def run(**given: Any) -> None:
    """Invert a layer's representation of the target image(s) and measure what comes back."""
    from rich.console import Console

    from invert.errors import Interrupted
    from invert.job import lr_setting
    from invert.job import run as run_job
    from invert.tensorboard import check_root

    console = Console()
    given = {k: options.value(v) for k, v in given.items()}
    quiet, image = given.pop("quiet"), given.pop("image")
    lr_setting(given["lr"])  # a wrong --lr is refused first
    check_root(given["tensorboard"])
    if not quiet:
        say_preset_setup(given["preset"], given)
    result, folder = run_job(
        images=options.paths(image), progress=not quiet, console=None if quiet else console, **given
    )
    print_summary(console, given, result, folder)
    if result.interrupted:
        raise Interrupted(
            f"interrupted after {result.iterations} iterations — partial results in {folder} (status: interrupted)"
        )


run.__signature__ = signature()  # type: ignore[attr-defined]
run.__annotations__ = {p.name: p.annotation for p in run.__signature__.parameters.values()}  # type: ignore[attr-defined]


def print_summary(console: Any, given: dict[str, Any], result: Any, folder: Path) -> None:
    """The end-of-run table (one row per target, best restart) and where the files are."""
    from rich.table import Table

    from invert.job import format_table_rows

    table = Table(
        title=options.escape(
            f"{given['model']} {given['layer']} ({given['weights']}) — {result.iterations} iterations, "
            f"{result.seconds:.1f} s" + (" [interrupted]" if result.interrupted else "")
        )
    )
    for col in ("image", "m_g", "m_s", "m_g < m_s", "m_i", "PSNR dB", "SSIM"):
        table.add_column(col, justify="right")
    for row in format_table_rows(result):
        table.add_row(*row)
    console.print(table)
    console.print(f"results in [bold]{options.escape(str(folder))}[/bold]")


#: Preset settings that change what is inverted (other untrained weights, another input), not how.
SETUP = ("seed", "size", "resize")


def say_preset_setup(preset: Optional[str], given: dict[str, Any]) -> None:
    """One line when a preset changes more than the procedure: the seed (other untrained weights), the size or the
    resizing — a comparison with another preset then compares other networks or inputs. Given options win."""
    if not preset:
        return
    changed = {k: v for k, v in PRESETS[preset].settings.items() if k in SETUP and given.get(k) is None}
    if changed:
        from rich.console import Console

        Console(stderr=True).print(
            f"note: preset {preset} also sets {', '.join(f'{k}={v}' for k, v in changed.items())} (beyond the "
            f"procedure: other weights or inputs than another preset's) — "
            f"{' / '.join('--' + k for k in changed)} override it",
            highlight=False,
            soft_wrap=True,
        )
