"""decoder-epochs (fig. 11), decoder-artificial-logits (fig. 17), decoder-ce-weight (eq. 14):
quick outcomes and key figures.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

pytestmark = pytest.mark.usefixtures("decoder_cache")  # one decoder cache per session: decoders train once


def _ep(best: list[int], stopped: list[bool], cap: int = 6) -> list[dict]:
    return [
        {"layer": f"c{i}", "best_epoch": b, "stopped_early": s, "epochs_run": min(cap, b + 2) if s else cap}
        for i, (b, s) in enumerate(zip(best, stopped, strict=True))
    ]


def test_decoder_epochs_keeps_unsaturated_decoders_as_needing_more():
    from invert.experiments.decoder_claims import censored_concordance, epochs_judgement

    # the quick run's pattern: conv2 still improving at epoch 6, conv3 stopped at 3, conv4/avgpool improving, fc at 1
    quick = _ep([6, 3, 6, 6, 1], [False, True, False, False, True])
    assert censored_concordance(quick) == (2, 5)  # conv3<conv4, conv3<avgpool; conv2>conv3, conv2>fc, … > fc
    held, tau, *_ = epochs_judgement(quick)
    assert held is False and tau == pytest.approx(-3 / 7)  # the old rule dropped conv2, conv4, avgpool
    # another machine: conv3, avgpool, fc stopped at 3, 3, 4 (the old rule: ρ = 0.87 over those three, HELD)
    other = _ep([6, 3, 6, 3, 4], [False, True, False, True, True])
    assert epochs_judgement(other)[0] is False
    assert epochs_judgement(_ep([1, 2, 3, 6, 6], [True, True, True, False, False]))[0] is True  # later need more
    none = epochs_judgement(_ep([6] * 5, [False] * 5))  # nothing saturated: no pair can be ordered
    assert none[0] is None and "can be ordered" in none[4]


def test_decoder_epochs_quick(shared, tmp_path):
    from invert.experiments import run_experiment

    verdict, folder = run_experiment("decoder-epochs", quick=True, out=tmp_path / "ep")
    rows = {r["layer"]: r for r in json.loads((folder / "verdict.json").read_text())["details"]["rows"]}
    assert list(rows) == ["conv2", "conv3", "conv4", "avgpool", "fc"]
    assert (folder / "epochs.csv").is_file() and (folder / "decoders" / "loss_curves.png").is_file()
    assert (folder / "val_mse.png").is_file()
    # ≤ 6 epochs, patience 2: the first checkpoint's decoder (conv2) is still improving at epoch 6 while later ones
    # stop — it needs more epochs than they do, the reverse of the claim, whichever later ones stop on a machine
    assert not rows["conv2"]["stopped_early"] and any(r["stopped_early"] for r in rows.values())
    assert verdict.outcome == "NOT REPRODUCED" and verdict.details["tau"] < 0.5
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
    # measured: the logit decoder's MSE (0.054) is 0.93 of the mean image's (0.058) — not clearly better (≤ 0.75), so
    # its few classes say nothing about the logits: INCONCLUSIVE by design at this setting (on two machines the
    # effective number was 1.90 and 3.01, either side of the 3 the parts use)
    assert 0.04 < d["mean_image_mse"] < 0.08 and 0.75 * d["mean_image_mse"] < d["test_mse"] < d["mean_image_mse"]
    assert verdict.outcome == "INCONCLUSIVE" and "not clearly better" in verdict.measured
    assert [p.outcome for p in verdict.parts] == ["INCONCLUSIVE", "INCONCLUSIVE"]
    assert d["raised_share"] <= 0.3 and 1.0 <= d["effective_classes"] <= 3.5
    shares = [c / 150 for c in counts["one_hot"] if c]  # the figure, recomputed from the written histogram
    assert d["effective_classes"] == pytest.approx(math.exp(-sum(q * math.log(q) for q in shares)))


def test_effective_number_of_classes_against_hand_values():
    from invert.experiments.decoder_claims import effective_classes

    assert effective_classes([0, 7, 0]) == pytest.approx(1.0)  # one class
    assert effective_classes([5] * 10) == pytest.approx(10.0)  # uniform over 10
    assert effective_classes([1, 1, 2]) == pytest.approx(2 * 2**0.5)  # H = 1.5 ln 2 → e^H = 2^1.5
    # a stray image in a fourth class barely moves it (the distinct count goes 3 → 4)
    assert effective_classes([18, 121, 10, 1]) - effective_classes([18, 122, 10]) < 0.08


def test_effective_classes_controls_on_real_predictions():
    """Positive control: a classifier's predictions on real test images spread over the classes (near 10); negative
    control: predictions of one constant image fall in one class (exactly 1)."""
    from invert.experiments.decoder_claims import effective_classes

    y = torch.arange(10).repeat(15)  # a balanced set's labels, as a perfect classifier predicts them
    assert effective_classes(torch.bincount(y, minlength=10).tolist()) == pytest.approx(10.0)
    assert effective_classes(torch.bincount(torch.full((150,), 3), minlength=10).tolist()) == pytest.approx(1.0)
    assert effective_classes([121, 18, 10, 1, 0, 0, 0, 0, 0, 0]) < 3.0 < effective_classes([15] * 3 + [5] * 7)


def test_ce_weight_is_judged_by_independent_classifiers():
    from invert.experiments.decoder_ce import ce_verdict, judge_gain

    assert judge_gain([0.10, 0.11, 0.12], [0.40, 0.42, 0.41], saturated=False)[0] is True
    assert judge_gain([0.40, 0.42, 0.41], [0.10, 0.11, 0.12], saturated=False)[0] is False
    assert judge_gain([0.10, 0.14, 0.12], [0.12, 0.13, 0.11], saturated=False)[0] is None  # overlapping, undertrained
    assert judge_gain([0.10, 0.14, 0.12], [0.12, 0.13, 0.11], saturated=True)[0] is False  # no gain, saturated
    assert judge_gain([0.10, 0.11], [0.40, 0.42], saturated=True)[0] is None  # two seeds: too few

    def row(seed: int, w: float, own: float, r32: float, r56: float) -> dict:
        return {"seed": seed, "ce_weight": w, "accuracy": own, "mse": 0.06, "stopped_early": False,
                "accuracy_cifar_resnet32": r32, "accuracy_cifar_resnet56": r56}  # fmt: skip

    # the review's figures: ResNet-20 (the term's own classifier) 17 → 49.5 %, but ResNet-32 10 → 15 % and
    # ResNet-56 9.5 → 18 % with overlapping seeds — a circular judge would say HELD
    rows = [row(0, 0.0, 0.16, 0.09, 0.08), row(0, 0.05, 0.48, 0.11, 0.20), row(1, 0.0, 0.18, 0.11, 0.11),
            row(1, 0.05, 0.51, 0.19, 0.16)]  # fmt: skip
    v = ce_verdict(rows, {"model": "cifar_resnet20", "layer": "avgpool", "seeds": [0, 1]}, 0.05)
    assert v.details["judges"]["cifar_resnet32"]["held"] is None and v.outcome == "INCONCLUSIVE"
    assert v.details["accuracy_training_classifier"] == pytest.approx([0.17, 0.495])


def test_decoder_ce_weight_quick(shared, tmp_path):
    from invert.experiments import run_experiment

    verdict, folder = run_experiment("decoder-ce-weight", quick=True, out=tmp_path / "ce")
    rows = verdict.details["rows"]
    assert [(r["seed"], r["ce_weight"]) for r in rows] == [(0, 0.0), (0, 0.05), (1, 0.0), (1, 0.05)]
    assert (folder / "accuracy.png").is_file() and (folder / "reconstructions.png").is_file()
    assert (folder / "ce_weight.csv").is_file() and (
        folder / "decoders" / "ce0.05_seed1" / "avgpool" / "decoder.pt"
    ).is_file()
    # measured here (avgpool, 300 images, ≤ 6 epochs, 2 seeds): ResNet-20 — whose cross-entropy is the term — goes
    # 15 → 45 %, but the independent ResNet-32 9 → 15.5 % (one seed 10 → 9 %) and ResNet-56 10 → 20 %: two seeds
    # cannot judge (the criterion needs 3), INCONCLUSIVE by design at this setting
    assert verdict.outcome == "INCONCLUSIVE" and "2 seeds < 3" in verdict.measured
    own = verdict.details["accuracy_training_classifier"]
    assert own[1] - own[0] > 0.15  # the circular judge's gain, reported only
    for judge in ("cifar_resnet32", "cifar_resnet56"):
        assert verdict.details["judges"][judge]["held"] is None
        assert verdict.details["judges"][judge]["difference"] < own[1] - own[0]  # smaller than the circular gain
        assert 0.8 <= rows[0][f"accuracy_original_{judge}"] <= 0.95
    assert all(r["mse"] < 0.08 for r in rows) and 0.7 <= rows[0]["accuracy_original"] <= 0.9
