"""decoder-epochs (fig. 11), decoder-artificial-logits (fig. 17), decoder-ce-weight (eq. 14):
quick outcomes and key figures.
"""

from __future__ import annotations

import json
import math

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
    rows = {r["layer"]: r for r in json.loads((folder / "verdict.json").read_text())["details"]["rows"]}
    assert list(rows) == ["conv2", "conv3", "conv4", "avgpool", "fc"]
    assert (folder / "epochs.csv").is_file() and (folder / "decoders" / "loss_curves.png").is_file()
    # measured (≤ 6 epochs, patience 2): which decoders early-stop varies between runs and machines — one run: conv3,
    # avgpool and fc, best at epochs 3, 4, 4 (ρ = 0.87, HELD); another: only conv3 (3) and fc (1), INCONCLUSIVE. Never
    # NOT REPRODUCED, and the conv2 decoder is still improving at epoch 6 (its best) in every run
    saturated = [l for l, r in rows.items() if r["stopped_early"]]
    assert verdict.outcome in ("HELD", "INCONCLUSIVE") and (verdict.outcome == "INCONCLUSIVE") == (len(saturated) < 3)
    assert not rows["conv2"]["stopped_early"]
    if verdict.outcome == "HELD":
        assert verdict.details["spearman"] >= 0.5
        assert rows[saturated[-1]]["best_epoch"] > rows[saturated[0]]["best_epoch"]
    # the rows agree with each decoder's own training history (best = lowest validation loss; early-stopped = the
    # patience of 2 epochs ran out without a better one), and later checkpoints are harder to decode
    for layer, row in rows.items():
        history = json.loads((folder / "decoders" / layer / "result.json").read_text())["history"]
        losses = [h["val_loss"] for h in history]
        assert row["best_epoch"] == 1 + losses.index(min(losses))
        assert row["stopped_early"] == (len(history) - row["best_epoch"] >= 2)
    mse = [rows[l]["best_val_mse"] for l in ("conv2", "conv3", "conv4", "avgpool")]
    assert mse == sorted(mse) and 0.002 < mse[0] < 0.006 and 0.04 < mse[-1] < 0.06


def test_decoder_artificial_logits_quick(shared, tmp_path):
    from invert.experiments import run_experiment

    verdict, folder = run_experiment("decoder-artificial-logits", quick=True, out=tmp_path / "al")
    d = verdict.details
    assert (folder / "artificial_logits.png").is_file()
    counts = json.loads((folder / "artificial_logits.json").read_text())["class_counts"]
    assert sum(counts["one_hot"]) == 10 * 15 and len(counts["one_hot"]) == 10
    assert len(d["one_hot_classes"]) == sum(c > 0 for c in counts["one_hot"])
    assert sum(counts["random"]) == 200 and sum(counts["real"]) == 100
    # measured: the logit decoder (MSE 0.054) beats the mean image (0.058), so the claim is judged; one-hot logits
    # decode into few classes — on one machine bird 18, cat 121, deer 10, ship 1 of 150 (effective number 1.90, the
    # commonest two 93 %), on another (same code, torch and seed) bird 54, cat 61, deer 34, ship 1 (3.01, 77 %), which
    # is just over the criterion's 3, so the "few classes" part is HELD on one and NOT REPRODUCED on the other; 10 %
    # and 16 % of the confident ones went into the raised class (that part HELD on both)
    assert d["test_mse"] < d["mean_image_mse"] and 0.04 < d["mean_image_mse"] < 0.08
    few, confident = verdict.parts
    assert confident.outcome == "HELD" and d["raised_share"] <= 0.3
    assert 1.0 <= d["effective_classes"] <= 3.5 and d["top2_share"] >= 0.7  # far from the 10 of a uniform decode
    assert few.outcome in ("HELD", "NOT REPRODUCED") and verdict.outcome == few.outcome
    shares = [c / 150 for c in counts["one_hot"] if c]  # the figure, recomputed from the written histogram
    assert d["effective_classes"] == pytest.approx(math.exp(-sum(q * math.log(q) for q in shares)))


def test_effective_number_of_classes_against_hand_values():
    from invert.experiments.decoder_claims import effective_classes

    assert effective_classes([0, 7, 0]) == pytest.approx(1.0)  # one class
    assert effective_classes([5] * 10) == pytest.approx(10.0)  # uniform over 10
    assert effective_classes([1, 1, 2]) == pytest.approx(2 * 2**0.5)  # H = 1.5 ln 2 → e^H = 2^1.5
    # a stray image in a fourth class barely moves it (the distinct count goes 3 → 4)
    assert effective_classes([18, 121, 10, 1]) - effective_classes([18, 122, 10]) < 0.08


def test_decoder_ce_weight_quick(shared, tmp_path):
    from invert.experiments import run_experiment

    verdict, folder = run_experiment("decoder-ce-weight", quick=True, out=tmp_path / "ce")
    rows = verdict.details["rows"]
    assert [(r["seed"], r["ce_weight"]) for r in rows] == [(0, 0.0), (0, 0.05), (1, 0.0), (1, 0.05)]
    assert (folder / "ce_weight.csv").is_file() and (
        folder / "decoders" / "ce0.05_seed1" / "avgpool" / "decoder.pt"
    ).is_file()
    # measured here (avgpool, 300 images, ≤ 6 epochs): accuracy 14.5 ± 2.1 % with MSE alone, 53.5 ± 2.1 % with
    # c = 0.05 (originals 79 %), +39.0 points against a spread of 4.2, at nearly the same MSE (0.059 → 0.060)
    assert verdict.outcome == "HELD" and verdict.details["difference"] > max(0.2, verdict.details["spread"])
    by = {(r["seed"], r["ce_weight"]): r for r in rows}
    for seed in (0, 1):
        assert by[(seed, 0.05)]["accuracy"] > by[(seed, 0.0)]["accuracy"] + 0.15
        assert by[(seed, 0.05)]["mse"] < 1.2 * by[(seed, 0.0)]["mse"] and by[(seed, 0.0)]["mse"] < 0.07
    assert 0.7 <= rows[0]["accuracy_original"] <= 0.9
