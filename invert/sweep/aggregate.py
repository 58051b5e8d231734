"""A sweep's results in one place: `table.csv` (a row per cell), `summary.png` (metrics against layer), `grid.png`."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from invert.io import save_figure, write_csv
from invert.sweep.cells import read_cell
from invert.sweep.spec import AXES, Cell

METRICS = (
    "m_g",
    "m_s",
    "m_s_std",
    "m_i",
    "psnr",
    "ssim",
    "below_ms",
    "below_ms_at",
    "m_i_at_ms",
    "psnr_at_ms",
    "ssim_at_ms",
    "seconds",
)
"""``*_at_ms``: the image at the first m_g < m_s — from a watched run's ``at_ms`` (`invert profile` cells), or the
returned image of a run that stopped there (``stop_below_ms``); empty for a full-budget run that was not watched."""
COLUMNS = ("id", *AXES, "status", *METRICS, "cell_seconds", "error")


def cell_row(cells_dir: Path, cell: Cell) -> dict[str, Any]:
    """One table row: the cell's settings, its status (complete / failed / pending) and its metrics."""
    row: dict[str, Any] = {"id": cell.id, **{a: getattr(cell, a) for a in AXES}}
    if row["image"] is None:
        row["image"] = "(embedded)"
    record = read_cell(cells_dir / cell.id)
    row["status"] = record["status"] if record else "pending"
    if record:
        row["error"] = record.get("error") or ""
        row["cell_seconds"] = record.get("cell_seconds")
    try:
        metrics = json.loads((cells_dir / cell.id / "metrics.json").read_text())
    except (OSError, ValueError):
        return row
    best = (metrics.get("best_restart") or [0])[0]
    runs = [r for r in metrics.get("runs", []) if r.get("target") == 0]
    for key in ("m_g", "m_s", "m_s_std", "m_i", "psnr", "ssim", "below_ms", "seconds"):
        value = metrics.get(key)
        row[key] = value[0] if isinstance(value, list) else value
    row["below_ms_at"] = runs[best]["below_ms_at"] if best < len(runs) else None
    at = metrics.get("at_ms")
    if isinstance(at, dict):  # a watched run kept the image at its first m_g < m_s
        for key in ("m_i", "psnr", "ssim"):
            value = at.get(key)
            row[f"{key}_at_ms"] = value[0] if isinstance(value, list) else value
    elif row.get("below_ms") and _stops_below_ms(cell):  # the run stopped there: its images are those
        for key in ("m_i", "psnr", "ssim"):
            row[f"{key}_at_ms"] = row.get(key)
    return row


def _stops_below_ms(cell: Cell) -> bool:
    """Whether the cell's run stopped each image at its first m_g < m_s (``stop_below_ms`` in [run] or its preset)."""
    from invert.inversion import get_preset

    run = dict(cell.run)
    if "stop_below_ms" in run:
        return bool(run["stop_below_ms"])
    try:
        return bool(get_preset(cell.preset or "default").config().stop_below_ms)
    except Exception:  # noqa: BLE001 - an unknown preset was refused before the sweep ran
        return False


def write_table(out: Path, cells: Sequence[Cell]) -> list[dict[str, Any]]:
    """``OUT/table.csv``: one row per cell of the spec, in grid order; returns the rows."""
    rows = [cell_row(out / "cells", c) for c in cells]
    write_csv(out / "table.csv", rows, COLUMNS)
    return rows


def _line_key(row: dict[str, Any]) -> str:
    return f"{row['model']} {row['weights']} {row['preset']}"


def summary_figure(rows: Sequence[dict[str, Any]], layers: Sequence[str]) -> Any:
    """m_g/m_s and m_i against layer, one line per model × weights × preset (mean over images and seeds)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ratio_ax, mi_ax = fig.subplots(1, 2)
    done = [r for r in rows if r["status"] == "complete" and r.get("m_g") is not None]
    for key in sorted({_line_key(r) for r in done}):
        xs, ratio, mi = [], [], []
        for x, layer in enumerate(layers):
            sel = [r for r in done if _line_key(r) == key and r["layer"] == layer]
            if sel:
                xs.append(x)
                ratio.append(sum(r["m_g"] / r["m_s"] for r in sel) / len(sel))
                mi.append(sum(r["m_i"] for r in sel) / len(sel))
        ratio_ax.plot(xs, ratio, marker="o", label=key)
        mi_ax.plot(xs, mi, marker="o", label=key)
    ratio_ax.axhline(1.0, ls="--", color="gray", lw=1, label="m_g = m_s")
    ratio_ax.set(yscale="log", ylabel="m_g / m_s", title="embedding distance relative to a noise shift")
    mi_ax.set(ylabel="m_i = ‖a − a_g‖₂", title="input distance")
    for ax in (ratio_ax, mi_ax):
        ax.set_xticks(range(len(layers)), list(layers))
        ax.set_xlabel("layer")
        ax.grid(True, alpha=0.3)
    ratio_ax.legend(fontsize=7)
    fig.suptitle(f"sweep: {len(done)} finished cells, mean over images and seeds", fontsize=10)
    return fig


def grid_figure(out: Path, cells: Sequence[Cell], layers: Sequence[str], max_rows: int = 24) -> Any | None:
    """Reconstructions, one row per image × model × weights × preset × seed, one column per layer (target first)."""
    from invert.analysis.plots import image_grid
    from invert.io import load_image

    groups: dict[tuple[Any, ...], dict[str, Cell]] = {}
    for c in cells:
        groups.setdefault((c.image, c.model, c.weights, c.preset, c.seed), {})[c.layer] = c
    rows, labels, target_seen = [], [], False
    for key, by_layer in list(groups.items())[:max_rows]:
        row: list[Any] = [None]
        for layer in layers:
            cell = by_layer.get(layer)
            folder = out / "cells" / (cell.id if cell else "-")
            record = read_cell(folder) if cell else None
            if not record or record["status"] != "complete":
                row.append(None)
                continue
            if row[0] is None and (folder / "target.png").is_file():
                row[0] = load_image(folder / "target.png")
            metrics = json.loads((folder / "metrics.json").read_text())
            best = (metrics.get("best_restart") or [0])[0]
            name = "reconstruction.png" if (folder / "reconstruction.png").is_file() else f"reconstruction_r{best}.png"
            row.append(load_image(folder / name) if (folder / name).is_file() else None)
        target_seen |= row[0] is not None
        rows.append(row)
        image, model, weights, preset, seed = key
        labels.append(
            f"{Path(image).name if image else 'embedded'}\n{model} {weights}\n{preset} "
            f"s{seed if seed is not None else '-'}"
        )
    if not target_seen:
        return None
    more = len(groups) - len(rows)
    return image_grid(
        rows,
        labels,
        ["target", *layers],
        cell=1.8,
        title="reconstructions a_g by layer" + (f" (first {len(rows)} of {len(groups)} rows)" if more > 0 else ""),
    )


def write_figures(out: Path, cells: Sequence[Cell], rows: Sequence[dict[str, Any]]) -> list[Path]:
    """``OUT/summary.png`` and ``OUT/grid.png`` (when at least one cell finished); returns the files written."""
    layers = list(dict.fromkeys(c.layer for c in cells))
    written: list[Path] = []
    if not any(r["status"] == "complete" and r.get("m_g") is not None and math.isfinite(r["m_g"]) for r in rows):
        return written
    for name, fig in (("summary.png", summary_figure(rows, layers)), ("grid.png", grid_figure(out, cells, layers))):
        if fig is None:
            continue
        save_figure(fig, out / name, dpi=110, tight=False)
        written.append(out / name)
    return written
