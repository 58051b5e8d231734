"""``architectures`` (fig. 3): the quick run's outcome — every untrained ResNet reaches m_g < m_s;
ResNet-152 vs ResNet-50.
"""

from __future__ import annotations

import csv

import pytest

from invert.experiments.registry import run_experiment


def test_architectures_quick_outcome(tmp_path):
    v, folder = run_experiment(
        "architectures", quick=True, out=tmp_path / "arch"
    )  # embedded photo if ../shared is absent
    with open(folder / "architectures.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["model"] for r in rows] == ["resnet18", "resnet50", "resnet152"]  # quick: conv5, one seed
    assert (folder / "architectures_grid.png").is_file()
    below, deeper = v.parts
    # ε is line-searched on a log scale over [10⁻³, 1] / the layer's mean |activation|: untrained ResNet-152's conv5
    # (activations ~1e4 here) gets ε ~3e-6 and reaches m_g < m_s at iteration 2 (the fixed 0.01–1 range diverged,
    # final m_g/m_s 4.7e3 — a bug, not the claim); ResNet-18 and ResNet-50 get ε ~1.6 and ~0.03
    for r in rows:
        assert r["converged"] == "True" and float(r["m_g"]) < float(r["m_s"]), r
        assert float(r["lr_low"]) <= float(r["lr"]) <= float(r["lr_high"])
        assert float(r["lr_high"]) == pytest.approx(1e3 * float(r["lr_low"]), rel=1e-6)
    assert float(rows[2]["lr_high"]) < 1e-2 < float(rows[0]["lr_high"])  # the range follows the scale
    assert below.outcome == "HELD"
    # one seed gives no spread, so "ResNet-152 is worse than ResNet-50" cannot be judged at quick scale
    assert deeper.outcome == "INCONCLUSIVE" and "too few converged pairs (1 < 2)" in deeper.measured
    assert v.outcome == "INCONCLUSIVE"


def test_experiment_run_passes_the_executor_through(cli, tmp_path):
    r = cli("experiment", "run", "architectures", "--quick", "--executor", "nope", "--out", str(tmp_path / "x"))
    assert r.code == 2 and "unknown executor 'nope'" in r.err and "Traceback" not in r.err
    r = cli("experiment", "run", "architectures", "--quick", "--workers", "0", "--out", str(tmp_path / "y"))
    assert r.code == 2 and "--workers must be at least 1" in r.err
