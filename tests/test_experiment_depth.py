"""``depth`` (figs 1, 2, S3) and the matched-inversion helpers it shares: measures by hand, executors agree,
the quick outcome.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from invert.experiments._matched import invert_matched, pearson, procedure_config, run_tasks, spread_verdict
from invert.experiments.registry import Verdict, combine, joint_verdict, run_experiment
from invert.io import default_image_path, load_image


def test_pearson_is_numpy_corrcoef_and_blind_to_brightness_and_contrast():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 3, 8, 8, generator=g), torch.rand(3, 3, 8, 8, generator=g)
    mixed = 0.6 * a + 0.4 * b
    for i in range(3):
        ref = np.corrcoef(mixed[i].flatten().numpy(), a[i].flatten().numpy())[0, 1]
        assert pearson(mixed[i : i + 1], a[i : i + 1]).item() == pytest.approx(ref, abs=1e-12)
    assert torch.allclose(
        pearson(0.2 * a + 0.7, a), torch.ones(3, dtype=torch.float64)
    )  # darker, flatter copy: still r = 1


def test_spread_verdict_and_combine():
    assert spread_verdict([0.3, 0.5, 0.4]) == (True, pytest.approx(0.4), pytest.approx(0.1))
    assert spread_verdict([0.3, -0.2, 0.1])[0] is None  # mean 0.067 < std 0.25: not significant, INCONCLUSIVE
    assert spread_verdict([-0.3, -0.5, -0.4])[0] is False  # significant the other way
    assert spread_verdict([0.3])[0] is None  # one pair cannot show a spread
    assert combine([True, None]) is None and combine([True, False, None]) is False and combine([True, True]) is True


def test_joint_verdict_of_parts():
    a, b = Verdict("A holds", "a is 1", True), Verdict("B holds", "b is 2", None)
    v = joint_verdict("A and B", "Setup 3 px.", [a, b], criterion="r is Pearson's", details={"k": 1})
    assert v.measured == "Setup 3 px. (a) a is 1. (b) b is 2."
    assert v.held is None and v.outcome == "INCONCLUSIVE" and v.parts == [a, b] and v.details == {"k": 1}
    assert v.criterion == (
        "both parts must hold (NOT REPRODUCED if either fails, INCONCLUSIVE if either cannot be decided); "
        "r is Pearson's"
    )
    assert joint_verdict("A and B", "S.", [a, Verdict("C", "c", False)]).outcome == "NOT REPRODUCED"
    assert joint_verdict("A", "S.", [a, a]).criterion.endswith("cannot be decided)")


def test_procedure_is_the_badger_preset_with_annealed_eps():
    cfg = procedure_config(64, 100, blur=True, seed=3)
    assert (cfg.optimizer, cfg.objective, cfg.objective_weight, cfg.clamp) == ("gd", "l1", 0.15, False)
    assert (cfg.lr_schedule, cfg.lr_end, cfg.stop_below_ms, cfg.size) == ("linear", 0.0, True, 64)
    assert (
        cfg.blur == pytest.approx(2.4 * 64 / 299 * 3, abs=1e-3)
        and procedure_config(64, 100, blur=False, seed=3).blur == 0.0
    )


def test_executors_give_the_same_inversions():
    img = load_image(default_image_path(), 32)[None]
    tasks = [
        {
            "model": "resnet18",
            "weights": "untrained",
            "layer": layer,
            "size": 32,
            "blur": False,
            "iterations": 30,
            "seed": 0,
            "targets": img,
            "names": ["photo"],
            "trials": 2,
            "trial_iterations": 4,
            "tag": {"k": layer},
        }
        for layer in ("conv1", "conv2")
    ]
    here = run_tasks(invert_matched, tasks, {}, "here")
    pool = run_tasks(invert_matched, tasks, {"executor": "local", "workers": 2}, "pool")
    for a, b in zip(here, pool, strict=True):
        assert a["rows"][0]["k"] == b["rows"][0]["k"] and a["rows"][0]["lr"] == b["rows"][0]["lr"]
        assert a["rows"][0]["m_g"] == pytest.approx(b["rows"][0]["m_g"], rel=1e-4)
        assert torch.allclose(a["images"][0], b["images"][0], atol=1e-4)


@pytest.mark.usefixtures("shared")
def test_depth_quick_outcome(tmp_path, cifar64_cache):
    v, folder = run_experiment("depth", quick=True, out=tmp_path / "depth", params={"cache": str(cifar64_cache)})
    with open(folder / "depth.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["layer"] for r in rows} == {"conv1", "conv2", "conv3"} and {r["procedure"] for r in rows} == {
        "eq. 4",
        "eq. 5",
    }
    assert {r["weights"] for r in rows} == {"trained", "untrained"} and (folder / "depth_grid.png").is_file()
    loss, sharp = v.parts
    # measured (seed 0): untrained r conv1→conv3 0.97→0.43 (eq. 4), 0.98→0.90 (eq. 5), 24/24 inversions below m_s
    assert loss.outcome == "HELD" and 0.3 < loss.details["eq. 4"]["r_drop_first_to_last"] < 0.8
    # the quick classifier (512 images, one epoch) is far too weak to test "training sharpens early layers"
    assert sharp.outcome == "INCONCLUSIVE" and sharp.details["trained_test_accuracy"] < 0.3
    assert v.outcome == "INCONCLUSIVE"
