"""`invert sweep` as a function: check the spec, skip finished cells, run the rest on an executor, aggregate."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from invert.errors import InvertError
from invert.io import claim_folder, environment_info, folder_contents, make_folder, release_folder, write_json
from invert.sweep.aggregate import write_figures, write_table
from invert.sweep.cells import (
    PRELOAD,
    CellTask,
    clean_partials,
    clean_stale_temporaries,
    read_cell,
    run_cell,
    write_cell,
)
from invert.sweep.executors import map_tasks
from invert.sweep.spec import (
    Cell,
    Spec,
    expand,
    job_for,
    load_spec,
    spec_record,
    validate,
)


@dataclass
class SweepReport:
    """What one `invert sweep` call did: cells in the grid, skipped (finished / failed earlier), run, failed now."""

    out: Path
    cells: int
    skipped_complete: int
    skipped_failed: int
    ran: int = 0
    failed: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    rows: list[dict[str, Any]] = field(default_factory=list)


def plan(spec: Spec, out: Path, retry_failed: bool) -> tuple[list[Cell], list[Cell], int, int]:
    """(all cells, cells to run, finished cells skipped, failed cells skipped) for a sweep into ``out``."""
    cells = expand(spec)
    todo, complete, failed = [], 0, 0
    for cell in cells:
        record = read_cell(out / "cells" / cell.id)
        status = record["status"] if record else None
        if status == "complete":
            complete += 1
        elif status == "failed" and not retry_failed:
            failed += 1
        else:
            todo.append(cell)
    return cells, todo, complete, failed


def _prepare_out(out: Path) -> None:
    """Make and lock the sweep folder (a second sweep on it is refused while this one runs)."""
    if out.exists() and not out.is_dir():
        raise InvertError(f"--out {out} is a file, not a folder — choose another path")
    claim_folder(out, "invert sweep")
    if folder_contents(out) and not (out / "sweep.json").is_file():
        release_folder(out)
        raise InvertError(f"--out {out} already holds files but no sweep (sweep.json) — choose an empty or new folder")
    make_folder(out / "cells")


def run_sweep(
    spec_path: str | Path,
    out: str | Path,
    *,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    console: Any = None,
    gpus_per_cell: float = 0.0,
    tensorboard: str | Path | None = None,
) -> SweepReport:
    """Run every unfinished cell of the spec into ``out/cells/<id>/``, then write table.csv, summary.png, grid.png,
    sweep.json.

    Everything is checked before the first cell runs. Finished cells are skipped (failed ones too,
    unless ``retry_failed``); a failed cell records its error and the others go on. Ctrl-C keeps
    every finished cell and the table, and the next call continues.
    """
    spec = load_spec(spec_path)
    cells = expand(spec)
    validate(spec, cells)
    out = Path(out)
    if tensorboard is not None:
        from invert.tensorboard import check_root

        check_root(tensorboard)
    _prepare_out(out)
    try:
        return _run(spec, out, executor, workers, address, retry_failed, console, progress, gpus_per_cell, tensorboard)
    finally:
        release_folder(out)


def _run(
    spec: Spec,
    out: Path,
    executor: str,
    workers: int | None,
    address: str | None,
    retry_failed: bool,
    console: Any,
    progress: bool,
    gpus_per_cell: float,
    tensorboard: str | Path | None,
) -> SweepReport:
    """:func:`run_sweep` once the spec is checked and the folder locked."""
    clean_partials(out / "cells")
    clean_stale_temporaries()
    cells, todo, n_complete, n_failed = plan(spec, out, retry_failed)
    report = SweepReport(out, len(cells), n_complete, n_failed)
    say = console.print if console is not None else (lambda *a, **k: None)
    skipped = []
    if n_complete:
        skipped.append(f"{n_complete} already finished")
    if n_failed:
        skipped.append(f"{n_failed} failed earlier (--retry-failed reruns them)")
    say(
        f"{len(cells)} cells" + (f": skipping {', '.join(skipped)}" if skipped else "") + f"; running {len(todo)} "
        f"on {executor}" + (f" with {workers} workers" if workers else "")
    )
    tasks = [CellTask(c.id, c.settings, *job_for(spec, c, out / "cells" / c.id)) for c in todo]
    if tensorboard is not None:  # each cell logs its run under DIR/<cell id>/ (a folder the workers can reach)
        tasks = [replace(t, job=replace(t.job, tensorboard=str(Path(tensorboard).resolve() / t.id))) for t in tasks]
    record = {
        "spec": spec_record(spec),
        "executor": executor,
        "workers": workers,
        "address": address,
        "cells": len(cells),
        "environment": environment_info(),
    }
    write_json(out / "sweep.json", {**record, "status": "running"})

    def collect(_: int, outcome: dict[str, Any]) -> None:
        write_cell(out / "cells", outcome)
        report.ran += 1
        if outcome["status"] == "failed":
            report.failed += 1
            say(f"[red]cell {outcome['id']} failed:[/red] {outcome['error']}", highlight=False)

    t0 = time.perf_counter()
    try:
        map_tasks(
            run_cell,
            tasks,
            executor=executor,
            workers=workers,
            address=address,
            progress=progress,
            description="sweep cells",
            on_result=collect,
            gpus_per_task=gpus_per_cell,
            preload=PRELOAD,
        )
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        report.seconds = time.perf_counter() - t0
        report.rows = write_table(out, cells)
        counts = {s: sum(r["status"] == s for r in report.rows) for s in ("complete", "failed", "pending")}
        write_json(
            out / "sweep.json",
            {
                **record,
                "status": "interrupted" if report.interrupted else "finished",
                "counts": counts,
                "ran_this_call": report.ran,
                "seconds_this_call": round(report.seconds, 2),
            },
        )
    write_figures(out, cells, report.rows)
    return report
