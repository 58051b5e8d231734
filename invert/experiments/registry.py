"""The experiment registry: ``@experiment`` registers a function that writes ``results/NAME/``.

An experiment function has the signature ``fn(ctx: ExperimentContext) -> Verdict``. The
context gives it the output folder, ``quick`` flag, seed, device and helpers to write figures,
tables and data atomically; the registry writes ``config.json`` (with versions, device,
timing) and ``summary.md`` (claim, measured figures, whether it held) around it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import torch

from invert.errors import Interrupted, InvertError
from invert.io import prepare_out_dir, release_folder, write_config, write_csv, write_json, write_text

HELD, NOT_REPRODUCED, INCONCLUSIVE = "HELD", "NOT REPRODUCED", "INCONCLUSIVE"
T = TypeVar("T")


@dataclass
class Verdict:
    """The source's claim, what was measured here, and whether the claim held (decided from the data).

    ``held`` is True (HELD), False (NOT REPRODUCED) or None (INCONCLUSIVE: the setup cannot test the
    claim — unconverged inversions, a stand-in model lacking the property, too few samples).
    ``criterion`` states the decision rule in words and numbers; ``parts`` splits a claim with
    separately judged halves (e.g. a direction and a magnitude), each a Verdict of its own.
    """

    claim: str
    measured: str
    held: bool | None
    details: dict[str, Any] = field(default_factory=dict)
    criterion: str = ""
    parts: list[Verdict] = field(default_factory=list)
    key_figure: str = ""

    @property
    def outcome(self) -> str:
        """HELD, NOT REPRODUCED or INCONCLUSIVE."""
        return INCONCLUSIVE if self.held is None else HELD if self.held else NOT_REPRODUCED

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: claim, criterion, measured, outcome, held, details and the parts."""
        return {
            "claim": self.claim,
            "criterion": self.criterion,
            "measured": self.measured,
            "outcome": self.outcome,
            "held": self.held,
            "details": self.details,
            "parts": [p.to_dict() for p in self.parts],
            **({"key_figure": self.key_figure} if self.key_figure else {}),
        }


def combine(parts: Sequence[bool | None]) -> bool | None:
    """Overall outcome of separately judged parts: NOT REPRODUCED if any failed,
    else INCONCLUSIVE if any could not decide.
    """
    if any(p is False for p in parts):
        return False
    if any(p is None for p in parts):
        return None
    return True


def joint_verdict(
    claim: str, setup: str, parts: Sequence[Verdict], criterion: str = "", details: dict[str, Any] | None = None
) -> Verdict:
    """A claim judged in parts that must all hold: ``measured`` is ``setup`` then each part's figures as (a), (b), ….

    The outcome is :func:`combine` of the parts'; ``criterion`` adds what the parts share to the rule.
    """
    measured = " ".join([setup, *(f"({chr(ord('a') + i)}) {p.measured}." for i, p in enumerate(parts))])
    rule = "both parts" if len(parts) == 2 else "every part"
    rule += " must hold (NOT REPRODUCED if either fails, INCONCLUSIVE if either cannot be decided)"
    return Verdict(
        claim=claim,
        measured=measured,
        held=combine([p.held for p in parts]),
        parts=list(parts),
        criterion=rule + (f"; {criterion}" if criterion else ""),
        details=dict(details or {}),
    )


@dataclass
class ExperimentContext:
    """What an experiment needs: where to write, how big to run, and reproducibility settings."""

    name: str
    out: Path
    quick: bool
    seed: int = 0
    device: torch.device = torch.device("cpu")
    params: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def settings(self, full: T, quick: T | Mapping[str, Any]) -> T:
        """This run's settings by the rule every command follows (:func:`invert.settings.choose`).

        ``full`` (the source's setting: a dataclass or a dict), or ``quick`` over it with ``--quick``; then
        every entry of :attr:`params` that names a setting wins over both (a list given for a tuple field
        becomes a tuple), so an explicit value is never replaced by the quick one.
        """
        from invert.settings import choose

        current = {f.name: getattr(full, f.name) for f in fields(full)} if is_dataclass(full) else dict(full)  # type: ignore[call-overload]
        given = {
            k: tuple(v) if isinstance(current[k], tuple) and isinstance(v, list) else v
            for k, v in self.params.items()
            if k in current
        }
        return choose(full, quick, self.quick, given, f"{self.name} experiment")

    def path(self, name: str) -> Path:
        self.files.append(name)
        return self.out / name

    def save_figure(self, fig: Any, name: str) -> Path:
        """Save a matplotlib figure atomically as PNG (:func:`invert.io.save_figure`)."""
        from invert.io import save_figure

        return save_figure(fig, self.path(name))

    def save_csv(self, rows: list[dict[str, Any]], name: str) -> Path:
        return write_csv(self.path(name), rows)

    def save_json(self, data: Any, name: str) -> Path:
        return write_json(self.path(name), data)


@dataclass(frozen=True)
class Criterion:
    """An experiment's decision rule, declared at its registration before any run and shown by
    `invert experiment show NAME`; the full runs are judged by it, and it changes only with a CHANGELOG entry.

    ``measure``: what is measured, and by what (a measure the method did not optimise); ``rule``: when the claim is
    HELD and when NOT REPRODUCED; ``thresholds``: the numbers the rule uses (the experiment's code reads them from
    here); ``min_samples``: the fewest converged samples (or pairs, seeds, saturated decoders) a verdict needs;
    ``inconclusive``: what makes the verdict INCONCLUSIVE (too few samples, no significant difference, a regime
    the claim does not address), each with its reason in the summary.
    """

    claim: str
    measure: str
    rule: str
    inconclusive: str
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    min_samples: int = 0

    def __getitem__(self, key: str) -> Any:
        return self.thresholds[key]

    def lines(self) -> list[str]:
        """The criterion as text lines: measure, rule, thresholds, minimum samples, INCONCLUSIVE when."""
        out = [f"measure: {self.measure}", f"rule: {self.rule}"]
        if self.thresholds:
            out.append(
                "thresholds: "
                + ", ".join(
                    f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in self.thresholds.items()
                )
            )
        if self.min_samples:
            out.append(f"minimum converged samples: {self.min_samples}")
        out.append(f"INCONCLUSIVE when: {self.inconclusive}")
        return out


@dataclass(frozen=True)
class Experiment:
    name: str
    summary: str
    fn: Callable[[ExperimentContext], Verdict]
    issue_source: str = ""
    criterion: Criterion | None = None
    full: Any = None
    quick: Any = None
    minutes: float | None = None

    def settings(self, quick: bool) -> Any:
        """The declared full settings, or the quick ones over them (what ``--quick`` runs with no other option)."""
        from invert.settings import choose

        return choose(self.full, self.quick if self.quick is not None else {}, quick, {}, f"{self.name} experiment")


EXPERIMENTS: dict[str, Experiment] = {}


def experiment(
    name: str,
    summary: str,
    source: str = "",
    *,
    criterion: Criterion | None = None,
    full: Any = None,
    quick: Any = None,
    minutes: float | None = None,
) -> Callable[[Callable[[ExperimentContext], Verdict]], Callable[[ExperimentContext], Verdict]]:
    """Decorator registering an experiment under ``name`` with a one-line ``summary``, its declared
    :class:`Criterion`, its ``full`` and ``quick`` settings (as the experiment passes them to
    :meth:`ExperimentContext.settings`) and ``minutes``, the full setting's wall time on a 2-core CPU including
    the helper models it trains (cached and shared): measured where the full run is published, else estimated from
    timed parts — what a user plans by before starting it.
    """

    def wrap(fn: Callable[[ExperimentContext], Verdict]) -> Callable[[ExperimentContext], Verdict]:
        EXPERIMENTS[name] = Experiment(name, summary, fn, source, criterion, full, quick, minutes)
        return fn

    return wrap


def get_experiment(name: str) -> Experiment:
    _load_all()
    if name not in EXPERIMENTS:
        raise InvertError(
            f"unknown experiment {name!r}: choose from {', '.join(sorted(EXPERIMENTS))} (`invert experiment list`)"
        )
    return EXPERIMENTS[name]


def list_experiments() -> list[Experiment]:
    _load_all()
    return [EXPERIMENTS[k] for k in sorted(EXPERIMENTS)]


def run_experiment(
    name: str,
    *,
    quick: bool = False,
    out: str | Path | None = None,
    results_root: str | Path = "results",
    seed: int = 0,
    device: str | torch.device = "cpu",
    overwrite: bool = False,
    params: dict[str, Any] | None = None,
) -> tuple[Verdict, Path]:
    """Run a registered experiment into ``out`` (default ``results/NAME``); returns its verdict and folder."""
    exp = get_experiment(name)
    folder = Path(out) if out is not None else Path(results_root) / name
    folder = prepare_out_dir(folder, results_root, name, overwrite)
    ctx = ExperimentContext(name, folder, quick, seed, torch.device(device), dict(params or {}))
    manifest = {"experiment": name, "quick": quick, "params": ctx.params}
    try:
        write_config(folder, "experiment run", seed=seed, device=ctx.device, status="running", **manifest)
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        try:
            verdict = exp.fn(ctx)
        except KeyboardInterrupt:
            write_config(folder, "experiment run", seed=seed, device=ctx.device, status="interrupted", **manifest)
            raise Interrupted(f"experiment {name} interrupted — {folder} holds what it wrote so far") from None
        seconds = time.perf_counter() - t0
        write_config(
            folder,
            "experiment run",
            seed=seed,
            device=ctx.device,
            status="complete",
            seconds=round(seconds, 2),
            **manifest,
        )
    finally:
        release_folder(folder)
    write_text(folder / "summary.md", render_summary(exp, verdict, ctx, seconds))
    write_json(folder / "verdict.json", verdict.to_dict())
    return verdict, folder


def render_summary(exp: Experiment, v: Verdict, ctx: ExperimentContext, seconds: float) -> str:
    lines = [
        f"# {exp.name}",
        "",
        exp.summary,
        "",
        f"**Claim** ({exp.issue_source or 'report'}): {v.claim}",
        "",
        *(
            ["**Declared criterion** (`invert experiment show " + exp.name + "`):", ""]
            + [f"- {line}" for line in exp.criterion.lines()]
            + [""]
            if exp.criterion
            else []
        ),
        *([f"**Criterion:** {v.criterion}", ""] if v.criterion else []),
        f"**Measured** ({'quick' if ctx.quick else 'full'} setting, seed {ctx.seed}, {seconds:.1f} s on {ctx.device}): "
        f"{v.measured}",
        "",
        f"**Verdict:** {v.outcome} — decided from the data in this folder.",
        "",
        *[
            line
            for p in v.parts
            for line in (
                f"- *{p.claim}* — criterion: {p.criterion or 'see above'}; measured: {p.measured}; **{p.outcome}**",
            )
        ],
        *([""] if v.parts else []),
        "Files: " + ", ".join(f"`{f}`" for f in sorted(set(ctx.files) | {"config.json", "summary.md", "verdict.json"})),
        "",
    ]
    return "\n".join(lines)


def _load_all() -> None:
    """Import every experiment module so its ``@experiment`` decorators run."""
    import importlib
    import pkgutil

    # the modules beside this one, found by folder: importing the package from here would be an import circle
    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if mod.name not in ("registry", "common", "report"):
            importlib.import_module(f"invert.experiments.{mod.name}")
