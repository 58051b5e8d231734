"""`invert profile` as a function: every chosen layer of every model × weights, inverted with the default procedure
on the sweep engine (executors, atomic resumable cell folders), then the table, figures and page.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from invert.errors import InvertError

PROFILE_FILE = "profile.json"


@dataclass
class ProfileReport:
    """What one `invert profile` call did, and where its files are."""

    out: Path
    cells: int
    skipped_complete: int
    skipped_failed: int
    ran: int = 0
    failed: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def split_weights(models: Sequence[str], weights: Sequence[str]) -> tuple[list[str], list[str]]:
    """``invert profile M --weights untrained trained``: the shell hands ``trained`` over as a model. Weights words
    (untrained, trained, imagenet, pretrained) and existing files among the models move to the weights; commas split."""
    words = {"untrained", "trained", "imagenet", "pretrained"}
    ms, ws = [], [w.strip() for item in weights for w in str(item).split(",") if w.strip()]
    for m in models:
        if m in words or Path(m).is_file():
            ws.append(m)
        else:
            ms.append(m)
    return ms, list(dict.fromkeys(ws or ["untrained"]))


def _check(models: Sequence[str], weights: Sequence[str], images: Sequence[str]) -> None:
    from invert.encoders.registry import get_spec

    if not models:
        raise InvertError("no model to profile: name one, e.g. `invert profile cifar_resnet20`")
    for m in models:
        spec = get_spec(m)
        for w in weights:
            if w in ("trained", "imagenet", "pretrained") and spec.trained_weights is None:
                raise InvertError(f"{m} has no {w} weights — use untrained or a weights file path")
            if w not in ("untrained", "trained", "imagenet", "pretrained") and not Path(w).is_file():
                raise InvertError(f"weights file not found: {w} — use untrained, trained, imagenet or a file")
    for p in images:
        if not Path(p).is_file():
            raise InvertError(f"image not found: {p}")


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InvertError(f"--out {out} is a file, not a folder — choose another path")
    if out.is_dir() and any(out.iterdir()) and not (out / PROFILE_FILE).is_file() and not (out / "cells").is_dir():
        raise InvertError(f"--out {out} already holds files but no profile ({PROFILE_FILE}) — choose an empty folder")
    (out / "cells").mkdir(parents=True, exist_ok=True)


def profile(
    models: Sequence[str],
    out: str | Path,
    *,
    weights: Sequence[str] = ("untrained",),
    images: Sequence[str | Path] = (),
    layers: str | Sequence[str] | None = None,
    size: int | None = None,
    iterations: int | None = None,
    preset: str | None = None,
    seed: int | None = None,
    device: str = "auto",
    dtype: str = "float32",
    overrides: dict[str, Any] | None = None,
    decoder: bool = False,
    decoder_epochs: int = 3,
    decoder_images: int = 512,
    decoder_dir: str | Path | None = None,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    console: Any = None,
) -> ProfileReport:
    """Profile ``models`` × ``weights`` layer by layer into ``out``; returns what ran. The Python twin of
    `invert profile`.

    Each layer is one cell (every image batched in one `invert run` of the default procedure, watched for the first
    m_g < m_s): ``out/cells/<id>/`` holds its pictures, metrics.json and config.json. Finished cells are skipped on
    a second call (failed ones too, unless ``retry_failed``); a failed layer is reported and the rest kept.
    Writes ``table.csv``, ``profile.png``, ``grid.png``, ``profile.json`` and ``index.html`` into ``out``.
    """
    from invert.profiling.cell import run_profile_cell
    from invert.profiling.layers import choose_layers
    from invert.sweep.cells import clean_partials
    from invert.sweep.executors import map_tasks

    models, weights = split_weights(models, weights)
    image_paths = [str(Path(p).expanduser().resolve()) for p in images]
    _check(models, weights, image_paths)
    out = Path(out)
    say = console.print if console is not None else (lambda *a, **k: None)
    chosen = {m: choose_layers(m, layers, size) for m in models}
    _prepare_out(out)
    clean_partials(out / "cells")
    decoder_spec = None
    if decoder:
        folder = Path(decoder_dir) if decoder_dir else out / "decoders"
        decoder_spec = {"epochs": decoder_epochs, "images": decoder_images, "folder": str(folder.resolve())}
    settings: dict[str, Any] = dict(size=size, iterations=iterations, preset=preset, seed=seed)
    settings.update(device=device, dtype=dtype)
    cells, tasks, report = _plan(
        out, chosen, weights, image_paths, overrides or {}, decoder_spec, retry_failed, **settings
    )
    _say_plan(say, report, len(models), len(weights), len(tasks), executor, workers)
    layers_option = layers if isinstance(layers, (str, type(None))) else list(layers)
    record = _record(models, weights, image_paths, layers_option, chosen, overrides, decoder_spec, executor, workers,
                     len(cells), **settings)  # fmt: skip
    t0 = time.perf_counter()
    try:
        map_tasks(
            run_profile_cell,
            tasks,
            executor=executor,
            workers=workers,
            address=address,
            progress=progress,
            description="profile cells",
            on_result=_collector(out, report, {c["id"]: c for c in cells}, len(tasks), say),
            preload=("invert.profiling.cell", "invert.job", "invert.encoders"),
        )
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        report.seconds = time.perf_counter() - t0
        this_call = {"seconds_this_call": round(report.seconds, 2), "ran_this_call": report.ran}
        report.files = write_results(out, cells, {**record, **this_call, "interrupted": report.interrupted}, report)
    return report


def _record(
    models: list[str],
    weights: list[str],
    image_paths: list[str],
    layers_option: str | list[str] | None,
    chosen: dict[str, list[Any]],
    overrides: dict[str, Any] | None,
    decoder_spec: dict[str, Any] | None,
    executor: str,
    workers: int | None,
    cells: int,
    *,
    size: int | None,
    iterations: int | None,
    preset: str | None,
    seed: int | None,
    device: str,
    dtype: str,
) -> dict[str, Any]:
    """profile.json's record of the call: what was asked, the layers chosen, the environment."""
    from invert.io import environment_info

    return {
        "command": "invert profile",
        "models": models,
        "weights": weights,
        "images": image_paths,
        "layers_option": layers_option,
        "preset": preset or "default",
        "size": size,
        "iterations": iterations,
        "seed": seed,
        "device": device,
        "dtype": dtype,
        "overrides": overrides or {},
        "decoder": decoder_spec,
        "executor": executor,
        "workers": workers,
        "cells": cells,
        "layers": {m: [lay.to_dict() for lay in chosen[m]] for m in models},
        "environment": environment_info(),
    }


def _plan(
    out: Path,
    chosen: dict[str, list[Any]],
    weights: Sequence[str],
    image_paths: list[str],
    overrides: dict[str, Any],
    decoder_spec: dict[str, Any] | None,
    retry_failed: bool,
    *,
    size: int | None,
    iterations: int | None,
    preset: str | None,
    seed: int | None,
    device: str,
    dtype: str,
) -> tuple[list[dict[str, Any]], list[Any], ProfileReport]:
    """Every cell (model × weights × layer) with the task of each one to run; finished ones (and failed ones, unless
    ``retry_failed``) are counted as skipped in the report."""
    from invert.job import JobSpec, run_config
    from invert.profiling.cell import ProfileTask, cell_id
    from invert.sweep.cells import read_cell

    cells: list[dict[str, Any]] = []
    tasks: list[Any] = []
    skipped = {"complete": 0, "failed": 0}
    for m, m_layers in chosen.items():
        for w in weights:
            w_value = w if w in ("untrained", "trained", "imagenet", "pretrained") else str(Path(w).resolve())
            for lay in m_layers:
                run = dict(overrides)
                config = run_config(m, preset, **{**run, "size": size, "iterations": iterations, "seed": seed})
                settings = {
                    "model": m,
                    "weights": w_value,
                    "layer": lay.name,
                    "images": image_paths,
                    "preset": preset or "default",
                    "size": config.size,
                    "iterations": config.iterations,
                    "seed": config.seed,
                    "dtype": dtype,
                    "run": {k: v for k, v in sorted(run.items()) if v is not None},
                    "decoder": {k: v for k, v in (decoder_spec or {}).items() if k != "folder"} or None,
                }
                cid = cell_id(settings)
                cells.append({"id": cid, "model": m, "weights": w_value, "layer": lay.to_dict(), "images": image_paths})
                record = read_cell(out / "cells" / cid)
                status = record["status"] if record else None
                if status == "complete" or (status == "failed" and not retry_failed):
                    skipped[status] += 1
                    continue
                job = JobSpec(m, lay.name, w_value, image_paths, device=device, dtype=dtype, overwrite=True)
                tasks.append(ProfileTask(cid, settings, job, config, lay.to_dict(), decoder_spec))
    return cells, tasks, ProfileReport(out, len(cells), skipped["complete"], skipped["failed"])


def _say_plan(
    say: Any, report: ProfileReport, models: int, weights: int, tasks: int, executor: str, workers: int | None
) -> None:
    skipped = []
    if report.skipped_complete:
        skipped.append(f"{report.skipped_complete} already finished")
    if report.skipped_failed:
        skipped.append(f"{report.skipped_failed} failed earlier (--retry-failed reruns them)")
    say(
        f"profile: {models} model(s) × {weights} weights × layers = {report.cells} cells"
        + (f": skipping {', '.join(skipped)}" if skipped else "")
        + f"; running {tasks} on {executor}"
        + (f" with {workers} workers" if workers else ""),
        highlight=False,
        soft_wrap=True,
    )


def _collector(
    out: Path, report: ProfileReport, by_id: dict[str, dict[str, Any]], total: int, say: Any
) -> Callable[[int, dict[str, Any]], None]:
    """What to do with each finished cell: write its folder, count it, say one line."""
    from invert.sweep.cells import write_cell

    def collect(_: int, outcome: dict[str, Any]) -> None:
        write_cell(out / "cells", outcome)
        report.ran += 1
        cell = by_id[outcome["id"]]
        what = f"{cell['model']} {_wlabel(cell['weights'])} {cell['layer']['name']}"
        done = f"[{report.ran}/{total}]"
        if outcome["status"] == "failed":
            report.failed += 1
            say(f"{done} {what}: [red]failed[/red] — {outcome['error']}", highlight=False, soft_wrap=True)
        else:
            say(
                f"{done} {what}: {_cell_line(out / 'cells' / outcome['id'])} ({outcome['cell_seconds']:.1f} s)",
                highlight=False,
                soft_wrap=True,
            )

    return collect


def _wlabel(w: str) -> str:
    from invert.profiling.report import weights_label

    return weights_label(w)


def _cell_line(folder: Path) -> str:
    """One progress line's figures for a finished cell: iterations to m_s and PSNR at m_s / after the budget."""
    import json

    try:
        m = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return "done"
    at = m["at_ms"]
    reached = [v for v in at["below_ms_at"] if v >= 0]
    n = len(at["below_ms_at"])

    def mean(vals: list[float]) -> float:
        vals = [v for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
        return sum(vals) / len(vals) if vals else math.nan

    if reached:
        text = (
            f"m_g < m_s after {mean(reached):.0f} it ({len(reached)}/{n} images): PSNR {mean(at['psnr']):.1f} dB there,"
        )
    else:
        text = f"m_g < m_s never (0/{n} images): PSNR"
    text += f" {mean(m['psnr']):.1f} dB after {m['iterations']}"
    if "decoder" in m:
        text += f", decoder {mean(m['decoder']['psnr']):.1f} dB"
    return text


def write_results(out: Path, cells: list[dict[str, Any]], record: dict[str, Any], report: ProfileReport) -> list[Path]:
    """table.csv, profile.json, profile.png, grid.png and index.html from the cell folders (finished ones only)."""
    from invert.io import save_figure, write_csv, write_json
    from invert.profiling.report import COLUMNS, cell_rows, grid_figure, profile_figure, write_html
    from invert.sweep.cells import read_cell

    rows: list[dict[str, Any]] = []
    failures = []
    for cell in cells:
        rec = read_cell(out / "cells" / cell["id"])
        rows += cell_rows(out / "cells", cell, rec)
        if rec and rec["status"] == "failed":
            failures.append(
                {
                    "model": cell["model"],
                    "weights": cell["weights"],
                    "layer": cell["layer"]["name"],
                    "cell": cell["id"],
                    "error": rec.get("error") or "",
                }
            )
    report.rows, report.failures = rows, failures
    counts = {s: sum(1 for c in cells if _status(out, c) == s) for s in ("complete", "failed", "pending")}
    written = [write_csv(out / "table.csv", rows, list(COLUMNS))]
    if any(r["status"] == "complete" for r in rows):
        written.append(save_figure(profile_figure(rows, out / "cells"), out / "profile.png", dpi=90, tight=False))
        grid = grid_figure(rows, out / "cells")
        if grid is not None:
            written.append(save_figure(grid, out / "grid.png", dpi=90, tight=False))
    full = {
        **record,
        "counts": counts,
        "failures": failures,
        "status": "interrupted" if record.get("interrupted") else "finished",
        "rows": rows,
    }
    written.append(write_json(out / PROFILE_FILE, full))
    written.append(write_html(out, rows, full))
    return written


def _status(out: Path, cell: dict[str, Any]) -> str:
    from invert.sweep.cells import read_cell

    rec = read_cell(out / "cells" / cell["id"])
    return rec["status"] if rec else "pending"


__all__ = ["ProfileReport", "profile", "split_weights", "write_results"]
