"""One path from a command to the engine: each command run through its Python job function and through the CLI, with
the same small settings, writes the same files — the same names, JSON equal up to float rounding and timing, CSV
numbers equal, pictures equal."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

#: Keys that say when, where or from what command line a run happened, not what it computed.
VOLATILE = {"seconds", "cell_seconds", "command_line", "argv", "cwd", "out", "environment", "host", "pid", "started"}
VOLATILE_SUFFIXES = ("_seconds", "_time", "_at")


def _volatile(key: str) -> bool:
    return key in VOLATILE or key.endswith(VOLATILE_SUFFIXES) or key.startswith("seconds")


def same_json(a: Any, b: Any, where: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ (floats within 1e-4 relative), leaving out the volatile keys."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = {k for k in a.keys() | b.keys() if not _volatile(k)}
        return [d for k in sorted(keys) for d in same_json(a.get(k), b.get(k), f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in same_json(x, y, f"{where}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        ok = isinstance(a, (int, float)) and isinstance(b, (int, float))
        ok = ok and (math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6) or (math.isnan(a) and math.isnan(b)))
        return [] if ok else [f"{where}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def _rows(text: str) -> list[dict[str, Any]]:
    """A CSV table as rows by column name (timing columns then drop out like JSON keys), numbers as floats."""

    def number(v: str) -> Any:
        try:
            return float(v)
        except ValueError:
            return v

    return [{k: number(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]


def _files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file() and p.name[0] != "."}


def differences(a: Path, b: Path) -> list[str]:
    """What differs between two result folders: missing files, then each file by its kind."""
    fa, fb = _files(a), _files(b)
    found = [f"only in one: {sorted(fa.keys() ^ fb.keys())}"] if fa.keys() != fb.keys() else []
    for name in sorted(fa.keys() & fb.keys()):
        pa, pb = fa[name], fb[name]
        if pa.suffix == ".json":
            found += [f"{name}{d}" for d in same_json(json.loads(pa.read_text()), json.loads(pb.read_text()))]
        elif pa.suffix == ".csv":
            found += [f"{name}{d}" for d in same_json(_rows(pa.read_text()), _rows(pb.read_text()))]
        elif pa.suffix == ".png":
            x, y = (np.asarray(Image.open(p).convert("RGB"), dtype=float) for p in (pa, pb))
            if x.shape != y.shape or np.abs(x - y).mean() > 0.5:  # pixels, 0…255: the same picture
                found.append(f"{name}: pictures differ")
        elif pa.suffix == ".pt":
            ta, tb = torch.load(pa), torch.load(pb)
            if ta.keys() != tb.keys() or not all(torch.allclose(ta[k], tb[k], atol=1e-5) for k in ta):
                found.append(f"{name}: tensors differ")
        elif pa.suffix not in (".html",):  # the page embeds the pictures compared above
            found += [] if pa.read_bytes() == pb.read_bytes() else [f"{name}: bytes differ"]
    return found


def test_the_comparison_sees_a_different_number_and_a_missing_file(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d, m_g in ((a, 1.0), (b, 1.5)):
        d.mkdir()
        (d / "metrics.json").write_text(json.dumps({"m_g": [m_g], "seconds": m_g}))
    (a / "table.csv").write_text("x,cell_seconds\n1,5\n")
    assert differences(a, b) == ["only in one: ['table.csv']", "metrics.json.m_g[0]: 1.0 vs 1.5"]
    (b / "metrics.json").write_text(json.dumps({"m_g": [1.0 + 1e-9], "seconds": 9.0}))
    (b / "table.csv").write_text("x,cell_seconds\n1.0,7\n")
    assert differences(a, b) == []
    (b / "table.csv").write_text("x,cell_seconds\n2,5\n")
    assert differences(a, b) == ["table.csv[0].x: 1.0 vs 2.0"]


def test_run_through_the_job_and_the_cli_writes_the_same_files(cli, tmp_path):
    from invert.job import run

    run("resnet18", "conv2", size=32, iterations=2, record_every=1, out=tmp_path / "api", progress=False)
    r = cli("run", "--model", "resnet18", "--layer", "conv2", "--size", "32", "--iterations", "2", "--record-every",
            "1", "--quiet", "--out", tmp_path / "cli")  # fmt: skip
    assert r.code == 0, r.err
    assert {"metrics.json", "config.json", "history.csv", "reconstruction.png"} <= _files(tmp_path / "cli").keys()
    assert differences(tmp_path / "api", tmp_path / "cli") == []


def test_run_job_takes_the_models_own_size_like_the_cli(tmp_path):
    """The model's input size is the job's rule: a CIFAR ResNet runs at 32 px from Python too."""
    from invert.job import run

    result, out = run("cifar_resnet20", "conv1", iterations=1, out=tmp_path / "r", progress=False)
    assert json.loads((out / "config.json").read_text())["inversion"]["size"] == 32
    assert tuple(result.images.shape[-2:]) == (32, 32)


def test_a_sweep_cell_is_the_run_job(cli, tmp_path):
    """`invert sweep` with one cell writes, in the cell's folder, what `invert.job.run` writes for its settings."""
    from invert.job import run

    spec = tmp_path / "spec.toml"
    spec.write_text(
        'model = ["resnet18"]\nlayer = ["conv2"]\nseed = [0]\n[run]\nsize = 32\niterations = 2\nrecord_every = 1\n'
    )
    r = cli("sweep", spec, "--out", tmp_path / "sweep", "--workers", "1", "--quiet")
    assert r.code == 0, r.err
    (cell,) = (tmp_path / "sweep" / "cells").iterdir()
    (cell / "cell.json").unlink()  # the sweep's own record of the cell, and the cell's settings in config.json
    config = json.loads((cell / "config.json").read_text())
    assert config.pop("sweep_cell")["settings"]["run"] == {"iterations": 2, "record_every": 1, "size": 32}
    (cell / "config.json").write_text(json.dumps(config))
    run("resnet18", "conv2", size=32, iterations=2, record_every=1, seed=0, out=tmp_path / "api", overwrite=True,
        progress=False)  # fmt: skip
    assert differences(tmp_path / "api", cell) == []


def test_visualize_through_the_job_and_the_cli_writes_the_same_files(cli, tmp_path):
    from invert.job_methods import visualize

    visualize("resnet18", "conv3", channels=[1, 2], size=32, iterations=2, out=tmp_path / "api", progress=False)
    r = cli("visualize", "--model", "resnet18", "--layer", "conv3", "--channel", "1", "--channel", "2", "--size",
            "32", "--iterations", "2", "--quiet", "--out", tmp_path / "cli")  # fmt: skip
    assert r.code == 0, r.err
    assert {"visualization_0.png", "visualization_1.png", "figure.png"} <= _files(tmp_path / "cli").keys()
    assert differences(tmp_path / "api", tmp_path / "cli") == []


def test_attribute_through_the_job_and_the_cli_writes_the_same_files(cli, tmp_path):
    from invert.job_methods import attribute

    method = "grad-cam"
    attribute("resnet18", "conv4", method=method, size=32, out=tmp_path / "api")
    r = cli("attribute", "--model", "resnet18", "--layer", "conv4", "--method", method, "--size", "32",
            "--quiet", "--out", tmp_path / "cli")  # fmt: skip
    assert r.code == 0, r.err
    assert {f"{method}_0.png", "maps.pt", "metrics.json"} <= _files(tmp_path / "cli").keys()
    assert differences(tmp_path / "api", tmp_path / "cli") == []


def test_attack_through_the_job_and_the_cli_writes_the_same_files(cli, tmp_path):
    from invert.job_methods import attack

    attack("resnet18", method="fgsm", size=32, out=tmp_path / "api")
    r = cli("attack", "--model", "resnet18", "--method", "fgsm", "--size", "32", "--quiet",
            "--out", tmp_path / "cli")  # fmt: skip
    assert r.code == 0, r.err
    assert {"adversarial_0.png", "figure.png", "metrics.json"} <= _files(tmp_path / "cli").keys()
    assert differences(tmp_path / "api", tmp_path / "cli") == []


def test_profile_through_the_job_and_the_cli_writes_the_same_files(cli, tmp_path):
    from invert.profiling import profile

    profile(["resnet18"], tmp_path / "api", layers="conv1", size=32, iterations=2, workers=1, progress=False)
    r = cli("profile", "resnet18", "--layers", "conv1", "--size", "32", "--iterations", "2", "--workers", "1",
            "--quiet", "--out", tmp_path / "cli")  # fmt: skip
    assert r.code == 0, r.err
    assert {"table.csv", "profile.json", "profile.png"} <= _files(tmp_path / "cli").keys()
    assert differences(tmp_path / "api", tmp_path / "cli") == []
