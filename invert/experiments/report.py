"""What `invert experiment show NAME` prints, and the reproduction report `invert experiment report` writes.

The report (``results/README.md``) is generated, never written by hand: one row per claim with its source,
figure, claim, quick verdict, full verdict, key figure and a link, read from the quick runs' verdicts kept in
``results/quick/NAME.json`` and the full runs' ``results/NAME/verdict.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from invert.experiments.registry import Experiment, get_experiment, list_experiments

QUICK_DIR = "quick"
REPORT = "README.md"
HEADER = (
    "| experiment | source | figure | claim | quick verdict | full verdict | key figure (quick) | link |\n"
    "|---|---|---|---|---|---|---|---|"
)
FIGURE = re.compile(r"(figs?\.? [\w–, ]+?(?=$|;|\))|eq\. \d+)")


def _settings_text(settings: Any) -> str:
    items = {f.name: getattr(settings, f.name) for f in fields(settings)} if is_dataclass(settings) else settings
    return "; ".join(f"{k} = {v}" for k, v in dict(items).items())


def show_text(name: str) -> str:
    """An experiment's claim, source, declared criterion and settings (quick and full), as plain text."""
    exp = get_experiment(name)
    c = exp.criterion
    lines = [f"{exp.name}: {exp.summary}", f"source: {exp.issue_source or 'report'}"]
    if c is not None:
        lines += [f"claim: {c.claim}", "criterion:", *(f"  {line}" for line in c.lines())]
    else:
        lines.append("criterion: none declared")
    if exp.full is not None:
        lines += [f"quick settings: {_settings_text(exp.settings(True))}", f"full settings: {_settings_text(exp.full)}"]
    if exp.minutes is not None:
        lines.append(f"full run: ~{exp.minutes:g} min on a 2-core CPU, with the models it trains (cached and shared)")
    return "\n".join(lines)


def split_source(source: str) -> tuple[str, str]:
    """``"Badger §4.3, fig. 9"`` → ``("Badger §4.3", "fig. 9")``; no figure → ``(source, "—")``."""
    m = FIGURE.search(source)
    if not m:
        return source or "—", "—"
    doc = (source[: m.start()] + source[m.end() :]).strip(" ,;")
    return doc or "—", m.group(1).strip(" ,")


def key_figure(verdict: dict[str, Any], limit: int = 160) -> str:
    """The verdict's ``key_figure``, or the start of what it measured (cut at a clause) when it has none."""
    text = verdict.get("key_figure") or verdict.get("measured", "")
    text = " ".join(str(text).split())
    if len(text) > limit:
        cut = text[:limit].rsplit(";", 1)[0] if ";" in text[:limit] else text[:limit].rsplit(" ", 1)[0]
        text = cut + " …"
    return text.replace("|", "/")


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def full_verdict(root: Path, name: str) -> dict[str, Any] | None:
    """``root/NAME/verdict.json`` when ``root/NAME/config.json`` says it is a full run (``"quick": false``); a quick
    run written into ``root/NAME`` is not reported as the full verdict."""
    config = _read(root / name / "config.json")
    if config is None or config.get("quick") is not False:
        return None
    return _read(root / name / "verdict.json")


def report_row(exp: Experiment, root: Path) -> str:
    """One Markdown row of the report for ``exp`` from the verdicts under ``root``."""
    quick = _read(root / QUICK_DIR / f"{exp.name}.json")
    full = full_verdict(root, exp.name)
    doc, figure = split_source(exp.issue_source)
    claim = exp.criterion.claim if exp.criterion else exp.summary
    link = f"[summary]({exp.name}/summary.md)" if full else f"[quick]({QUICK_DIR}/{exp.name}.json)" if quick else "—"
    full_text = full["outcome"] if full else "not run"
    if full and quick:
        full_text += " (agrees)" if full["outcome"] == quick["outcome"] else " (differs from quick)"
    if full:
        full_text += ": " + key_figure(full)
    cells = [
        f"`{exp.name}`",
        doc,
        figure,
        claim.replace("|", "/"),
        quick["outcome"] if quick else "not run",
        full_text,
        key_figure(quick) if quick else "—",
        link,
    ]
    return "| " + " | ".join(cells) + " |"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _hours(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def full_runs_text(root: Path) -> list[str]:
    """Markdown lines: the command that made each full run, its wall time and machine; the experiments not yet run."""
    done, missing, total = [], [], 0.0
    for exp in list_experiments():
        config = _read(root / exp.name / "config.json")
        if full_verdict(root, exp.name) is None:
            expected = "—" if exp.minutes is None else f"~{exp.minutes:g} min"
            missing.append(f"| `{exp.name}` | `invert experiment run {exp.name}` | {expected} |")
            continue
        env = config.get("environment", {})
        machine = f"{env.get('device', 'cpu')}, {env.get('torch_threads', '?')} threads, torch {env.get('torch', '?')}"
        cold = "—" if exp.minutes is None else f"~{exp.minutes:g} min"
        total += config.get("seconds") or 0.0
        done.append(
            f"| `{exp.name}` | `invert experiment run {exp.name}` | {_duration(config.get('seconds'))} | {cold} "
            f"| {machine} | {env.get('time', '—')[:10]} |"
        )
    lines = [
        "## Full runs",
        "",
        "Each full setting is `invert experiment run NAME` (no `--quick`); `invert experiment show NAME` lists it.",
        "Wall time as measured, on a shared 2-core CPU, where a run may have reused a helper model cached by an "
        "earlier one (the decoders, the CIFAR-64 classifier, the noise models); *from a cold cache* is the time with "
        "every model it needs trained first. `config.json` beside each summary holds the exact settings, seed, "
        "versions and commit.",
        "",
    ]
    if done:
        lines += [
            "| experiment | command | wall time | from a cold cache | machine | date |",
            "|---|---|---|---|---|---|",
            *done,
            "",
            f"Together the {len(done)} full runs above took {_hours(total)} of wall time on this CPU; a run that "
            "reused a cached model does not count that model's training.",
            "",
        ]
    if missing:
        lines += [
            "Not run at the full setting yet; expected wall time on the same CPU, counting the models each trains (the "
            "decoder experiments share one cached decoder run, `depth` and `kernels` one classifier, so after the "
            "first each costs less):",
            "",
            "| experiment | command | expected time |",
            "|---|---|---|",
            *missing,
            "",
        ]
    return lines


def report_text(root: str | Path = "results") -> str:
    """The whole ``results/README.md``: a generated-file notice, how to regenerate it, the table of verdicts and the
    full runs' commands and times."""
    root = Path(root)
    rows = [report_row(e, root) for e in list_experiments()]
    return "\n".join(
        [
            "# Reproduction report",
            "",
            "Generated by `invert experiment report` from `results/quick/NAME.json` (each experiment's `--quick` "
            "verdict, on a 2-core CPU) and `results/NAME/verdict.json` (its full run); do not edit by hand.",
            "Each claim is judged by the criterion declared before the run (`invert experiment show NAME`).",
            "",
            HEADER,
            *rows,
            "",
            *full_runs_text(root),
        ]
    )


def collect_quick(source: str | Path, root: str | Path = "results") -> list[str]:
    """Copy the verdicts of quick runs in ``source/NAME/`` (verdict.json and config.json's seconds) to
    ``root/quick/NAME.json``; returns the names copied.
    """
    from invert.io import write_json

    source, root = Path(source), Path(root)
    names = []
    for exp in list_experiments():
        verdict = _read(source / exp.name / "verdict.json")
        if verdict is None:
            continue
        config = _read(source / exp.name / "config.json") or {}
        record = {"experiment": exp.name, "setting": "quick", "seconds": config.get("seconds"), **verdict}
        write_json(root / QUICK_DIR / f"{exp.name}.json", record)
        names.append(exp.name)
    return names


def write_report(root: str | Path = "results") -> Path:
    """Write ``root/README.md`` (:func:`report_text`) and return its path."""
    from invert.io import write_text

    path = Path(root) / REPORT
    write_text(path, report_text(root))
    return path
