"""Learned decoders: architecture shapes per checkpoint, the trained unpooling, losses, training/resume,
evaluation, CLI.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from invert.decoder import (
    DecoderTrainConfig,
    LearnedUnpool,
    TrainingInterrupted,
    build_decoder,
    checkpoint_layers,
    class_mixing,
    decode_logits,
    load_decoder,
    mean_image_baseline,
    measure,
    mirror_conv,
    train_decoder,
    warm_start,
)
from invert.decoder import training as training_mod
from invert.encoders import build_encoder, layer_table
from invert.errors import InvertError
from invert.io import shared_dir

SHARED = shared_dir()
needs_shared = pytest.mark.skipif(
    SHARED is None, reason="../shared (CIFAR-10 arrays, trained ResNet-20) not found; set INVERT_SHARED"
)


def _encoder_shapes(model: str, size: int | None = None) -> dict[str, tuple[int, ...]]:
    return {r["name"]: tuple(r["shape"]) for r in layer_table(model, size)}


@pytest.mark.parametrize("model,size", [("cifar_resnet20", None), ("cifar_resnet18", None), ("resnet18", 64)])
def test_decoder_maps_every_checkpoint_back_to_image_shape(model, size):
    shapes = _encoder_shapes(model, size)
    layers = ["conv1", *checkpoint_layers(model), "layer2.0.conv1", "flatten"]
    img = (3, size or 32, size or 32)
    for layer in layers:
        dec = build_decoder(model, layer, input_size=size)
        want_in = shapes[layer]
        assert dec.input_shape == want_in, layer
        meta = dec.to("meta").eval()
        out = meta(torch.zeros(2, *want_in, device="meta"))
        assert tuple(out.shape) == (2, *img), layer


def test_thesis_checkpoints_and_architecture():
    """Table 1 / figs. 8–9: the ResNet-18 checkpoints' shapes and the decoder's layers for the last checkpoint."""
    assert checkpoint_layers("cifar_resnet18") == ["conv2", "conv3", "conv4", "conv5", "avgpool", "fc"]
    assert checkpoint_layers("cifar_resnet20") == ["conv2", "conv3", "conv4", "avgpool", "fc"]
    shapes = _encoder_shapes("cifar_resnet18")
    assert [shapes[l] for l in checkpoint_layers("cifar_resnet18")] == [
        (64, 32, 32),
        (128, 16, 16),
        (256, 8, 8),
        (512, 4, 4),
        (512, 1, 1),
        (10,),
    ]
    dec = build_decoder("cifar_resnet18", "fc")
    assert dec.order == [
        "fc",
        "avgpool",
        "layer4_1",
        "layer4_0",
        "layer3_1",
        "layer3_0",
        "layer2_1",
        "layer2_0",
        "layer1_1",
        "layer1_0",
        "stem",
    ]
    lin = dec.mirrors["fc"][0]
    assert (lin.in_features, lin.out_features) == (10, 512)
    assert dec.mirrors["avgpool"].weight.shape == (512, 4, 4)
    # fig. 9: the stride-2 transposed convolution is the *last* of a block, the 1×1 shortcut mirrors the downsample
    blk = dec.mirrors["layer2_0"]
    convs = [m for m in blk.body if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [(128, 128, 1), (128, 64, 2)]
    sc = blk.shortcut[0]
    assert (sc.in_channels, sc.out_channels, sc.kernel_size, sc.stride) == (128, 64, (1, 1), (2, 2))
    assert isinstance(dec.mirrors["layer1_0"].shortcut, nn.Identity)
    stem = dec.mirrors["stem"]
    assert (stem.in_channels, stem.out_channels, stem.kernel_size, stem.bias is not None) == (64, 3, (3, 3), True)


@pytest.mark.parametrize("k,s,p", [(3, 1, 1), (3, 2, 1), (1, 2, 0), (7, 2, 3), (1, 1, 0)])
def test_mirror_conv_restores_input_shape(k, s, p):
    conv = nn.Conv2d(5, 7, k, s, p)
    x = torch.zeros(1, 5, 16, 16)
    y = conv(x)
    back = mirror_conv(conv)(y)
    assert back.shape == x.shape
    assert (back.shape[1], mirror_conv(conv).in_channels) == (5, 7)


def test_learned_unpool_replicates_then_multiplies():
    up = LearnedUnpool(2, 3, 3)
    with torch.no_grad():
        up.weight[1, 0, 0] = 2.0
    v = torch.tensor([[1.5, -1.0]])
    out = up(v.view(1, 2, 1, 1))
    expect = torch.stack([torch.full((3, 3), 1.5), torch.full((3, 3), -1.0)])
    expect[1, 0, 0] = -2.0
    assert torch.equal(out[0], expect)


def test_unpool_multiplier_is_a_parameter_that_gets_gradients_and_changes():
    dec = build_decoder("cifar_resnet20", "avgpool")
    w = dec.mirrors["avgpool"].weight
    assert any(p is w for p in dec.parameters())
    assert "mirrors.avgpool.weight" in dec.state_dict()
    before = w.detach().clone()
    assert torch.equal(before, torch.ones_like(before))
    opt = torch.optim.Adam(dec.parameters(), lr=1e-2)
    a = torch.rand(4, 64, 1, 1)
    target = torch.rand(4, 3, 32, 32)
    for _ in range(2):
        opt.zero_grad()
        F.mse_loss(dec(a), target).backward()
        assert w.grad is not None and float(w.grad.abs().sum()) > 0
        opt.step()
    assert dec.mirrors["avgpool"].weight is w  # the same tensor, not re-created by forward
    assert float((w.detach() - before).abs().max()) > 1e-3


def test_fixed_unpool_reproduces_the_thesis_code():
    dec = build_decoder("cifar_resnet20", "avgpool", learn_unpool=False)
    w = dec.mirrors["avgpool"].weight
    assert not w.requires_grad and all(p is not w for p in dec.parameters())
    assert dec.meta()["learn_unpool"] is False


def test_warm_start_copies_the_shared_stages_only():
    d2 = build_decoder("cifar_resnet20", "conv2", seed=1)
    d3 = build_decoder("cifar_resnet20", "conv3", seed=2)
    fresh = {k: v.clone() for k, v in d3.state_dict().items()}
    copied = warm_start(d3, d2)
    assert copied and all(k.startswith(("mirrors.layer1_", "mirrors.stem")) for k in copied)
    s2, s3 = d2.state_dict(), d3.state_dict()
    for k in copied:
        assert torch.equal(s3[k], s2[k])
    for k in s3:
        if k.startswith("mirrors.layer2_"):
            assert torch.equal(s3[k], fresh[k])


def test_losses_match_eq_13_and_14_computed_by_hand():
    enc = build_encoder("cifar_resnet20", "conv2", "untrained")
    clf = build_encoder("cifar_resnet20", "fc", "untrained")
    dec = build_decoder("cifar_resnet20", "conv2").eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 32, 32, generator=g)
    y = torch.tensor([0, 3, 5, 9])
    a = enc(x)
    cfg = DecoderTrainConfig(ce_weight=0.3, feature_weight=0.7)
    loss, parts = training_mod.decoder_loss(dec, enc, x, a, y, cfg, clf)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)  # the model spec's input std
    with torch.no_grad():
        out = dec(a).double()
        mse = ((out - x.double()) ** 2).sum(dim=(1, 2, 3)) / (3 * 32 * 32)  # eq. 13 per image on [0, 1] pixels
        mse_n = (((out - x.double()) / std) ** 2).sum(dim=(1, 2, 3)) / (3 * 32 * 32)  # on normalised images
        logits = clf(out.float()).double()
        ce = -(logits.log_softmax(1)[torch.arange(4), y]).mean()
        fa = enc(out.float()).double()
        rel = ((fa - a.double()).flatten(1).norm(dim=1) / a.double().flatten(1).norm(dim=1)).mean()
    expect = mse_n.mean() + 0.3 * ce + 0.7 * rel  # the thesis's MSE is on the normalised images it decodes
    assert math.isclose(float(loss.detach()), float(expect), rel_tol=1e-3)
    assert math.isclose(parts["mse"], float(mse.mean()), rel_tol=1e-5)  # reported MSE: pixels
    px = build_decoder("cifar_resnet20", "conv2", target="pixels").eval()
    loss_px, parts_px = training_mod.decoder_loss(px, enc, x, a, y, DecoderTrainConfig(target="pixels"), None)
    loss_px = loss_px.detach()
    with torch.no_grad():
        expect_px = ((px(a).double() - x.double()) ** 2).mean()
    assert math.isclose(float(loss_px), float(expect_px), rel_tol=1e-5) and parts_px["mse"] == float(loss_px)


def test_normalized_target_decodes_the_normalised_image():
    """The thesis's decoder predicts (x − mean)/std; forward maps it back to pixels with the model's mean/std."""
    enc = build_encoder("cifar_resnet20", "conv3", "untrained")
    a = enc(torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)))
    dec = build_decoder("cifar_resnet20", "conv3", seed=3).eval()
    px = build_decoder("cifar_resnet20", "conv3", seed=3, target="pixels").eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)  # cifar_resnet20's input normalisation
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        raw = a
        for key in dec.order:
            raw = dec.mirrors[key](raw)
        assert torch.allclose(px(a), raw) and torch.allclose(dec(a), raw * std + mean, atol=1e-6)
    assert set(dec.state_dict()) == set(px.state_dict())  # the mean/std are fixed, not weights: warm starts unchanged
    assert dec.meta()["target"] == "normalized"
    with pytest.raises(InvertError, match="decoder target"):
        DecoderTrainConfig(target="logits")


@needs_shared
def test_quick_conv2_decoder_learns_well_below_the_mean_image(tmp_path):
    """Positive control for the training: ResNet-20 conv2 is nearly invertible, so one epoch on 1000 CIFAR images
    must beat the mean image several times over. Measured: test MSE 0.0094 (normalised target, 90 steps) against the
    mean image's 0.060; predicting pixels directly reached 0.069 with the same steps, worse than the mean image —
    the bug this guards against."""
    from invert.datasets import load_cifar10

    torch.set_num_threads(1)
    x, _ = load_cifar10("train", 1000)
    xt, _ = load_cifar10("test", 200)
    enc = build_encoder("cifar_resnet20", "conv2", "trained")
    base = mean_image_baseline(x, xt)["mse"]
    cfg = DecoderTrainConfig(epochs=1, batch_size=10, val_fraction=0.1)
    mse = {}
    for target in ("normalized", "pixels"):
        dec = build_decoder("cifar_resnet20", "conv2", target=target)
        train_decoder(dec, enc, x, config=cfg.updated(target=target), folder=tmp_path / target, progress=False)
        mse[target] = float((dec.decode(enc(xt)) - xt).pow(2).mean())
    assert 0.05 < base < 0.07
    assert mse["normalized"] < 0.015 and mse["normalized"] < base / 4
    assert mse["pixels"] > 3 * mse["normalized"]  # the old parametrisation learns far more slowly


def test_bad_settings_are_refused_with_the_fix():
    with pytest.raises(InvertError, match="batch size"):
        DecoderTrainConfig(batch_size=1)
    with pytest.raises(InvertError, match="validation split"):
        DecoderTrainConfig(val_fraction=0.0)
    with pytest.raises(InvertError, match="ResNet-family"):
        build_decoder("vgg11", "features.3")
    with pytest.raises(InvertError, match="unknown layer"):
        build_decoder("cifar_resnet20", "conv9")
    with pytest.raises(InvertError, match="decoder file not found"):
        load_decoder("/nonexistent/decoder.pt")


def _tiny_data(n: int = 96, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    # smooth random images: a 4×4 colour field upsampled, so a small decoder can learn something quickly
    x = F.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=32, mode="bilinear", align_corners=False)
    return x, torch.randint(0, 10, (n,), generator=g)


def _tiny_npz(path, n: int):
    """``_tiny_data`` as a CIFAR-10-style .npz (uint8 NHWC images, labels) for ``--data``: no CIFAR-10 needed."""
    import numpy as np

    x, y = _tiny_data(n)
    np.savez(path, images=(x.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy(), labels=y.numpy())
    return path


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path, monkeypatch):
    x, y = _tiny_data(64)
    enc = build_encoder("cifar_resnet20", "conv2", "untrained")
    cfg = DecoderTrainConfig(epochs=2, batch_size=16, lr=2e-3, patience=5, val_fraction=0.25)

    ref = build_decoder("cifar_resnet20", "conv2")
    r_ref = train_decoder(ref, enc, x, y, config=cfg, folder=tmp_path / "ref", progress=False)

    dec = build_decoder("cifar_resnet20", "conv2")
    real = training_mod.decoder_loss
    calls = {"n": 0}

    def flaky(*args, **kw):  # Ctrl-C in the middle of the second epoch (after 3 + 1 training batches)
        if torch.is_grad_enabled():
            calls["n"] += 1
            if calls["n"] == 5:
                raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(training_mod, "decoder_loss", flaky)
    with pytest.raises(TrainingInterrupted, match="resume"):
        train_decoder(dec, enc, x, y, config=cfg, folder=tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "last.pt").is_file() and not (tmp_path / "run" / "decoder.pt").exists()
    monkeypatch.setattr(training_mod, "decoder_loss", real)

    resumed = build_decoder("cifar_resnet20", "conv2", seed=123)  # different init: everything must come from last.pt
    r = train_decoder(resumed, enc, x, y, config=cfg, folder=tmp_path / "run", progress=False)
    assert [h["epoch"] for h in r.history] == [1, 2]
    for k, v in ref.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    assert [h["val_mse"] for h in r.history] == [h["val_mse"] for h in r_ref.history]
    loaded = load_decoder(tmp_path / "run" / "decoder.pt")
    a = enc(x[:4])
    assert torch.allclose(loaded.decode(a), resumed.decode(a))


def test_resume_refuses_a_different_run(tmp_path):
    x, y = _tiny_data(48)
    enc = build_encoder("cifar_resnet20", "conv1", "untrained")
    cfg = DecoderTrainConfig(epochs=1, batch_size=16, val_fraction=0.25)
    train_decoder(build_decoder("cifar_resnet20", "conv1"), enc, x, y, config=cfg, folder=tmp_path, progress=False)
    with pytest.raises(InvertError, match="different run"):
        train_decoder(
            build_decoder("cifar_resnet20", "conv1"),
            enc,
            x,
            y,
            config=cfg.updated(lr=5e-3),
            folder=tmp_path,
            progress=False,
        )


def test_early_stopping_uses_the_best_validation_epoch(tmp_path):
    x, y = _tiny_data(64)
    enc = build_encoder("cifar_resnet20", "conv1", "untrained")
    cfg = DecoderTrainConfig(
        epochs=6, batch_size=16, lr=0.5, patience=1, val_fraction=0.25
    )  # far too high lr: val loss bounces
    dec = build_decoder("cifar_resnet20", "conv1")
    r = train_decoder(dec, enc, x, y, config=cfg, folder=tmp_path, progress=False)
    vals = [h["val_loss"] for h in r.history]
    assert r.best_epoch == 1 + vals.index(min(vals))
    if len(vals) < 6:  # stopped early: the last `patience` epochs did not improve
        assert r.stopped_early and min(vals[-1:]) > min(vals)
    from invert.decoder.training import split_indices, validation_loss

    _, val_idx = split_indices(len(x), cfg.val_fraction, cfg.seed)
    again = validation_loss(dec, enc, x[val_idx], y[val_idx], cfg, None)
    assert math.isclose(again["loss"], min(vals), rel_tol=1e-5)


@pytest.mark.parametrize(("vals", "stopped"), [([1.0, 2.0], True), ([2.0, 1.0], False), ([1.0, 1.0], True)])
def test_patience_spent_at_the_last_epoch_counts_as_stopped_early(tmp_path, monkeypatch, vals, stopped):
    """The early-stopping rule fires when `patience` epochs pass without improvement, even at the epoch cap."""
    x, y = _tiny_data(32)
    enc = build_encoder("cifar_resnet20", "conv1", "untrained")
    script = iter(vals)
    monkeypatch.setattr(training_mod, "validation_loss", lambda *a, **k: dict.fromkeys(("loss", "mse"), next(script)))
    cfg = DecoderTrainConfig(epochs=2, batch_size=16, patience=1, val_fraction=0.25)
    r = train_decoder(build_decoder("cifar_resnet20", "conv1"), enc, x, y, config=cfg, folder=tmp_path, progress=False)
    assert len(r.history) == 2 and r.best_epoch == 1 + vals.index(min(vals)) and r.stopped_early is stopped


def test_measure_against_independent_values():
    enc = build_encoder("cifar_resnet20", "conv2", "untrained")
    clf = build_encoder("cifar_resnet20", "fc", "untrained")
    x, y = _tiny_data(6)
    same = measure(x, x, enc, clf, y)
    s = same.summary()
    assert s["mse"] == 0 and s["m_g"] == 0 and s["agreement"] == 1.0 and s["below_ms"] == 1.0
    assert s["accuracy"] == s["accuracy_original"] == float((clf(x).argmax(1) == y).float().mean())
    grey = torch.full_like(x, 0.5)
    r = measure(grey, x, enc, clf, y, m_s=torch.ones(6))
    assert torch.allclose(r.mse, ((x - 0.5) ** 2).flatten(1).mean(1))
    assert torch.allclose(r.psnr, -10 * torch.log10(r.mse), atol=1e-4)
    assert torch.allclose(r.m_g, (enc(grey) - enc(x)).flatten(1).norm(dim=1), rtol=1e-5)
    base = mean_image_baseline(x, x)
    assert math.isclose(base["mse"], float(((x - x.mean(0)) ** 2).mean()), rel_tol=1e-5)


def test_decode_logits_and_class_mixing():
    dec = build_decoder("cifar_resnet20", "fc").eval()
    values = [-2, 0, 5, 12]
    imgs = decode_logits(dec, 10, values)
    assert imgs.shape == (10, 4, 3, 32, 32)
    z = torch.zeros(1, 10)
    z[0, 7] = 5.0
    assert torch.allclose(imgs[7, 2], dec.decode(z)[0], atol=1e-6)
    a, b = torch.eye(10)[2] * 8, torch.eye(10)[5] * 8
    t, mix = class_mixing(dec, a, b, steps=5)
    assert mix.shape == (5, 3, 32, 32) and torch.equal(t, torch.linspace(0, 1, 5))
    assert torch.allclose(mix[0], dec.decode(a[None])[0], atol=1e-6)
    assert torch.allclose(mix[-1], dec.decode(b[None])[0], atol=1e-6)
    assert torch.allclose(mix[2], dec.decode(((a + b) / 2)[None])[0], atol=1e-6)


@needs_shared
def test_quick_decoder_beats_the_mean_image_at_an_early_checkpoint(tmp_path):
    from invert.datasets import load_cifar10

    x, y = load_cifar10("train", 640)
    xt, _ = load_cifar10("test", 128)
    enc = build_encoder("cifar_resnet20", "conv2", "trained")
    dec = build_decoder("cifar_resnet20", "conv2")
    cfg = DecoderTrainConfig(epochs=2, batch_size=16, lr=3e-3, patience=2, val_fraction=0.1)
    train_decoder(dec, enc, x, y, config=cfg, folder=tmp_path, progress=False)
    rec = measure(dec.decode(enc(xt)), xt, enc, None)
    base = mean_image_baseline(x, xt)
    assert rec.summary()["mse"] < 0.8 * base["mse"]
    assert rec.summary()["psnr"] > base["psnr"] + 1.0


def test_cli_train_eval_and_resume(tmp_path):
    """The CLI flow on synthetic images and an untrained encoder (the real-data check is the test above)."""
    from typer.testing import CliRunner

    from invert.cli import app

    runner = CliRunner()
    out = tmp_path / "run"
    data = str(_tiny_npz(tmp_path / "tiny.npz", 64))
    args = [
        "decoder",
        "train",
        "--out",
        str(out),
        "--weights",
        "untrained",
        "--data",
        data,
        "--layer",
        "conv2",
        "--layer",
        "fc",
        "--limit",
        "48",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--val-fraction",
        "0.25",
        "--quiet",
        "--device",
        "cpu",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "config.json").read_text())
    assert manifest["status"] == "complete" and manifest["settings"]["layers"] == ["conv2", "fc"]
    assert manifest["command"] == "invert decoder train" and manifest["out"] == str(out)
    assert manifest["environment"]["distributed"] == {"world_size": 1, "backend": None}
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["layer"] for r in metrics["layers"]] == ["conv2", "fc"] and metrics["train_images"] == 48
    assert "settings" not in metrics and "environment" not in metrics  # results only: the settings are in config.json
    for layer in ("conv2", "fc"):
        assert (out / layer / "decoder.pt").is_file() and (out / layer / "last.pt").is_file()
    assert (out / "loss_curves.png").stat().st_size > 0
    fc_result = json.loads((out / "fc" / "result.json").read_text())
    assert fc_result["warm_started"] > 0  # the fc decoder mirrors every stage: it starts from conv2's layer1_* and stem
    res = runner.invoke(app, args)  # same settings: resumes, trains nothing new
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, args[:-2] + ["--lr", "0.01", "--device", "cpu"])
    assert isinstance(res.exception, InvertError) and "different settings" in str(res.exception)
    res = runner.invoke(app, ["decoder", "eval", str(out), "--limit", "16", "--data", data, "--device", "cpu"])
    assert res.exit_code == 0, res.output
    ev = out / "eval"
    rows = json.loads((ev / "metrics.json").read_text())["rows"]
    assert [r["layer"] for r in rows] == ["conv2", "fc"]
    for name in (
        "metrics.csv",
        "error_per_checkpoint.png",
        "artificial_logits.png",
        "class_mixing_logits.png",
        "class_mixing_conv2.png",
    ):
        assert (ev / name).stat().st_size > 0, name


def test_train_classifier_command_writes_weights_the_encoders_load(tmp_path):
    """On synthetic images (``--data``): the command, its files and resuming need no CIFAR-10."""
    from typer.testing import CliRunner

    from invert.cli import app

    out = tmp_path / "clf"
    data = str(_tiny_npz(tmp_path / "tiny.npz", 96))

    def args(epochs: int) -> list[str]:
        return [
            "train",
            "classifier",
            "--model",
            "cifar_resnet20",
            "--data",
            data,
            "--limit",
            "64",
            "--test-limit",
            "32",
            "--epochs",
            str(epochs),
            "--batch-size",
            "16",
            "--out",
            str(out),
            "--quiet",
            "--device",
            "cpu",
        ]

    res = CliRunner().invoke(app, args(1))
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["epochs"] == 1 and summary["train_images"] == 64 and summary["test_images"] == 32
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    assert "settings" not in summary and "environment" not in summary  # results only: the settings are in config.json
    manifest = json.loads((out / "config.json").read_text())
    assert manifest["command"] == "invert train classifier" and manifest["status"] == "complete"
    assert manifest["settings"]["limit"] == 64 and manifest["settings"]["batch_size"] == 16
    enc = build_encoder("cifar_resnet20", "conv3", str(out / "model.pt"))  # loads strictly into the registered model
    assert enc(torch.rand(1, 3, 32, 32)).shape == (1, 32, 16, 16)
    res = CliRunner().invoke(app, args(2))
    assert res.exit_code == 0, res.output  # resumes: trains only the second epoch
    assert [h["epoch"] for h in json.loads((out / "metrics.json").read_text())["history"]] == [1, 2]


def test_read_run_takes_config_json_reads_an_older_run_json_and_refuses_other_folders(tmp_path):
    """The decoder run's manifest is config.json; a folder from before (run.json) still reads;
    others fail in one line.
    """
    from invert.decoder.runs import prepare_run_folder, read_run
    from invert.io import write_config, write_json

    spec = {"model": "cifar_resnet20", "weights": "untrained", "layers": ["conv2"], "limit": 8, "data": None}
    new, old, other = tmp_path / "new", tmp_path / "old", tmp_path / "other"
    write_config(new, "decoder train", seed=0, settings=spec)
    write_json(old / "run.json", {"spec": spec, "status": "done"})
    write_config(other, "compare", seed=0, settings={"run": str(new), "layers": ["conv2"]})  # has layers too
    assert read_run(new) == spec and read_run(old) == spec
    assert prepare_run_folder(new, spec, overwrite=False) is True  # same settings: resume
    assert prepare_run_folder(old, spec, overwrite=False) is True
    with pytest.raises(InvertError, match="different settings \\(limit\\)"):
        prepare_run_folder(new, {**spec, "limit": 16}, overwrite=False)
    for folder, why in ((other, "its config.json is not a decoder run's"), (tmp_path / "none", "no config.json")):
        with pytest.raises(InvertError) as err:
            read_run(folder)
        assert why in str(err.value) and "invert decoder train --out" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InvertError, match="already holds other results"):  # another command's folder is not resumed
        prepare_run_folder(other, spec, overwrite=False)
