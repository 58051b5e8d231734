"""Sweep throughput (issue 9): a 16-cell grid as `invert sweep` on a local pool, on Ray, and as 16 `invert run`s.

The grid of the issue: resnet18 (untrained), conv1…conv4 × 2 images × 2 seeds, 64 px, 50 iterations.
For each way it reports the wall time, cells per minute, the mean seconds a cell spent inside its
worker (``cell_seconds``: model build + inversion + files) and in the inversion loop alone, and the
per-cell overhead: ``(wall × parallel slots − Σ cell_seconds) / cells`` — what running a cell costs beyond
running it — and the same within the executor alone (``executor_overhead``: worker or Ray start, scheduling,
moving the files back; without the sweep's fixed start-up, checks and figures, ``fixed_seconds``). The sequential
commands' overhead is each command's wall time minus its inversion seconds (Python start-up, imports).

    .venv/bin/python benchmarks/bench_sweep.py                    # all three, results in results/bench_sweep/
    .venv/bin/python benchmarks/bench_sweep.py --ways local,ray   # a subset
    .venv/bin/python benchmarks/bench_sweep.py --ways ray --seeds 4 --out results/bench_sweep_32   # 32 cells
    .venv/bin/python benchmarks/bench_sweep.py --smoke --out /tmp/s   # one cell, one iteration, 32 px, local+commands

A sweep's executor time includes one-off costs (Ray's start, each worker importing torch); the cost each further cell
adds is the difference of two grid sizes: ``(Δ executor seconds × slots − Δ Σ cell_seconds) / Δ cells``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' shared helpers, however this file is loaded
from bench_args import add_smoke  # noqa: E402

SPEC = """model = ["resnet18"]
layer = {layers}
image = {images}
seed = {seeds}
[run]
size = {size}
iterations = {iterations}
"""
#: The grid: layers × images × seeds cells at ``size`` px, ``iterations`` each; ``--smoke`` runs one cell of one.
GRID = {"layers": ["conv1", "conv2", "conv3", "conv4"], "images": ["a.jpg", "b.jpg"], "size": 64, "iterations": 50}
SMOKE_GRID = {"layers": ["conv1"], "images": ["a.jpg"], "size": 32, "iterations": 1}
BIN = Path(sys.executable).parent


def prepare(folder: Path, seeds: int = 2, grid: dict | None = None) -> Path:
    """The spec and its two images (the embedded photograph and its mirror image) in ``folder``."""
    from torchvision.io import write_jpeg

    from invert.io import default_image_path, load_image, to_uint8

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(default_image_path(), folder / "a.jpg")
    write_jpeg(to_uint8(load_image(default_image_path()).flip(-1)), str(folder / "b.jpg"))
    g = grid or GRID
    (folder / "spec.toml").write_text(
        SPEC.format(
            layers=json.dumps(g["layers"]),
            images=json.dumps(g["images"]),
            seeds=list(range(seeds)),
            size=g["size"],
            iterations=g["iterations"],
        )
    )
    return folder / "spec.toml"


def run_sweep(spec: Path, out: Path, executor: str, workers: int) -> dict[str, float]:
    """`invert sweep` as a user runs it (a fresh process); wall time and the cells' own seconds."""
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run(
        [
            str(BIN / "invert"),
            "sweep",
            str(spec),
            "--out",
            str(out),
            "--executor",
            executor,
            "--workers",
            str(workers),
            "--quiet",
        ],
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - t0
    cells = [json.loads(p.read_text()) for p in out.glob("cells/*/cell.json")]
    inv = [json.loads(p.read_text())["seconds"] for p in out.glob("cells/*/metrics.json")]
    record = json.loads((out / "sweep.json").read_text())
    axes = record["spec"]["axes"]
    assert len(cells) == len(axes["layer"]) * len(axes["image"]) * len(axes["seed"])
    assert all(c["status"] == "complete" for c in cells)
    busy = sum(c["cell_seconds"] for c in cells)
    in_map = record["seconds_this_call"]  # executor time, without start-up/figures
    return {
        "wall": wall,
        "cells": len(cells),
        "cell_seconds": busy / len(cells),
        "inversion_seconds": sum(inv) / len(inv),
        "overhead": (wall * workers - busy) / len(cells),
        "executor_overhead": (in_map * workers - busy) / len(cells),
        "fixed_seconds": wall - in_map,
        "slots": workers,
    }


def run_commands(
    spec: Path, out: Path, threads: int | None = None, size: int = GRID["size"], iterations: int = GRID["iterations"]
) -> dict[str, float]:
    """The same 16 cells as 16 `invert run` commands, one after another (``threads``: OMP_NUM_THREADS for each)."""
    import os

    from invert.sweep.spec import expand, load_spec

    shutil.rmtree(out, ignore_errors=True)
    cells = expand(load_spec(spec))
    inv, t0 = [], time.perf_counter()
    for c in cells:
        folder = out / c.id
        subprocess.run(
            [
                str(BIN / "invert"),
                "run",
                "--model",
                c.model,
                "--layer",
                c.layer,
                "--image",
                str(spec.parent / c.image),
                "--seed",
                str(c.seed),
                "--size",
                str(size),
                "--iterations",
                str(iterations),
                "--out",
                str(folder),
                "--quiet",
            ],
            check=True,
            capture_output=True,
            env={**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})},
        )
        inv.append(json.loads((folder / "metrics.json").read_text())["seconds"])
    wall = time.perf_counter() - t0
    per = wall / len(cells)
    return {
        "wall": wall,
        "cells": len(cells),
        "cell_seconds": per,
        "inversion_seconds": sum(inv) / len(inv),
        "overhead": per - sum(inv) / len(inv),
        "slots": 1,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("results/bench_sweep"))
    ap.add_argument("--ways", default="local,ray,commands", help="comma-separated: local, ray, commands")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--command-threads",
        type=int,
        default=None,
        help="OMP_NUM_THREADS for the sequential commands (default: torch's own choice, all cores)",
    )
    ap.add_argument("--seeds", type=int, default=2, help="seeds per cell (the grid has 8 × seeds cells; default 16)")
    add_smoke(ap)
    args = ap.parse_args(argv)
    from invert.io import environment_info, write_json

    grid = SMOKE_GRID if args.smoke else GRID
    if args.smoke:
        args.seeds, args.workers = 1, 1
        args.ways = "local,commands" if args.ways == ap.get_default("ways") else args.ways
    spec = prepare(args.out / "spec", args.seeds, grid)
    rows = {}
    for way in args.ways.split(","):
        if way == "commands":
            rows[way] = run_commands(
                spec, args.out / "commands", args.command_threads, grid["size"], grid["iterations"]
            )
        else:
            rows[way] = run_sweep(spec, args.out / way, way, args.workers)
        rows[way]["cells_per_minute"] = 60 * rows[way]["cells"] / rows[way]["wall"]
        Console().print(way, {k: round(v, 3) for k, v in rows[way].items()})
    table = Table(
        title=f"{len(grid['layers']) * len(grid['images']) * args.seeds}-cell sweep (resnet18 "
        f"{','.join(grid['layers'])} × {len(grid['images'])} images × {args.seeds} seeds, {grid['size']} px, "
        f"{grid['iterations']} iterations)"
    )
    cols = (
        "way",
        "wall s",
        "cells/min",
        "s in worker per cell",
        "s inverting per cell",
        "overhead s per cell",
        "executor overhead s per cell",
        "fixed s",
    )
    for col in cols:
        table.add_column(col, justify="right")
    for way, r in rows.items():
        table.add_row(
            way,
            f"{r['wall']:.1f}",
            f"{r['cells_per_minute']:.1f}",
            f"{r['cell_seconds']:.2f}",
            f"{r['inversion_seconds']:.2f}",
            f"{r['overhead']:.2f}",
            f"{r['executor_overhead']:.2f}" if "executor_overhead" in r else "",
            f"{r['fixed_seconds']:.1f}" if "fixed_seconds" in r else "",
        )
    Console().print(table)
    write_json(
        args.out / "bench_sweep.json", {"rows": rows, "workers": args.workers, "environment": environment_info("cpu")}
    )


if __name__ == "__main__":
    main()
