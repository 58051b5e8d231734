"""Decoder vs optimisation vs hybrid: the comparison table, its costs, the hybrid's start, the CLI and the experiment."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from invert.decoder import DecoderTrainConfig, build_decoder, compare_inverters, train_decoder, winners
from invert.decoder.compare import QUALITY
from invert.encoders import build_encoder
from invert.inversion import InversionConfig, build_inverter
from invert.inversion.inverter import Initializer
from invert.io import shared_dir

SHARED = shared_dir()
needs_shared = pytest.mark.skipif(SHARED is None, reason="../shared (CIFAR-10 arrays, trained ResNet-20) not found; set INVERT_SHARED")


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
        res = train_decoder(dec, enc, x, y, config=DecoderTrainConfig(epochs=1, batch_size=16, val_fraction=0.25), folder=d, progress=False)
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
    cfg = InversionConfig(iterations=1, lr=1e-9, init="image")
    r = build_inverter(enc, cfg, init_image=decoded).run(x, 1)
    assert torch.allclose(r.images[:, 0], decoded, atol=1e-6)


def test_comparison_table(trained):
    dec, enc, clf, x, y, res = trained
    cfg = InversionConfig(iterations=15, seed=0)
    comp = compare_inverters(dec, enc, clf, x, y, config=cfg, train_seconds=res.seconds, amortise_over=100)
    rows = {r["method"]: r for r in comp.rows}
    assert list(rows) == ["decoder", "optimisation", "hybrid"]
    for r in rows.values():
        for key in ("mse", "psnr", "ssim", "m_g", "m_s", "m_g_over_m_s", "below_ms", "accuracy", "agreement",
                    "seconds_per_image", "training_seconds", "amortised_seconds_per_image"):
            assert key in r and math.isfinite(r[key]), key
        assert r["images"] == 4 and r["layer"] == "conv2"
        assert r["seconds_per_image"] > 0
        assert math.isclose(r["amortised_seconds_per_image"], r["seconds_per_image"] + r["training_seconds"] / 100, rel_tol=1e-9)
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


@needs_shared
def test_compare_cli_and_experiment(tmp_path):
    from typer.testing import CliRunner

    from invert.cli import app
    from invert.experiments import run_experiment

    params = {"train": 64, "epochs": 1, "batch_size": 16, "images": 2, "iterations": 5, "layers": ["conv2"]}
    verdict, folder = run_experiment("decoder-vs-optimisation", quick=True, out=tmp_path / "exp", params=params)
    saved = json.loads((folder / "verdict.json").read_text())
    d = saved["details"]
    assert saved["held"] == (d["decoder_cheaper"] and d["optimisation_closer_in_representation"] and d["hybrid_not_worse"])
    rows = json.loads((folder / "comparison.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["decoder", "optimisation", "hybrid"]
    for name in ("comparison.csv", "comparison.md", "side_by_side.png", "cost_quality.png", "summary.md", "config.json"):
        assert (folder / name).stat().st_size > 0, name
    table = (folder / "comparison.md").read_text()
    assert table.count("| conv2 |") == 3 and "wins:" in table

    runner = CliRunner()
    out = tmp_path / "cmp"
    res = runner.invoke(app, ["compare", "--run", str(folder / "decoders"), "--images", "2", "--iterations", "3",
                              "--out", str(out), "--device", "cpu", "--quiet"])
    assert res.exit_code == 0, res.output
    got = json.loads((out / "comparison.json").read_text())
    assert got["inversion_config"]["iterations"] == 3 and "conv2" in got["winners"]
    res = runner.invoke(app, ["compare", "--run", str(folder / "decoders"), "--layer", "conv4", "--out", str(tmp_path / "c2")])
    assert res.exception is not None and "no trained decoder for layer(s) conv4" in str(res.exception)


@needs_shared
def test_checkpoints_experiment_verdict_is_computed(tmp_path):
    from invert.experiments import run_experiment

    params = {"train": 64, "test": 16, "epochs": 1, "batch_size": 16, "layers": ["conv2", "conv3"]}
    verdict, folder = run_experiment("decoder-checkpoints", quick=True, out=tmp_path, params=params)
    d = json.loads((folder / "verdict.json").read_text())["details"]
    assert verdict.held == (d["early_beats_baseline"] and d["mse_rises"] and d["accuracy_falls"])
    rows = d["rows"]
    assert [r["layer"] for r in rows] == ["conv2", "conv3"]
    assert d["mse_rises"] == (rows[-1]["mse"] > rows[0]["mse"])
    assert (folder / "eval" / "error_per_checkpoint.png").is_file() and (folder / "eval" / "grid_correct.png").is_file()
