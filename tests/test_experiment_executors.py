"""The experiments whose independent parts are tasks (``--executor``): a task gives the same numbers in this process
and in a pool of worker processes, so where a run executes cannot change its verdict.
"""

from __future__ import annotations

import pytest
import torch

from invert.experiments._matched import run_tasks

POOL = {"executor": "local", "workers": 2}


def _both(fn, tasks):
    return run_tasks(fn, tasks, {}, "here"), run_tasks(fn, tasks, POOL, "pool")


def test_lr_by_depth_line_searches_agree_across_executors():
    from invert.experiments.lr_depth import search_layer

    tasks = [
        {"layer": la, "size": 32, "trials": 3, "trial_iterations": 3, "low": 1e-3, "high": 1.0, "seed": 0}
        for la in ("conv1", "conv2")
    ]
    here, pool = _both(search_layer, tasks)
    assert [r["layer"] for r in pool] == ["conv1", "conv2"]  # results in task order
    for a, b in zip(here, pool, strict=True):
        assert a["lr"] == b["lr"] and len(a["trials"]) == 3
        assert [t["m_g"] for t in a["trials"]] == pytest.approx([t["m_g"] for t in b["trials"]], rel=1e-5)


def test_nonuniqueness_descents_agree_across_executors():
    from invert.experiments.nonuniqueness import descend_layer

    base = {"size": 32, "iterations": 6, "record_every": 2, "seed": 0, "progress": False}
    tasks = [base | {"layer": "conv2", "lr": 0.05}, base | {"layer": "conv1", "lr": "line-search"}]
    here, pool = _both(descend_layer, tasks)
    assert here[0]["trials"] is None and len(here[1]["trials"]) == 8  # a number is used, a string line-searches
    for a, b in zip(here, pool, strict=True):
        assert a["lr"] == b["lr"] and a["m_s"] == pytest.approx(b["m_s"], rel=1e-5)
        assert [h["m_g"] for h in a["history"]] == pytest.approx([h["m_g"] for h in b["history"]], rel=1e-4)
        assert [h["m_i"] for h in a["history"]] == pytest.approx([h["m_i"] for h in b["history"]], rel=1e-4)


def test_gd_decay_descents_agree_across_executors():
    from invert.experiments.gd_decay import EPS_FACTORS, descend_image
    from invert.io import default_image_path, load_image

    img = load_image(default_image_path(), 32)[None]
    g = torch.Generator().manual_seed(0)
    start = 0.7 + torch.randn(img.shape, generator=g) / 20
    noise = [torch.randn(img.shape, generator=g) / 20 for _ in range(3)]
    task = {"image": img, "name": "photo", "start": start, "noise": noise, "seed": 0, "size": 32}
    tasks = [task | {"iterations": 8, "trial_steps": 2}, task | {"iterations": 5, "trial_steps": 2}]
    here, pool = _both(descend_image, tasks)
    for a, b in zip(here, pool, strict=True):
        assert [c["factor"] for c in a["curves"]] == list(EPS_FACTORS)
        for ca, cb in zip(a["curves"], b["curves"], strict=True):
            assert ca["eps"] == cb["eps"] and ca["m_s"] == pytest.approx(cb["m_s"], rel=1e-5)
        assert a["series"].keys() == b["series"].keys()
        for k in a["series"]:
            assert a["series"][k] == pytest.approx(b["series"][k], rel=1e-4)
    assert len(here[0]["series"]["photo ×1"]) == 9 and len(here[1]["series"]["photo ×1"]) == 6  # m_g at n = 0…N


@pytest.mark.usefixtures("shared")
def test_trained_nonuniqueness_inversions_agree_across_executors():
    import math

    from invert.datasets import sample_images
    from invert.experiments.trained_nonuniqueness import invert_layer
    from invert.inversion import InversionConfig

    imgs, names = sample_images("cifar10", limit=2, size=32)
    cfg = InversionConfig(iterations=5, size=32, seed=0, record_every=5)
    shift = cfg.ms_sigma * math.sqrt(imgs[0].numel())
    base = {"model": "cifar_resnet20", "seed": 0, "images": imgs, "names": names, "config": cfg, "restarts": 2}
    tasks = [base | {"layer": la, "shift": shift} for la in ("conv2", "conv3")]
    here, pool = _both(invert_layer, tasks)
    for a, b in zip(here, pool, strict=True):
        assert len(a) == 4 and [(r["layer"], r["image"], r["restart"]) for r in a] == [
            (r["layer"], r["image"], r["restart"]) for r in b
        ]
        assert [r["m_g"] for r in a] == pytest.approx([r["m_g"] for r in b], rel=1e-4)
        assert [r["m_i_over_shift"] for r in a] == pytest.approx([r["m_i"] / shift for r in b], rel=1e-4)
