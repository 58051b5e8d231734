"""Options shared by every command: one definition of each common flag, choices typed from the registries.

Each factory returns a fresh ``typer.Option`` so commands declare ``device: str = options.device()``.
Choices (:func:`choices`) are Enums built from the registries, so ``--help`` lists them and the
parser refuses a typo; :func:`value` turns a chosen member back into its string. Numbers go
through :func:`finite` / :func:`positive` / :func:`fraction`, so ``inf``, ``nan`` and impossible
values are refused by the parser with one line. :func:`default_of` reads a default from the
settings dataclass that owns it, so help text never copies a number.
"""

from __future__ import annotations

import math
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

import typer
from rich.markup import escape

if TYPE_CHECKING:
    import click

__all__ = [
    "choices",
    "default_of",
    "device",
    "dtype",
    "escape",
    "finite",
    "fraction",
    "overwrite",
    "out",
    "positive",
    "quiet",
    "quick",
    "seed",
    "size",
    "value",
]


#: What a refused choice is called in the one-line error ("unknown attack method 'cw'"), by its set of values.
NOUNS: dict[frozenset[str], str] = {}


def choices(name: str, values: Iterable[str], noun: str | None = None) -> type[Enum]:
    """A string Enum of ``values`` (from a registry), for a typer option that lists and checks them.

    ``noun`` names the choice in the error for a value not among them (default: the option's name).
    """
    values = list(values)
    if noun:
        NOUNS[frozenset(values)] = noun
    return Enum(name, {v: v for v in values}, type=str)  # type: ignore[return-value]


def value(member: Any) -> Any:
    """The plain value of a chosen Enum member (``None`` and plain values pass through)."""
    return member.value if isinstance(member, Enum) else member


def default_of(settings: Any, name: str) -> str:
    """The default of field ``name`` of a settings dataclass instance, formatted for help text."""
    v = getattr(settings, name)
    if isinstance(v, float):
        return f"{v:g}"
    return "none" if v is None else str(v)


def _number_parser(check: Callable[[float], bool], what: str, integer: bool = False) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            v = int(text) if integer else float(text)
        except (TypeError, ValueError):
            raise typer.BadParameter(f"{text!r} is not a number") from None
        if not check(v):
            raise typer.BadParameter(f"{text} is not {what}")
        return v

    return parse


def finite(text: str) -> float:
    """Parser: any finite number (refuses inf and nan)."""
    return _number_parser(math.isfinite, "a finite number")(text)


def positive(text: str) -> float:
    """Parser: a finite number > 0."""
    return _number_parser(lambda v: math.isfinite(v) and v > 0, "a finite number > 0")(text)


def non_negative(text: str) -> float:
    """Parser: a finite number ≥ 0."""
    return _number_parser(lambda v: math.isfinite(v) and v >= 0, "a finite number ≥ 0")(text)


def fraction(text: str) -> float:
    """Parser: a number in (0, 1] (pixel budgets such as an attack's ε, pixels being in [0, 1])."""
    return _number_parser(lambda v: math.isfinite(v) and 0 < v <= 1, "in (0, 1] (pixels are in [0, 1])")(text)


def device() -> Any:
    """``--device``: auto (CUDA when available), cpu, cuda or cuda:N."""
    return typer.Option("auto", help="auto (CUDA when available) | cpu | cuda | cuda:N.")


def dtype() -> Any:
    """``--dtype``: float32 or float64."""
    return typer.Option(
        choices("DType", ("float32", "float64"))("float32"), help="Floating-point precision of model and images."
    )


def out(where: str) -> Any:
    """``--out``: the result folder; ``where`` says what the default is."""
    return typer.Option(None, help=f"Output folder (default: {where}). Refused if another run is writing it.")


def overwrite() -> Any:
    """``--overwrite``: clear an earlier run's results from ``--out`` and write anew."""
    return typer.Option(
        False,
        "--overwrite",
        help="Replace the results in an existing --out folder (an earlier run's files are removed first).",
    )


def quiet() -> Any:
    """``--quiet``: no progress bars."""
    return typer.Option(
        False, "--quiet", "-q", help="No progress bars or other chatter; errors and the final summary only."
    )


def quick(what: str) -> Any:
    """``--quick``: the small setting; ``what`` says what it sets (explicit options win over it)."""
    return typer.Option(False, "--quick", help=f"Small setting ({what}); options given explicitly win over it.")


#: Seeds every generator takes (torch's are 64-bit): 0 … 2⁶³ − 1.
SEED_MAX = 2**63 - 1


def seed(default: Optional[int], what: str) -> Any:
    """``--seed`` with the command's default and what it seeds, in 0 … :data:`SEED_MAX`."""
    return typer.Option(default, min=0, max=SEED_MAX, help=f"Seed of {what}.")


def size(default: Optional[int], what: str = "Side of the square input in pixels") -> Any:
    """``--size`` (pixels, at least 8 — checked when the image is resized)."""
    return typer.Option(default, help=f"{what}.")


def path_list(help_text: str) -> Any:
    """A repeatable ``--image`` style path option."""
    return typer.Option(None, "--image", help=help_text)


def paths(items: Optional[list[Path]]) -> list[str]:
    """Repeatable path options as strings (empty when none given)."""
    return [str(p) for p in items or []]


def set_threads(ctx: click.Context, param: click.Parameter, value: Optional[int]) -> None:
    """``--threads N``: torch's intra-op threads (and OpenMP's, MKL's) for this command; without it torch's
    default, or $OMP_NUM_THREADS when set. config.json records the count used (``environment.torch_threads``)."""
    import os

    if value is None:
        return
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(value)
    if "torch" in sys.modules:  # otherwise torch reads OMP_NUM_THREADS when it starts
        sys.modules["torch"].set_num_threads(value)


def threads_option() -> click.Parameter:
    """The ``--threads`` option every command takes (built by typer, so its help renders like the others')."""
    holder = typer.Typer()

    @holder.command()
    def _(
        threads: Optional[int] = typer.Option(
            None,
            min=1,
            help="CPU threads for torch (default: $OMP_NUM_THREADS, else one per core; 1–2 on a busy machine).",
        ),
    ) -> None:
        """Placeholder."""

    option = typer.main.get_command(holder).params[0]
    option.expose_value, option.callback = False, set_threads
    return option


def with_threads(command: click.Command) -> click.Command:
    """Add ``--threads`` to ``command`` (to each command of a group, recursively); returns it."""
    if isinstance(getattr(command, "commands", None), dict):  # a group
        for sub in command.commands.values():
            with_threads(sub)
    elif not any(p.name == "threads" for p in command.params):
        command.params.append(threads_option())
    return command
