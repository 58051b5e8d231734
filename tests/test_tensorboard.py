"""--tensorboard: event files read back with TensorBoard's own reader agree with the run's files."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from invert.tensorboard import RunLog, log_epochs, open_log, run_folder  # noqa: E402


def _read(folder):
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_invert_run_logs_scalars_and_images_that_match_its_files(cli, tmp_path):
    res = cli(
        "run",
        "--model",
        "cifar_resnet20",
        "--layer",
        "conv2",
        "--iterations",
        "12",
        "--record-every",
        "4",
        "--tensorboard",
        tmp_path / "tb",
        "--out",
        tmp_path / "out",
        "--quiet",
    )
    assert res.code == 0, res.err
    (folder,) = list((tmp_path / "tb").iterdir())  # one run folder for the job
    assert "cifar_resnet20-conv2" in folder.name
    acc = _read(folder)
    tags = acc.Tags()
    assert {
        "inversion/loss",
        "inversion/m_g",
        "inversion/lr",
        "inversion/m_i",
        "inversion/blur_sigma",
        "inversion/m_s",
        "final/m_g",
        "final/m_i",
    } <= set(tags["scalars"])
    assert {"target/image_0", "reconstruction/image_0"} <= set(tags["images"])

    scalar = {t: {e.step: e.value for e in acc.Scalars(t)} for t in tags["scalars"]}
    assert sorted(scalar["inversion/loss"]) == list(range(12))  # every iteration
    assert sorted(scalar["inversion/m_i"]) == [4, 8, 12]  # every --record-every
    history = list(csv.DictReader(open(tmp_path / "out" / "history.csv")))
    for row in history:
        it = int(row["iteration"])
        if it < 12:  # m_g of the image each iteration evaluated, as history.csv recorded it
            assert scalar["inversion/m_g"][it] == pytest.approx(float(row["m_g"]), rel=1e-5)
        if it > 0:  # m_i of the image after `it` updates
            assert scalar["inversion/m_i"][it] == pytest.approx(float(row["m_i"]), rel=1e-4)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert scalar["final/m_g"][12] == pytest.approx(metrics["m_g"][0], rel=1e-5)
    assert scalar["inversion/m_s"][0] == pytest.approx(metrics["m_s"][0], rel=1e-5)
    assert scalar["inversion/lr"][0] == pytest.approx(0.1)  # the default lr at 32 px, cosine-annealed from step 0
    for k, sigma in scalar["inversion/blur_sigma"].items():  # the default σ at 32 px: 0.5 → 0 over 12 steps
        assert sigma == pytest.approx(0.5 * (1 - (k - 1) / 12)), k  # logged after step k - 1 at its σ

    (target,) = acc.Images("target/image_0")  # once
    recs = acc.Images("reconstruction/image_0")
    assert [e.step for e in recs] == [4, 8, 12]
    last = np.asarray(Image.open(io.BytesIO(recs[-1].encoded_image_string)).convert("RGB"), dtype=np.int16)
    saved = np.asarray(Image.open(tmp_path / "out" / "reconstruction.png").convert("RGB"), dtype=np.int16)
    assert last.shape == saved.shape == (32, 32, 3)
    assert np.abs(last - saved).max() <= 1  # both 8-bit encodings of the same image
    shown = np.asarray(Image.open(io.BytesIO(target.encoded_image_string)).convert("RGB"), dtype=np.int16)
    saved_target = np.asarray(Image.open(tmp_path / "out" / "target.png").convert("RGB"), dtype=np.int16)
    assert np.abs(shown - saved_target).max() <= 1


def test_epoch_rows_and_one_folder_per_job(tmp_path):
    a, b = open_log(tmp_path, "train"), open_log(tmp_path, "train")
    assert a is not None and b is not None and a.folder != b.folder
    history = [
        {"epoch": 1, "loss": 2.5, "train_acc": 0.25, "seconds": 1.0},
        {"epoch": 2, "loss": 1.5, "train_acc": 0.5, "val_acc": 0.4, "seconds": 1.0, "flag": True},
    ]
    log_epochs(a, history)
    a.scalars({"nan": float("nan")}, 0)  # skipped, not a broken curve
    a.close()
    b.close()
    acc = _read(a.folder)
    assert "nan" not in acc.Tags()["scalars"] and "training/flag" not in acc.Tags()["scalars"]
    assert [(e.step, e.value) for e in acc.Scalars("training/loss")] == [(1, 2.5), (2, 1.5)]
    assert [(e.step, e.value) for e in acc.Scalars("training/val_acc")] == [(2, pytest.approx(0.4))]
    assert open_log(None, "x") is None
    made = run_folder(tmp_path, "a b/c")
    assert made.is_dir() and made.name.endswith("-a_b_c") and run_folder(tmp_path, "a b/c") != made


def test_image_is_clamped_and_written(tmp_path):
    with RunLog(tmp_path / "r") as log:
        log.image("x", torch.tensor([[[2.0, -1.0]]]).expand(3, 1, 2), 0)
    (event,) = _read(tmp_path / "r").Images("x")
    px = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)).convert("RGB"))
    assert px[0, 0].tolist() == [255, 255, 255] and px[0, 1].tolist() == [0, 0, 0]


def test_train_noise_logs_each_epoch_as_its_history_csv(cli, tmp_path):
    res = cli(
        "train",
        "noise",
        "--quick",
        "--n",
        "32",
        "--size",
        "16",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--out",
        tmp_path / "run",
        "--tensorboard",
        tmp_path / "tb",
        "--quiet",
    )
    assert res.code == 0, res.err
    (folder,) = list((tmp_path / "tb").iterdir())
    acc = _read(folder)
    rows = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    assert len(rows) == 2
    for tag in ("loss", "train_acc"):
        logged = [(e.step, e.value) for e in acc.Scalars(f"training/{tag}")]
        assert logged == [(int(r["epoch"]), pytest.approx(float(r[tag]), rel=1e-4)) for r in rows]


def test_decoder_training_logs_per_checkpoint(tmp_path):
    from invert.decoder.architecture import build_decoder
    from invert.decoder.training import DecoderTrainConfig, train_decoder
    from invert.encoders import build_encoder
    from invert.tensorboard import logging_epochs

    images = torch.rand(12, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    enc = build_encoder("cifar_resnet20", "conv2")
    dec = build_decoder("cifar_resnet20", "conv2", seed=0)
    with logging_epochs(tmp_path / "tb", "decoder") as log:
        config = DecoderTrainConfig(epochs=2, batch_size=4, val_fraction=0.25, patience=5)
        res = train_decoder(dec, enc, images, config=config, folder=tmp_path / "dec", progress=False)
    acc = _read(log.folder)
    logged = [(e.step, e.value) for e in acc.Scalars("decoder_conv2/val_mse")]
    assert logged == [(h["epoch"], pytest.approx(h["val_mse"], rel=1e-5)) for h in res.history]
    assert [e.step for e in acc.Scalars("decoder_conv2/train_loss")] == [1, 2]


def test_sweep_logs_each_cell_under_its_id(cli, tmp_path):
    from invert.sweep.spec import expand, load_spec

    (tmp_path / "spec.toml").write_text(
        'model = ["cifar_resnet20"]\nlayer = ["conv1", "conv2"]\nseed = [0]\n'
        "[run]\nsize = 32\niterations = 4\nrecord_every = 2\n"
    )
    res = cli(
        "sweep",
        tmp_path / "spec.toml",
        "--out",
        tmp_path / "out",
        "--workers",
        "1",
        "--quiet",
        "--tensorboard",
        tmp_path / "tb",
    )
    assert res.code == 0, res.err
    ids = sorted(c.id for c in expand(load_spec(tmp_path / "spec.toml")))
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == ids
    for cell in ids:
        (run,) = list((tmp_path / "tb" / cell).iterdir())
        acc = _read(run)
        assert [e.step for e in acc.Scalars("inversion/m_g")] == [0, 1, 2, 3]
        assert [e.step for e in acc.Images("reconstruction/image_0")] == [2, 4]
