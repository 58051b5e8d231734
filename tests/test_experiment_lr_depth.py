"""`lr-by-depth` (Badger appendix): the badger procedure's line-searched ε at conv1…conv5 — the quick run."""

from __future__ import annotations

import csv


def test_lr_by_depth_quick(quick_run):
    verdict, folder, _ = quick_run("lr-by-depth")  # shared with the README-verdict test
    assert (folder / "chosen_lr.png").is_file()
    with open(folder / "line_search.csv") as fh:
        rows = list(csv.DictReader(fh))
    chosen = verdict.details["chosen"]
    for layer, lr in chosen.items():  # the chosen ε is the trial with the smallest m_g at that layer
        trials = [r for r in rows if r["layer"] == layer]
        best = min(trials, key=lambda r: float(r["m_g"]))
        assert abs(float(best["lr"]) - lr) <= 1e-5 * lr
    # measured (32 px, 10 trials × 20 steps): conv1 0.69, conv2 0.15, conv3 0.030, conv4 0.019, conv5 0.028 — ε falls
    # 36× from conv1 to conv4, but conv5 picks a larger ε than conv4 and conv1/conv5 is 25 < 100: NOT REPRODUCED
    eps = [chosen[la] for la in ("conv1", "conv2", "conv3", "conv4", "conv5")]
    assert eps[0] > eps[1] > eps[2] >= eps[3] and eps[0] / eps[3] > 10
    assert 0.1 <= eps[0] <= 2.5  # conv1 near the appendix's 1/2
    assert 3 < verdict.details["ratio"] < 100 and verdict.details["ratio"] == eps[0] / eps[-1]
    trend, magnitude = verdict.parts
    # 32 px is a regime the appendix's ε (299 px) does not address: INCONCLUSIVE by design, the figures reported
    assert [verdict.outcome, trend.outcome, magnitude.outcome] == ["INCONCLUSIVE"] * 3
    assert "INCONCLUSIVE: 32 px < 224 px" in trend.measured


def test_lr_verdict_at_the_reports_size():
    from invert.experiments.lr_depth import FULL, lr_verdict

    layers = FULL["layers"]
    report = dict(zip(layers, [0.5, 0.1, 0.02, 0.005, 1e-3], strict=True))
    v = lr_verdict(report, FULL)
    assert [v.outcome, *(p.outcome for p in v.parts)] == ["HELD", "HELD", "HELD"]
    # the quick run's figures, had they been measured at 299 px: conv5 above conv4 and a 25× ratio
    quick = dict(zip(layers, [0.69, 0.15, 0.03, 0.019, 0.028], strict=True))
    assert lr_verdict(quick, FULL).outcome == "NOT REPRODUCED"
    assert lr_verdict(report, {**FULL, "size": 32}).outcome == "INCONCLUSIVE"
