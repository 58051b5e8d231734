"""After a run: the signs that its numbers mean less than they seem, said as warnings and recorded with the results.

- m_g ended above where it started (or the image is saturated, nearly every pixel 0 or 1): the run diverged,
  usually a learning rate too high for the layer — a ``complete`` status alone would not say so.
- The start was already below m_s: m_s is degenerate for this layer (noise of that size changes the embedding less
  than any image does), so "m_g < m_s" means nothing there.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

#: Share of pixels at 0 or 1 (or beyond) above which a reconstruction counts as saturated.
SATURATED = 0.9


def _ends(history: list[dict[str, float]]) -> tuple[dict[Any, dict], dict[Any, dict]]:
    """Per (target, restart): the first and the last recorded row."""
    first: dict[Any, dict] = {}
    last: dict[Any, dict] = {}
    for row in history:
        key = (row.get("target"), row.get("restart"))
        if key not in first or row["iteration"] < first[key]["iteration"]:
            first[key] = row
        if key not in last or row["iteration"] >= last[key]["iteration"]:
            last[key] = row
    return first, last


def run_warnings(result: Any) -> list[str]:
    """What is suspicious about a finished inversion (:class:`~invert.inversion.InversionResult`), one line each."""
    said = []
    first, last = _ends(result.history or [])
    rose = [(first[k]["m_g"], last[k]["m_g"]) for k in first if last[k]["m_g"] > first[k]["m_g"]]
    if rose and result.iterations > 0:
        a, b = rose[0]
        said.append(
            f"m_g rose from {a:.4g} at the start to {b:.4g} at the end ({len(rose)} of {len(first)} images × restarts):"
            " the run diverged — lower --lr"
        )
    images = result.images.detach().float()
    saturated = float(((images <= 0) | (images >= 1)).float().mean()) if images.numel() else 0.0
    if saturated > SATURATED:
        said.append(
            f"the reconstruction is saturated: {100 * saturated:.0f}% of its pixels are 0 or 1 — the run diverged; "
            "lower --lr"
        )
    below = [(first[k]["m_g"], first[k]["m_s"]) for k in first if first[k]["m_g"] < first[k]["m_s"]]
    if below:
        g, s = below[0]
        said.append(
            f"the start is already below m_s (m_g {g:.4g} < m_s {s:.4g} before the first step): m_s is degenerate "
            "for this layer, so m_g < m_s means nothing here"
        )
    return said


def record_warnings(folder: str | Path, said: list[str], warn: bool = True) -> None:
    """Add ``warnings`` to the run's metrics.json and config.json, and say each (as a :class:`UserWarning`)."""
    from invert.io import write_json

    if not said:
        return
    for name in ("metrics.json", "config.json"):
        path = Path(folder) / name
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        data["warnings"] = said
        write_json(path, data)
    if warn:
        for text in said:
            warnings.warn(text, UserWarning, stacklevel=2)
