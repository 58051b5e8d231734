"""The fast-training recipe of fit_classifier: one-cycle lr, SGD with weight decay on weights only, label smoothing,
channels-last; resumable like the Adam default, and the CIFAR-64 cache key that names it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from invert.errors import InvertError
from invert.training.classifier import fit_classifier
from invert.training.scaffold import make_optimizer, one_cycle


def test_one_cycle_rises_to_the_peak_then_falls_to_zero() -> None:
    total, peak = 100, 0.2
    lrs = [one_cycle(s, total, peak) for s in range(total)]
    assert lrs[0] == pytest.approx(peak / 25)
    assert max(lrs) == pytest.approx(peak)
    assert lrs.index(max(lrs)) == 25  # the first quarter rises
    assert lrs[-1] == 0.0
    assert all(lrs[i] <= lrs[i + 1] for i in range(25))
    assert all(lrs[i] >= lrs[i + 1] for i in range(25, total - 1))


def test_weight_decay_applies_to_weights_not_to_biases_or_batchnorm() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    opt = make_optimizer(net, "sgd", 0.1, weight_decay=5e-4)
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert decayed == {id(net[0].weight)}
    assert opt.param_groups[0]["nesterov"] is True
    with pytest.raises(InvertError, match="unknown optimiser"):
        make_optimizer(net, "lamb", 0.1)


def _data(n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    x = torch.rand(n, 3, 8, 8, generator=g) * 0.5
    x[y == 1, 0] += 0.5  # class 1: a brighter red channel
    return x, y


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 2))  # fmt: skip


RECIPE = dict(optimizer="sgd", schedule="onecycle", label_smoothing=0.1, weight_decay=5e-4, channels_last=True)


def test_the_recipe_learns_and_a_folder_of_another_recipe_is_refused(tmp_path) -> None:
    x, y = _data()
    hist = fit_classifier(_net(), x, y, epochs=3, batch_size=16, lr=0.2, folder=tmp_path / "a", progress=False,
                          **RECIPE)  # fmt: skip
    assert hist[-1]["train_acc"] > 0.9
    assert hist[-1]["loss"] > 0.1  # label smoothing keeps the loss off 0
    with pytest.raises(InvertError, match="different run"):  # the schedule spans the epochs: 1 ≠ 3
        fit_classifier(_net(), x, y, epochs=1, batch_size=16, lr=0.2, folder=tmp_path / "a", progress=False, **RECIPE)
    with pytest.raises(InvertError, match="does not fit|different run"):  # Adam in the one-cycle run's folder
        fit_classifier(_net(), x, y, epochs=4, batch_size=16, lr=0.2, folder=tmp_path / "a", progress=False)


def test_an_interrupted_one_cycle_run_resumes_to_the_weights_of_an_unbroken_one(tmp_path, monkeypatch) -> None:
    from invert.training import scaffold

    x, y = _data()
    whole = _net()
    fit_classifier(whole, x, y, epochs=2, batch_size=16, lr=0.2, folder=tmp_path / "a", progress=False, **RECIPE)

    calls = {"n": 0}
    real = scaffold.TrainingRun.end_epoch

    def end_then_die(self, epoch, *a, **k):
        real(self, epoch, *a, **k)
        calls["n"] += 1
        raise KeyboardInterrupt  # killed right after epoch 1's checkpoint

    monkeypatch.setattr(scaffold.TrainingRun, "end_epoch", end_then_die)
    with pytest.raises(KeyboardInterrupt):
        fit_classifier(_net(), x, y, epochs=2, batch_size=16, lr=0.2, folder=tmp_path / "b", progress=False, **RECIPE)
    monkeypatch.setattr(scaffold.TrainingRun, "end_epoch", real)
    resumed = _net()
    hist = fit_classifier(resumed, x, y, epochs=2, batch_size=16, lr=0.2, folder=tmp_path / "b", progress=False,
                          **RECIPE)  # fmt: skip
    assert calls["n"] == 1 and len(hist) == 2
    for (k, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), k


def test_the_cifar64_cache_key_names_the_recipe_and_keeps_the_adam_key() -> None:
    from invert.experiments import _cifar64

    assert _cifar64.QUICK.key() == "resnet18_cifar64-n512-e1-lr0.001-b64-s0"  # existing caches stay valid
    full = _cifar64.FULL.key()
    assert "sgd-onecycle-ls0.1-wd0.0005" in full and "n20000" in full
    assert _cifar64.FULL.recipe()["channels_last"] is True
