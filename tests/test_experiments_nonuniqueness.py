"""The §4 experiments' quick runs write their files, and each verdict follows from the data they wrote."""

import csv
import json

import numpy as np
import pytest

from invert.experiments import list_experiments, run_experiment


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_experiments_are_registered():
    names = {e.name for e in list_experiments()}
    assert {"shifted-output", "precision", "conditioning"} <= names


def test_shifted_output_quick(tmp_path):
    verdict, folder = run_experiment("shifted-output", quick=True, out=tmp_path / "s", seed=0)
    for f in ("input_distances.png", "examples.png", "distances.csv", "metrics.json", "summary.md", "config.json"):
        assert (folder / f).is_file()
    ratio = np.array([float(r["ratio"]) for r in _rows(folder / "distances.csv")])
    assert verdict.held == bool((ratio > 1).mean() >= 0.95 and np.median(ratio) >= 100)
    assert json.loads((folder / "config.json").read_text())["params"]["sigma_out"] == 1e-3
    assert "HELD" in (folder / "summary.md").read_text()


def test_shifted_output_verdict_turns_with_the_data(tmp_path):
    # the code's σ = 1e-7 shifts outputs 10⁴× less: a″ is then close to a and the claim must not be reported as held
    verdict, folder = run_experiment("shifted-output", quick=True, out=tmp_path / "s7", params={"sigma_out": 1e-7, "draws": 50})
    ratio = np.array([float(r["ratio"]) for r in _rows(folder / "distances.csv")])
    assert np.median(ratio) < 100 and not verdict.held


def test_precision_quick(tmp_path):
    verdict, folder = run_experiment("precision", quick=True, out=tmp_path / "p", params={"depths": [1, 3], "seeds": 1})
    rows = _rows(folder / "errors.csv")
    e64 = max(float(r["relative_error"]) for r in rows if r["dtype"] == "float64" and int(r["depth"]) >= 3)
    e32 = min(float(r["relative_error"]) for r in rows if r["dtype"] == "float32" and int(r["depth"]) >= 3)
    assert verdict.held == (e64 < 1e-6 and e32 > 1e-2)
    assert (folder / "relative_error.png").is_file()


def test_conditioning_quick(tmp_path):
    verdict, folder = run_experiment("conditioning", quick=True, out=tmp_path / "c", params={"depths": [1, 2, 3], "layers": ["conv1"]})
    conds = [float(r["condition"]) for r in _rows(folder / "mlp_spectra.csv")]
    assert verdict.held == (all(b > a for a, b in zip(conds, conds[1:])) and conds[2] > 1e4)
    for f in ("mlp_spectra.png", "resnet50_top_singular_values.png", "resnet50_jacobian.csv", "verdict.json"):
        assert (folder / f).is_file()


def test_mlp_width_quick(tmp_path):
    verdict, folder = run_experiment("mlp-width", quick=True, out=tmp_path / "w", params={"iterations": 800, "record_every": 40})
    rows = _rows(folder / "width_sweep.csv")
    n = int(rows[0]["input_size"])
    under = [r for r in rows if int(r["width"]) < n]
    over = [r for r in rows if int(r["width"]) >= n]
    mean = lambda rs: sum(float(r["m_i"]) for r in rs) / len(rs)  # noqa: E731
    plateau = all(float(r["m_i_last_quarter_decrease"]) < 0.02 for r in under)
    fell = all(float(r["m_g"]) < 0.1 * float(r["m_g_start"]) for r in under)
    assert verdict.held == (mean(under) > mean(over) and plateau and fell)
    assert (folder / "m_i_vs_width.png").is_file() and (folder / "distances_vs_iteration.png").is_file()


def test_mlp_depth_quick(tmp_path):
    verdict, folder = run_experiment("mlp-depth", quick=True, out=tmp_path / "d", params={"depths": [1, 3], "iterations": 600, "record_every": 30})
    rows = _rows(folder / "depth_sweep.csv")
    f = lambda r, k: float(r[k])  # noqa: E731
    held = f(rows[-1], "m_i_early") > f(rows[0], "m_i_early") and all(f(r, "m_i") < f(r, "m_i_half") < f(r, "m_i_start") for r in rows)
    assert verdict.held == held
    assert (folder / "m_i_vs_iteration.png").is_file()
