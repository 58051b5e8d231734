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


def test_nonuniqueness_quick_outcome_and_figures(quick_run):
    verdict, folder, _ = quick_run("nonuniqueness")  # shared with the README-verdict test
    for f in ("distances.png", "history.csv", "summary.csv", "summary.md", "config.json", "verdict.json"):
        assert (folder / f).is_file()
    parts = {p.claim.split(":")[0]: p for p in verdict.parts}
    c2, c5 = parts["conv2"], parts["conv5"]
    # conv5 (fig. 5): m_g falls several-fold after its peak while m_i stays flat (measured 7.4×, slope ≈ 0.01, 32 px)
    assert c5.outcome == "HELD"
    assert 3.0 <= c5.details["m_g_fall"] <= 100.0 and abs(c5.details["slope"]) <= 0.1 and c5.details["m_i_change"] > 0.9
    assert c5.details["m_g_min"] < c5.details["m_s"]
    # conv2 (fig. 4) at the quick scale: m_g gets below m_s, but m_i falls with m_g (measured slope 0.18; photo 0.14)
    assert c2.details["m_g_min"] < c2.details["m_s"]
    assert c2.outcome == "NOT REPRODUCED" and 0.1 < c2.details["slope"] < 1.0 and c2.details["m_i_change"] < 0.9
    assert verdict.outcome == "NOT REPRODUCED"
    assert "Criterion" in (folder / "summary.md").read_text()
