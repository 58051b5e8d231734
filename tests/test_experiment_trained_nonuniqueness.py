"""`trained-nonuniqueness` (Badger fig. S1): trained CIFAR ResNet-20 inversions below m_s land far from the target."""

from __future__ import annotations

import csv
import math
import statistics

import pytest

from invert.errors import InvertError
from invert.experiments import run_experiment


def test_trained_nonuniqueness_quick(shared, quick_run):
    verdict, folder, _ = quick_run("trained-nonuniqueness")  # shared with the README-verdict test
    assert (folder / "non_uniqueness.png").is_file()
    with open(folder / "inversions.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["layer"] for r in rows} == {"conv2", "conv3"} and len(rows) == 12  # 3 images × 2 starts × 2 layers
    shift = (1 / 20) * math.sqrt(3 * 32 * 32)  # E‖a − a′‖ by hand: σ√n
    assert float(rows[0]["input_shift"]) == pytest.approx(shift, rel=1e-5)
    counted = [r for r in rows if float(r["m_g"]) < float(r["m_s"])]
    assert verdict.outcome == "HELD" and len(counted) == len(rows)
    # measured m_i / ‖a − a′‖ with the default, start N(0.5, 1/20) (round 16): conv2 3.0 ± 1.5 (1.20–4.65), conv3
    # 4.1 ± 1.3 (2.55–5.65); from N(0.7, 1/20) 4.36 ± 0.29 / 5.54 ± 0.06, with the earlier default 5.04 / 6.49
    ratio = {
        layer: statistics.fmean(float(r["m_i"]) / shift for r in counted if r["layer"] == layer)
        for layer in ("conv2", "conv3")
    }
    assert 2.0 < ratio["conv2"] < 4.5 and 3.0 < ratio["conv3"] < 6.0, ratio
    assert ratio["conv2"] < ratio["conv3"]  # the deeper layer keeps less: its inversions land farther
    assert max(float(r["m_i"]) / shift for r in counted) < 15


def test_trained_nonuniqueness_needs_shared(monkeypatch, tmp_path):
    import invert.experiments.trained_nonuniqueness as mod

    monkeypatch.setattr(mod, "shared_dir", lambda: None)
    with pytest.raises(InvertError, match="INVERT_SHARED"):
        run_experiment("trained-nonuniqueness", quick=True, out=tmp_path / "none")
