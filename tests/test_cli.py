"""`invert run` end to end on a small setting, and every bad input's one-line error."""

import json
import subprocess
import sys

import pytest

RUN_FILES = {"target.png", "reconstruction.png", "metrics.json", "history.csv", "distances.png", "config.json"}
SMALL = ["run", "--model", "resnet18", "--layer", "conv2", "--size", "48", "--iterations", "12", "--quiet"]


def test_run_writes_every_file(cli, tmp_path, photo):
    out = tmp_path / "run"
    r = cli(*SMALL, "--image", photo, "--out", out, "--seed", "3", "--record-every", "2")
    assert r.code == 0, r.err
    assert RUN_FILES <= {p.name for p in out.iterdir()}
    m = json.loads((out / "metrics.json").read_text())
    for key in ("m_g", "m_s", "m_i", "psnr", "ssim", "iterations", "seconds", "model", "layer", "weights"):
        assert key in m
    assert m["model"] == "resnet18" and m["layer"] == "conv2" and m["iterations"] == 12 and m["status"] == "complete"
    assert len(m["m_g"]) == len(m["m_s"]) == 1 and m["m_g"][0] > 0 and m["m_s"][0] > 0  # lists whatever the image count
    assert len(m["runs"]) == 1 and m["runs"][0]["m_g"] == m["m_g"][0]
    header = (out / "history.csv").read_text().splitlines()[0].split(",")
    assert {"iteration", "loss", "m_g", "m_i", "lr", "sigma"} <= set(header)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["inversion"]["seed"] == 3 and cfg["inversion"]["size"] == 48
    assert {"torch", "torchvision", "device", "python"} <= set(cfg["environment"])
    assert "m_g" in r.out  # the summary table


def test_run_refuses_to_overwrite(cli, tmp_path):
    out = tmp_path / "run"
    assert cli(*SMALL, "--out", out).code == 0
    before = (out / "metrics.json").read_bytes()
    r = cli(*SMALL, "--out", out, "--seed", "9")
    assert r.code == 2 and "--overwrite" in r.err
    assert (out / "metrics.json").read_bytes() == before
    assert cli(*SMALL, "--out", out, "--seed", "9", "--overwrite").code == 0


def test_multiple_images_and_restarts(cli, tmp_path, photo32):
    from invert.io import save_image

    out = tmp_path / "multi"
    imgs = [save_image(img, tmp_path / f"in_{i}.png") for i, img in enumerate(photo32)]
    r = cli(
        "run",
        "--model",
        "cifar_resnet20",
        "--layer",
        "conv2",
        "--size",
        "32",
        "--iterations",
        "5",
        "--restarts",
        "2",
        "--image",
        imgs[0],
        "--image",
        imgs[1],
        "--out",
        out,
        "--quiet",
    )
    assert r.code == 0, r.err
    names = {p.name for p in out.iterdir()}
    assert {"target_0.png", "target_1.png", "reconstruction_0_r0.png", "reconstruction_1_r1.png"} <= names
    m = json.loads((out / "metrics.json").read_text())
    assert len(m["runs"]) == 4 and len(m["m_g"]) == 2
    chunked = tmp_path / "chunked"  # one image per pass: the same numbers (float rounding aside)
    r = cli(
        "run",
        "--model",
        "cifar_resnet20",
        "--layer",
        "conv2",
        "--size",
        "32",
        "--iterations",
        "5",
        "--restarts",
        "2",
        "--image",
        imgs[0],
        "--image",
        imgs[1],
        "--out",
        chunked,
        "--quiet",
        "--chunk",
        "1",
    )
    assert r.code == 0, r.err
    c = json.loads((chunked / "metrics.json").read_text())
    assert json.loads((chunked / "config.json").read_text())["inversion"]["chunk"] == 1
    assert [x["m_g"] for x in c["runs"]] == pytest.approx([x["m_g"] for x in m["runs"]], rel=1e-4)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--image", "/no/such/image.png"], "image not found"),
        (["--model", "resnet5"], "unknown model"),
        (["--layer", "conv9"], "unknown layer 'conv9'"),
        (["--lr", "-0.1"], "learning rate must be positive"),
        (["--lr", "fast"], "--lr must be a number or 'auto'"),
        (["--iterations", "0"], "iterations must be at least 1"),
        (["--weights", "/no/such/weights.pt"], "weights file not found"),
        (["--optimizer", "rmsprop"], "unknown optimizer"),
        (["--preset", "fancy"], "unknown preset"),
        (["--restarts", "0"], "--restarts must be at least 1"),
        (["--dtype", "float16x"], "unknown dtype"),
        (["--chunk", "-1"], "chunk must be ≥ 0"),
        (["--objective", "gramm"], "unknown objective"),
        (["--lr", "inf"], "learning rate must be positive and finite"),
        (["--lr-end", "-1"], "--lr-end"),
        (["--schedule", "cosin"], "unknown schedule 'cosin': choose from constant"),
    ],
)
def test_bad_input_one_line_error(cli, tmp_path, args, needle):
    r = cli(*SMALL, "--out", tmp_path / "x", *args)
    assert r.code == 2, (r.code, r.out, r.err)
    assert needle in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) <= 3  # one line (wrapped only by the terminal width)


def test_unreadable_image(cli, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG but not really")
    r = cli(*SMALL, "--image", bad, "--out", tmp_path / "x")
    assert r.code == 2 and "cannot read image" in r.err


def test_console_script_has_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "invert.cli", "run", "--layer", "conv9", "--quiet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "unknown layer" in proc.stderr and "Traceback" not in proc.stderr


def test_layers_lists_shapes(cli):
    r = cli("layers", "resnet50", "--size", "299", "--aliases")
    assert r.code == 0 and "1024×19×19" in r.out and "conv4" in r.out
