"""`invert sweep SPEC.toml`: a grid of `invert run` cells on a local process pool or on Ray."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, TypeAlias

import typer

from invert.commands import options
from invert.sweep.executors import EXECUTORS

if TYPE_CHECKING:  # str Enums built from the registries at run time: to the type checker their members are str
    _Executor: TypeAlias = str
else:
    _Executor = options.choices("Executor", EXECUTORS)


def sweep(
    spec: Path = typer.Argument(
        ...,
        help="TOML spec: lists model, layer, image, weights, preset, seed; a \\[run] table of fixed "
        "`invert run` settings; exclude = [{...}] drops cells. Paths are relative to the spec file.",
    ),
    out: Path = typer.Option(
        ...,
        help="Sweep folder: cells/<id>/ per cell, table.csv, summary.png, grid.png, sweep.json. "
        "Re-running into it skips finished cells.",
    ),
    executor: _Executor = typer.Option(
        "local", help="local: a pool of worker processes here | ray: Ray tasks (local Ray, or --address)."
    ),
    workers: Optional[int] = typer.Option(
        None,
        help="local: worker processes (default: one per core; torch threads are split "
        "between them). ray: most cells in flight (default: as many as the cluster fits).",
    ),
    address: Optional[str] = typer.Option(
        None, help="ray: join a running cluster, `auto` or HOST:PORT (default: start a local Ray)."
    ),
    gpus_per_cell: float = typer.Option(
        0.0, help="ray: num_gpus each cell asks for (e.g. 0.25 packs four cells per GPU)."
    ),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Rerun the cells that failed before (they are skipped otherwise)."
    ),
    quiet: bool = options.quiet(),
    tensorboard: Optional[Path] = typer.Option(
        None,
        help="Also log every cell's inversion to TensorBoard, under DIR/<cell id>/ "
        "(with Ray on several machines DIR must be a shared folder).",
    ),
) -> None:
    """Run a grid of inversions (models × layers × images × weights × presets × seeds), resumably, and tabulate them."""
    from rich.console import Console

    from invert.sweep.runner import run_sweep

    console = Console()
    report = run_sweep(
        spec,
        out,
        executor=options.value(executor),
        workers=workers,
        address=address,
        retry_failed=retry_failed,
        progress=not quiet,
        console=console,
        gpus_per_cell=gpus_per_cell,
        tensorboard=tensorboard,
    )
    done = sum(r["status"] == "complete" for r in report.rows)
    failed = sum(r["status"] == "failed" for r in report.rows)
    console.print(
        f"ran {report.ran} cells in {report.seconds:.1f} s; {done}/{report.cells} finished, {failed} failed"
        f" — table in [bold]{report.out / 'table.csv'}[/bold]"
    )
    if failed:
        raise typer.Exit(1)
