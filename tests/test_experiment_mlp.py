"""`mlp-width` (figs. 6–7) and `mlp-depth` (fig. 8): the quick runs' outcomes and key figures."""

from __future__ import annotations

import csv
import itertools


def _rows(path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_mlp_width_quick_narrow_first_layer_stalls(quick_run):
    verdict, folder, _ = quick_run("mlp-width")  # shared with the README-verdict test
    assert verdict.outcome == "HELD"
    rows = _rows(folder / "width_sweep.csv")
    n = int(rows[0]["input_size"])
    narrow = [r for r in rows if int(r["width"]) < n]
    wide = [r for r in rows if int(r["width"]) >= n]
    assert narrow and wide
    # measured: m_i 3.50 / 2.65 / 2.54 at widths 96 / 192 / 307 (input 192); narrow: m_g fell ≥ 10×, m_i stalled
    assert min(float(r["m_i"]) for r in narrow) > 1.15 * max(float(r["m_i"]) for r in wide)
    for r in narrow:
        assert float(r["m_g"]) < 0.1 * float(r["m_g_start"]) and float(r["m_i_last_quarter_decrease"]) < 0.02
    assert (folder / "m_i_vs_width.png").is_file() and (folder / "distances_vs_iteration.png").is_file()


def test_mlp_depth_quick_deeper_is_slower_but_converging(quick_run):
    verdict, folder, _ = quick_run("mlp-depth")  # shared with the README-verdict test
    assert verdict.outcome == "HELD"
    rows = _rows(folder / "depth_sweep.csv")
    early = [float(r["m_i_early"]) for r in rows]
    # measured m_i at iteration 300: 2.24, 3.13, 3.65, 3.99 for depth 1–4 — each deeper net slower
    assert [int(r["depth"]) for r in rows] == [1, 2, 3, 4]
    assert all(b > a for a, b in itertools.pairwise(early)) and early[-1] > 1.3 * early[0]
    assert all(float(r["m_i"]) < float(r["m_i_half"]) < float(r["m_i_start"]) for r in rows)
