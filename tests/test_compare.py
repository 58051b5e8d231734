"""Decoder vs optimisation vs hybrid: the comparison table, its costs, the hybrid's start."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from invert.decoder import DecoderTrainConfig, build_decoder, compare_inverters, train_decoder, winners
from invert.decoder.compare import QUALITY
from invert.encoders import build_encoder
from invert.inversion import InversionConfig, build_inverter
from invert.inversion.inverter import Initializer


@pytest.fixture(scope="module")
def trained():
    """A small decoder for ResNet-20 conv2 (untrained encoder weights, smooth synthetic images)."""
    g = torch.Generator().manual_seed(0)
    x = F.interpolate(torch.rand(64, 3, 4, 4, generator=g), size=32, mode="bilinear", align_corners=False)
    y = torch.randint(0, 10, (64,), generator=g)
    enc = build_encoder("cifar_resnet20", "conv2", "untrained")
    clf = build_encoder("cifar_resnet20", "fc", "untrained")
    dec = build_decoder("cifar_resnet20", "conv2")
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        res = train_decoder(
            dec,
            enc,
            x,
            y,
            config=DecoderTrainConfig(epochs=1, batch_size=16, val_fraction=0.25),
            folder=d,
            progress=False,
        )
    return dec, enc, clf, x[:4], y[:4], res


def test_initializer_takes_one_start_image_per_target():
    imgs = torch.rand(3, 3, 8, 8)
    init = Initializer("image", image=imgs)
    out = init((6, 3, 8, 8), torch.Generator())  # 3 targets × 2 restarts, target-major like Inverter.run
    assert torch.equal(out[0], imgs[0]) and torch.equal(out[1], imgs[0]) and torch.equal(out[4], imgs[2])
    assert torch.equal(init((3, 3, 8, 8), torch.Generator()), imgs)


def test_hybrid_starts_from_the_decoder_output(trained):
    dec, enc, _, x, _, _ = trained
    decoded = dec.decode(enc(x))
    cfg = InversionConfig(iterations=1, lr=1e-9, blur=0.0, init="image")  # no step transform but the clamp
    r = build_inverter(enc, cfg, init_image=decoded).run(x, 1)
    assert torch.allclose(r.images[:, 0], decoded, atol=1e-6)


def test_comparison_table(trained):
    dec, enc, clf, x, y, res = trained
    cfg = InversionConfig(iterations=15, seed=0)
    comp = compare_inverters(dec, enc, clf, x, y, config=cfg, train_seconds=res.seconds, amortise_over=100)
    rows = {r["method"]: r for r in comp.rows}
    assert list(rows) == ["decoder", "optimisation", "hybrid"]
    for r in rows.values():
        for key in (
            "mse",
            "psnr",
            "ssim",
            "m_g",
            "m_s",
            "m_g_over_m_s",
            "below_ms",
            "accuracy",
            "agreement",
            "seconds_per_image",
            "training_seconds",
            "amortised_seconds_per_image",
        ):
            assert key in r and math.isfinite(r[key]), key
        assert r["images"] == 4 and r["layer"] == "conv2"
        assert r["seconds_per_image"] > 0
        assert math.isclose(
            r["amortised_seconds_per_image"], r["seconds_per_image"] + r["training_seconds"] / 100, rel_tol=1e-9
        )
    # one m_s per image for all methods
    assert rows["decoder"]["m_s"] == rows["optimisation"]["m_s"] == rows["hybrid"]["m_s"]
    assert rows["optimisation"]["training_seconds"] == 0 and rows["decoder"]["training_seconds"] == res.seconds
    assert rows["optimisation"]["iterations"] == rows["hybrid"]["iterations"] == 15
    # the decoder's numbers are what an independent decode + measurement gives
    dx = dec.decode(enc(x))
    assert math.isclose(rows["decoder"]["mse"], float(((dx - x) ** 2).mean()), rel_tol=1e-5)
    assert math.isclose(rows["decoder"]["accuracy"], float((clf(dx).argmax(1) == y).float().mean()))
    # optimisation on the representation beats a decoder trained for one epoch on 48 images in m_g
    assert rows["optimisation"]["m_g"] < rows["decoder"]["m_g"]
    assert rows["hybrid"]["m_g"] < rows["decoder"]["m_g"]
    # winners agree with the table
    for key, larger in QUALITY.items():
        vals = {m: r[key] for m, r in rows.items()}
        best = max(vals.values()) if larger else min(vals.values())
        assert vals[comp.winners[key]] == best, key
    assert comp.winners == winners(comp.rows)
