"""`shifted-output` (Badger fig. S2): the quick run's outcome, its two parts, and the key figure."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from invert.experiments import run_experiment


def _ratios(folder) -> np.ndarray:
    """‖a − a″‖ / ‖a − a′‖ per draw, recomputed from the two distances the CSV holds (6 significant digits)."""
    with open(folder / "distances.csv") as fh:
        return np.array([float(r["input_error_shifted_output"]) / float(r["input_shift"]) for r in csv.DictReader(fh)])


def test_judged_on_the_documents_million_fold():
    from invert.experiments.shifted_output import judge_ratios

    # the full setting's figures (29 px, 1000 draws): median 3.8e4, no draw above 10⁶ — far, but not the claim
    far = np.full(1000, 3.8e4)
    assert judge_ratios(far)[:2] == (False, True)
    assert judge_ratios(np.full(100, 2e6))[:2] == (True, True)
    assert judge_ratios(np.r_[np.full(94, 2e6), np.full(6, 0.5)])[:2] == (False, False)  # 94 % < 95 %


def test_shifted_output_quick_direction_held_magnitude_not(quick_run):
    verdict, folder, _ = quick_run("shifted-output")  # shared with the README-verdict test
    for f in ("input_distances.png", "examples.png", "distances.csv", "metrics.json", "summary.md", "config.json"):
        assert (folder / f).is_file()
    direction, magnitude = verdict.parts
    # judged on the document's number: no draw is 10⁶-fold farther at this size, so the claim is not reproduced
    assert verdict.outcome == "NOT REPRODUCED" and direction.outcome == "HELD"
    assert magnitude.outcome == "NOT REPRODUCED" and verdict.details["fraction_above_claim"] < 0.95
    median = verdict.details["median_ratio"]
    assert 300 < median < 1e5  # measured 3.2e3 (Dalmatian, 12 px)
    assert median == pytest.approx(np.median(_ratios(folder)), rel=1e-4) and verdict.details["fraction_farther"] >= 0.99
    text = (folder / "summary.md").read_text()
    assert "HELD" in text and "NOT REPRODUCED" in text and "Criterion" in text


def test_shifted_output_code_sigma_lands_close(tmp_path):
    # the code's σ = 1e-7 shifts outputs 10⁴× less: a″ lies near a and the direction part must fail
    params = {"sigma_out": 1e-7, "draws": 50}
    verdict, folder = run_experiment("shifted-output", quick=True, out=tmp_path / "s7", params=params)
    assert np.median(_ratios(folder)) < 100 and verdict.outcome == "NOT REPRODUCED"
