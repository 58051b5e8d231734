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


def test_shifted_output_quick_direction_held_magnitude_not(quick_run):
    verdict, folder, _ = quick_run("shifted-output")  # shared with the README-verdict test
    for f in ("input_distances.png", "examples.png", "distances.csv", "metrics.json", "summary.md", "config.json"):
        assert (folder / f).is_file()
    direction, magnitude = verdict.parts
    assert verdict.outcome == "HELD" and direction.outcome == "HELD"
    assert magnitude.outcome == "NOT REPRODUCED"  # the text's 10⁶-fold is not reached at this size
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
