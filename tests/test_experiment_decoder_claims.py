"""decoder-epochs (fig. 11), decoder-artificial-logits (fig. 17), decoder-ce-weight (eq. 14): quick outcomes and key figures."""

from __future__ import annotations

import json

import pytest


pytestmark = pytest.mark.usefixtures("decoder_cache")  # one decoder cache per session: decoders train once


def test_spearman_against_hand_ranks():
    from invert.experiments.decoder_claims import _spearman

    assert _spearman([1, 2, 3, 4], [2, 3, 5, 9]) == pytest.approx(1.0)
    assert _spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # ranks (1, 2, 3, 4) vs (1.5, 1.5, 3, 4): 1 − 6Σd²/(n(n²−1)) does not apply with ties; Pearson on ranks = 0.9487
    assert _spearman([1, 2, 3, 4], [5, 5, 6, 7]) == pytest.approx(0.9486833, abs=1e-6)
    assert _spearman([1, 2, 3], [4, 4, 4]) == 0.0


def test_decoder_epochs_quick(shared, tmp_path):
    from invert.experiments import run_experiment

    verdict, folder = run_experiment("decoder-epochs", quick=True, out=tmp_path / "ep")
    rows = json.loads((folder / "verdict.json").read_text())["details"]["rows"]
    assert [r["layer"] for r in rows] == ["conv2", "conv3", "conv4", "avgpool", "fc"]
    assert (folder / "epochs.csv").is_file() and (folder / "decoders" / "loss_curves.png").is_file()
    # two epochs with patience 2 cannot early-stop: every decoder still improving, nothing to rank
    assert verdict.outcome == "INCONCLUSIVE" and "only 0 of 5 decoders saturated" in verdict.measured
    assert all(r["best_epoch"] == 2 and r["epochs_run"] == 2 and not r["stopped_early"] for r in rows)


def test_decoder_artificial_logits_quick(shared, tmp_path):
    from invert.experiments import run_experiment

    verdict, folder = run_experiment("decoder-artificial-logits", quick=True, out=tmp_path / "al")
    d = verdict.details
    assert (folder / "artificial_logits.png").is_file()
    counts = json.loads((folder / "artificial_logits.json").read_text())["class_counts"]
    assert sum(counts["one_hot"]) == 10 * 15 and len(counts["one_hot"]) == 10
    assert len(d["one_hot_classes"]) == sum(c > 0 for c in counts["one_hot"])
    assert sum(counts["random"]) == 200 and sum(counts["real"]) == 100
    # measured here: the quick logit decoder (MSE 0.068) does not beat the mean image (0.058) → not judged;
    # its one-hot decodings fall into 3 classes, 16 % of them the raised one
    assert verdict.outcome == "INCONCLUSIVE" and d["test_mse"] > d["mean_image_mse"]
    assert 0.04 < d["mean_image_mse"] < 0.08 and d["test_mse"] < 0.15
    assert 1 <= len(d["one_hot_classes"]) <= 6 and 0.0 <= d["raised_share"] <= 0.4
    assert all(p.held is None for p in verdict.parts)


def test_decoder_ce_weight_quick(shared, tmp_path):
    from invert.experiments import run_experiment

    verdict, folder = run_experiment("decoder-ce-weight", quick=True, out=tmp_path / "ce")
    rows = verdict.details["rows"]
    assert [(r["seed"], r["ce_weight"]) for r in rows] == [(0, 0.0), (0, 0.05), (1, 0.0), (1, 0.05)]
    assert (folder / "ce_weight.csv").is_file() and (folder / "decoders" / "ce0.05_seed1" / "avgpool" / "decoder.pt").is_file()
    # measured here: one epoch of 86 images — accuracy 10.0 ± 0.0 % without the term, 11.5 ± 7.8 % with it (originals 79 %),
    # MSE ≈ 0.22: undertrained decoders, no separation beyond the spread over seeds → no verdict
    assert verdict.outcome == "INCONCLUSIVE" and "saturation: 0 of 4" in verdict.measured
    assert all(r["accuracy"] <= 0.35 and r["mse"] > 0.06 and not r["stopped_early"] for r in rows)
    assert 0.7 <= rows[0]["accuracy_original"] <= 0.9
