"""Noise-memorising training (report §5) and the generic resumable classifier trainer it runs on."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from invert.encoders import build_encoder, build_model
from invert.errors import InvertError
from invert.training.classifier import fit_classifier, flip_crop, split_indices
from invert.training.noise import (
    SIGMA_CODE,
    SIGMA_TEXT,
    NoiseImages,
    NoiseTraining,
    noise_labels,
    parse_sigma,
    train_noise,
)

TINY = NoiseTraining(model="cifar_resnet20", n=96, size=16, classes=4, epochs=6, batch_size=32, lr=3e-3, seed=0)


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, 4),
    )


def data(n: int = 120):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, 8, 8, generator=g), torch.randint(0, 4, (n,), generator=g)


def test_noise_set_is_fixed_and_has_the_requested_statistics():
    a = NoiseImages(64, 16, SIGMA_CODE, seed=3)
    b = NoiseImages(64, 16, SIGMA_CODE, seed=3, materialise=False)  # regenerated per index, never stored
    idx = torch.tensor([5, 0, 63, 5])
    assert torch.equal(a[idx], b[idx])
    assert torch.equal(a[idx][0], a[idx][3])
    assert not torch.equal(NoiseImages(4, 16, SIGMA_CODE, seed=4)[torch.arange(4)], a[torch.arange(4)])
    x = a[torch.arange(64)].double()
    assert x.shape == (64, 3, 16, 16)
    assert x.mean().item() == pytest.approx(0.5, abs=0.01)  # 49k samples: standard error 0.0011
    assert x.std().item() == pytest.approx(0.25, rel=0.02)
    assert x.min() < 0 and x.max() > 1  # not clipped, as in the reference code
    normed = NoiseImages(64, 16, SIGMA_CODE, seed=3, norm_mean=(0.5, 0.4, 0.3), norm_std=(0.2, 0.25, 0.5))
    expected = (x[:2].float() - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.2, 0.25, 0.5]).view(
        1, 3, 1, 1
    )
    assert torch.allclose(normed[torch.arange(2)], expected, atol=1e-6)
    labels = noise_labels(1000, 100, seed=0)
    assert torch.equal(labels, noise_labels(1000, 100, seed=0)) and labels.min() >= 0 and labels.max() == 99


def test_sigma_option_text_vs_code():
    assert parse_sigma("text") == pytest.approx(1 / 3) == SIGMA_TEXT
    assert parse_sigma("code") == pytest.approx(0.25) == SIGMA_CODE
    assert parse_sigma("1/5") == pytest.approx(0.2)
    assert parse_sigma(0.1) == 0.1
    for bad in ("wide", "0", "-1/4"):
        with pytest.raises(InvertError):
            parse_sigma(bad)


def test_tiny_noise_training_memorises_far_above_chance(tmp_path):
    net, history = train_noise(TINY, tmp_path, progress=False)
    assert [h["epoch"] for h in history] == list(range(1, 7))
    assert history[-1]["train_acc"] >= 0.9  # chance is 0.25
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["final_train_acc_eval_mode"] >= 0.8
    assert cfg["training"]["sigma"] == pytest.approx(SIGMA_TEXT)
    for f in ("model.pt", "last.pt", "history.csv", "training.png"):
        assert (tmp_path / f).is_file()
    # the weights file is what `--weights PATH` loads; the encoder normalises exactly as training did
    enc = build_encoder("cifar_resnet20", "fc", str(tmp_path / "model.pt"), input_size=16)
    images = NoiseImages(TINY.n, TINY.size, TINY.sigma, seed=TINY.seed)
    labels = noise_labels(TINY.n, TINY.classes, TINY.seed)
    pred = enc(images[torch.arange(TINY.n)]).argmax(1)
    assert (pred == labels).double().mean() == pytest.approx(cfg["final_train_acc_eval_mode"], abs=1e-9)


def test_noise_training_refuses_more_classes_than_outputs_and_a_foreign_checkpoint(tmp_path):
    with pytest.raises(InvertError, match="classes"):
        train_noise(
            NoiseTraining(model="cifar_resnet20", n=8, size=16, classes=20, epochs=1), tmp_path / "a", progress=False
        )
    train_noise(
        NoiseTraining(model="cifar_resnet20", n=16, size=16, classes=4, epochs=1, batch_size=8),
        tmp_path / "b",
        progress=False,
    )
    with pytest.raises(InvertError, match="different noise run"):
        train_noise(
            NoiseTraining(model="cifar_resnet20", n=16, size=16, sigma=0.1, classes=4, epochs=2, batch_size=8),
            tmp_path / "b",
            progress=False,
        )


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path):
    x, y = data()
    full = small_net()
    h_full = fit_classifier(
        full,
        x,
        y,
        epochs=3,
        batch_size=32,
        folder=tmp_path / "full",
        val_fraction=0.1,
        augment=flip_crop(2),
        progress=False,
    )

    calls = {"n": 0}
    base = flip_crop(2)

    def crashing(batch):  # dies in the middle of epoch 2 (4 batches per epoch)
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return base(batch)

    part = small_net()
    with pytest.raises(KeyboardInterrupt):
        fit_classifier(
            part,
            x,
            y,
            epochs=3,
            batch_size=32,
            folder=tmp_path / "part",
            val_fraction=0.1,
            augment=crashing,
            progress=False,
        )
    assert torch.load(tmp_path / "part" / "last.pt", weights_only=False)["epoch"] == 0  # epoch 1 kept
    assert not (tmp_path / "part" / "model.pt").exists()
    resumed = small_net()  # a fresh process: new model, state comes from the checkpoint
    torch.manual_seed(123)  # whatever the global RNG, the resumed epochs are the same
    h_res = fit_classifier(
        resumed, x, y, epochs=3, batch_size=32, folder=tmp_path / "part", val_fraction=0.1, augment=base, progress=False
    )

    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(h_res) == strip(h_full)
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    saved = torch.load(tmp_path / "part" / "model.pt", weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in full.state_dict().items())
    assert set(h_full[0]) == {"epoch", "loss", "train_acc", "val_acc", "seconds"}


def test_fit_classifier_validation_split_and_errors(tmp_path):
    tr, va = split_indices(100, 0.2, seed=0)
    assert len(va) == 20 and len(tr) == 80 and set(tr.tolist()).isdisjoint(va.tolist())
    x, y = data(40)
    with pytest.raises(InvertError, match="val_fraction"):
        fit_classifier(small_net(), x, y, epochs=1, folder=tmp_path / "a", val_fraction=1.0, progress=False)
    with pytest.raises(InvertError, match="labels"):
        fit_classifier(small_net(), x, y[:10], epochs=1, folder=tmp_path / "b", progress=False)
    fit_classifier(small_net(), x, y, epochs=1, batch_size=16, folder=tmp_path / "c", progress=False)
    with pytest.raises(InvertError, match="different run"):
        fit_classifier(small_net(), x, y, epochs=2, batch_size=16, lr=0.1, folder=tmp_path / "c", progress=False)
    h = fit_classifier(
        small_net(), x, y, epochs=1, batch_size=16, lr=0.1, folder=tmp_path / "c", resume=False, progress=False
    )
    assert len(h) == 1 and math.isfinite(h[0]["loss"])


def test_cli_train_noise_resumes_and_reports_bad_input(cli, tmp_path):
    out = tmp_path / "run"
    args = [
        "train",
        "noise",
        "--quick",
        "--n",
        "32",
        "--size",
        "16",
        "--batch-size",
        "16",
        "--quiet",
        "--out",
        str(out),
    ]
    r = cli(*args, "--epochs", "1")
    assert r.code == 0, r.out + r.err
    assert "training accuracy" in r.out and (out / "model.pt").is_file()
    r = cli(*args, "--epochs", "2")  # continues from epoch 1
    assert r.code == 0, r.out + r.err
    assert (out / "history.csv").read_text().strip().splitlines()[-1].startswith("2,")
    assert build_model("cifar_resnet20", str(out / "model.pt"))[0] is not None
    r = cli(*args, "--epochs", "1", "--sigma", "wide")
    assert r.code == 2 and "σ" in (r.out + r.err)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    r = cli("train", "noise", "--quick", "--out", str(tmp_path / "other"))
    assert r.code == 2 and "no training checkpoint" in (r.out + r.err)
