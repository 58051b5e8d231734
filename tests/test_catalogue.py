"""The catalogue of bad inputs: every command refuses each with its exit status and one line, no traceback, no
folder left behind, and earlier results unchanged. Refusals are cheap: all run in-process, before any model runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

RUN = ["run", "--model", "mlp-8", "--layer", "output", "--iterations", "2", "--quiet"]


def _fifo(tmp: Path) -> str:
    os.mkfifo(tmp / "pipe.png")
    return str(tmp / "pipe.png")


def _spec(tmp: Path, run: str, seed: str = "") -> str:
    (tmp / "spec.toml").write_text(f'model = ["mlp-8"]\nlayer = ["output"]\n{seed}\n[run]\n{run}\n')
    return str(tmp / "spec.toml")


def _file(tmp: Path) -> str:
    (tmp / "afile").write_text("x")
    return str(tmp / "afile")


def _other_weights(tmp: Path) -> str:
    import torch

    torch.save(torch.nn.Linear(3, 4).state_dict(), tmp / "linear.pt")
    return str(tmp / "linear.pt")


def _plain_folder(tmp: Path) -> str:
    (tmp / "plain").mkdir()
    (tmp / "plain" / "data.txt").write_text("mine")
    return str(tmp / "plain")


# (id, argv builder taking the temporary folder, exit status, a phrase of the message)
CASES = [
    (
        "weights-of-another-model",
        lambda t: ["run", "--model", "resnet18", "--size", "32", "--weights", _other_weights(t), "--quiet"],
        2,
        "2 unexpected (weight, bias) — the file holds 2 tensors, ending in weight 4×3",
    ),
    ("seed-too-big", lambda t: [*RUN, "--seed", str(10**23)], 2, "--seed"),
    ("seed-negative", lambda t: [*RUN, "--seed", "-1"], 2, "--seed"),
    ("image-fifo", lambda t: [*RUN, "--image", _fifo(t)], 2, "not a regular file"),
    ("image-folder", lambda t: [*RUN, "--image", str(t)], 2, "is a folder"),
    ("tensorboard-file", lambda t: [*RUN, "--tensorboard", _file(t)], 2, "is a file"),
    ("decoder-eval-missing", lambda t: ["decoder", "eval", str(t / "none")], 2, "not a decoder run"),
    ("decoder-eval-plain", lambda t: ["decoder", "eval", _plain_folder(t)], 2, "not a decoder run"),
    ("compare-plain", lambda t: ["compare", "--run", _plain_folder(t), "--quiet"], 2, "not a decoder run"),
    ("decoder-train-layer", lambda t: ["decoder", "train", "--layer", "bogus", "--quiet"], 2, "unknown layer"),
    ("noise-n-0", lambda t: ["train", "noise", "--n", "0", "--quiet"], 2, "n ≥ 1"),
    ("sweep-size-text", lambda t: ["sweep", _spec(t, 'size = "big"'), "--quiet"], 2, "not an integer"),
    ("sweep-iterations-fraction", lambda t: ["sweep", _spec(t, "iterations = 2.5"), "--quiet"], 2, "not an integer"),
    ("sweep-clamp-text", lambda t: ["sweep", _spec(t, 'clamp = "yes"'), "--quiet"], 2, "true or false"),
    (
        "grad-cam-1x1",
        lambda t: ["attribute", "--model", "resnet18", "--size", "32", "--layer", "avgpool", "--quiet"],
        2,
        "1×1",
    ),
    ("experiment-executor", lambda t: ["experiment", "run", "depth", "--executor", "slurm"], 2, "unknown executor"),
    ("sweep-seed-range", lambda t: ["sweep", _spec(t, "iterations = 2", seed="seed = [-1]"), "--quiet"], 2, "2^63"),
    ("sweep-executor", lambda t: ["sweep", _spec(t, "iterations = 2"), "--executor", "slurm"], 2, "slurm"),
]


@pytest.mark.parametrize("build,code,phrase", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_in_one_line_and_leaves_nothing(cli, tmp_path, build, code, phrase):
    argv = build(tmp_path)
    out = tmp_path / "out"
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    r = cli(*argv, "--out", out)
    assert r.code == code, (r.code, r.err)
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1 and len(r.err) < 600, r.err
    assert phrase in r.err, r.err
    assert not out.exists()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing made anywhere


def test_a_refused_run_leaves_earlier_results_unchanged(cli, tmp_path):
    out = tmp_path / "earlier"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"command": "invert run", "status": "complete", "files": []}))
    (out / "metrics.json").write_text("{}")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for argv in ([*RUN, "--out", out], [*RUN, "--out", out, "--overwrite", "--seed", "-3"]):
        r = cli(*argv)
        assert r.code == 2 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
