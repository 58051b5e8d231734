"""`nonuniqueness` (Badger figs. 4–5): after-peak statistics by hand, and the quick run's outcome and key figures."""

from __future__ import annotations

import numpy as np
import pytest

from invert.experiments.nonuniqueness import after_peak


def _spearman_by_hand(x: list[float], y: list[float]) -> float:
    """Pearson correlation of the ranks (no ties in the inputs used here)."""
    rx, ry = np.argsort(np.argsort(x)).astype(float), np.argsort(np.argsort(y)).astype(float)
    return float(np.corrcoef(rx, ry)[0, 1])


def test_after_peak_starts_at_the_maximum_and_ranks_like_numpy():
    m_g = [5.0, 9.0, 7.0, 4.0, 2.0, 1.0]  # peak at index 1, then a 9× fall
    m_i = [3.0, 3.5, 3.6, 3.8, 3.7, 4.0]  # m_i mostly rises while m_g falls
    s = after_peak(m_g, m_i)
    assert s["peak_index"] == 1 and s["m_g_peak"] == 9.0
    assert s["m_g_fall"] == pytest.approx(9.0) and s["m_i_change"] == pytest.approx(4.0 / 3.5)
    assert s["spearman"] == pytest.approx(_spearman_by_hand(m_g[1:], m_i[1:]))
    assert s["spearman"] < 0  # hand check: ranks of (9,7,4,2,1) vs (3.5,3.6,3.8,3.7,4.0) → ρ = −0.9
    assert s["spearman"] == pytest.approx(-0.9)
    # m_i = 3·m_g^½ after the peak: the log-log slope is exactly ½ and the ranks agree perfectly
    g = [1.0, 16.0, 8.0, 4.0, 1.0]
    half = after_peak(g, [3.0 * v**0.5 for v in g])
    assert half["slope"] == pytest.approx(0.5, abs=1e-12) and half["spearman"] == pytest.approx(1.0)
    flat = after_peak(g, [5.0] * len(g))
    assert flat["slope"] == pytest.approx(0.0, abs=1e-12)


def _layer(fall: float, slope: float, rho: float, below: bool = True) -> dict:
    return {
        "layer": "conv5", "lr_start": 0.01, "m_g_peak": 10.0, "peak_iteration": 3, "m_g_end": 10.0 / fall,
        "m_g_fall": fall, "m_i_at_peak": 5.0, "m_i_end": 5.0, "m_i_change": 1.0, "slope": slope, "spearman": rho,
        "m_s": 2.0 if below else 1e-9, "m_g_min": 10.0 / fall, "below_ms_at": 40 if below else -1,
    }  # fmt: skip


def test_layer_verdict_needs_orders_of_magnitude_and_m_i_not_following():
    from invert.experiments.nonuniqueness import CRITERION, layer_verdict

    assert CRITERION["mg_decay"] == 100.0  # "orders of magnitude", the same at every setting
    few = layer_verdict(_layer(7.4, 0.01, -0.2))  # the quick run's 7× fall: a regime the claim does not address
    assert few.outcome == "INCONCLUSIVE" and "fell only 7.4×" in few.measured
    assert layer_verdict(_layer(300.0, 0.01, -0.6)).outcome == "HELD"
    # m_i falls with m_g in rank (ρ +0.75) although the slope is small: not "m_i does not follow"
    assert layer_verdict(_layer(300.0, 0.05, 0.75)).outcome == "NOT REPRODUCED"
    assert layer_verdict(_layer(300.0, 0.3, -0.1)).outcome == "NOT REPRODUCED"
    assert layer_verdict(_layer(300.0, 0.01, -0.6, below=False)).outcome == "INCONCLUSIVE"


def test_nonuniqueness_quick_outcome_and_figures(quick_run):
    verdict, folder, _ = quick_run("nonuniqueness")  # shared with the README-verdict test
    for f in ("distances.png", "history.csv", "summary.csv", "summary.md", "config.json", "verdict.json"):
        assert (folder / f).is_file()
    parts = {p.claim.split(":")[0]: p for p in verdict.parts}
    c2, c5 = parts["conv2"], parts["conv5"]
    # 100 steps at 32 px: m_g falls several-fold (measured conv5 7.4×), not by orders of magnitude — INCONCLUSIVE by
    # design at this setting, whatever m_i does (conv2's m_i falls with m_g: slope 0.18; conv5's stays flat)
    for part in (c2, c5):
        assert part.details["m_g_min"] < part.details["m_s"] and 2.0 <= part.details["m_g_fall"] < 100.0
        assert part.outcome == "INCONCLUSIVE" and "fell only" in part.measured
    assert verdict.outcome == "INCONCLUSIVE"
    assert "Criterion" in (folder / "summary.md").read_text()
