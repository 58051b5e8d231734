"""`invert sweep`: grid expansion, stable cell ids, checks before running, resume, failed cells, Ctrl-C."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from invert.errors import InvertError
from invert.io import default_image_path
from invert.sweep.spec import Cell, expand, load_spec, parse_spec, validate

SMALLEST = """model = ["resnet18"]
layer = ["conv1", "conv2"]
image = ["a.jpg", "b.jpg"]
seed  = [0]
[run]
size = 64
iterations = 20
"""


def _images(folder: Path) -> None:
    """a.jpg = the embedded photograph, b.jpg = its mirror image (a different target)."""
    from torchvision.io import write_jpeg

    from invert.io import load_image, to_uint8

    shutil.copy(default_image_path(), folder / "a.jpg")
    write_jpeg(to_uint8(load_image(default_image_path()).flip(-1)), str(folder / "b.jpg"))


def _scalar(v):
    """metrics.json holds per-target lists (one target per cell) or, in older files, scalars."""
    return v[0] if isinstance(v, list) else v


def _flat(text: str) -> str:
    """Console text with rich's line wrapping undone."""
    return " ".join(text.split())


def _table(out: Path) -> list[dict[str, str]]:
    with open(out / "table.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_expand_is_the_product_minus_excluded(tmp_path: Path) -> None:
    spec = parse_spec(
        {
            "model": ["resnet18", "resnet50"],
            "layer": ["conv1", "conv2"],
            "seed": [0, 1],
            "exclude": [{"model": "resnet50", "layer": "conv1"}, {"seed": 1, "layer": ["conv2"]}],
        },
        tmp_path / "s.toml",
    )
    got = [(c.model, c.layer, c.seed) for c in expand(spec)]
    # 2 × 2 × 2 = 8; drop resnet50/conv1 (2 seeds) and conv2 at seed 1 (resnet18 and resnet50): 8 − 2 − 2 = 4
    assert got == [
        ("resnet18", "conv1", 0),
        ("resnet18", "conv1", 1),
        ("resnet18", "conv2", 0),
        ("resnet50", "conv2", 0),
    ]
    assert {(c.image, c.weights, c.preset) for c in expand(spec)} == {(None, "untrained", "default")}


def test_cell_id_is_a_stable_hash_of_the_settings(tmp_path: Path) -> None:
    p = tmp_path / "spec.toml"
    p.write_text(SMALLEST)
    ids = [c.id for c in expand(load_spec(p))]
    assert ids == [c.id for c in expand(load_spec(p))] and len(set(ids)) == 4
    # independent computation: SHA-256 of the canonical JSON, first 12 hex digits
    text = (
        '{"image":"a.jpg","layer":"conv1","model":"resnet18","preset":"default",'
        '"run":{"iterations":20,"size":64},"seed":0,"weights":"untrained"}'
    )
    assert ids[0] == hashlib.sha256(text.encode()).hexdigest()[:12]
    base = Cell("resnet18", "conv1", "a.jpg", "untrained", "default", 0, (("iterations", 20), ("size", 64)))
    assert base.id == ids[0]
    for changed in (
        Cell("resnet18", "conv1", "a.jpg", "untrained", "default", 1, base.run),
        Cell("resnet18", "conv1", "a.jpg", "untrained", "badger", 0, base.run),
        Cell("resnet18", "conv1", "a.jpg", "untrained", "default", 0, (("iterations", 21), ("size", 64))),
    ):
        assert changed.id != base.id


@pytest.mark.parametrize(
    "text, needle",
    [
        ('model = ["resnet18"]\nlayer = ["conv1"]\nlayers = ["conv2"]\n', "unknown key 'layers'"),
        ('model = ["resnet81"]\nlayer = ["conv1"]\n', "unknown model 'resnet81'"),
        ('model = ["resnet18"]\nlayer = ["conv1", "conv9"]\n', "unknown layer 'conv9'"),
        ('model = ["resnet18"]\nlayer = ["conv1"]\nimage = ["missing.jpg"]\n', "image not found"),
        (
            'model = ["resnet18"]\nlayer = ["conv1"]\n[run]\nsize = 64\niteratons = 5\n',
            "unknown `invert run` setting 'iteratons'",
        ),
        ('model = ["resnet18"]\nlayer = ["conv1"]\n[run]\nlr = -1\n', "learning rate must be positive"),
        ('model = ["resnet18"]\nlayer = ["conv1"]\n[run]\nseed = 3\n', "put it at the top level"),
        ('model = ["resnet18"]\nlayer = ["conv1"]\nweights = ["nothere.pt"]\n', "weights file not found"),
        ('layer = ["conv1"]\n', "has no model list"),
    ],
)
def test_bad_specs_are_refused_before_anything_runs(tmp_path: Path, cli, text: str, needle: str) -> None:
    (tmp_path / "spec.toml").write_text(text)
    res = cli("sweep", tmp_path / "spec.toml", "--out", tmp_path / "out")
    assert res.code == 2 and needle in res.err and "Traceback" not in res.err
    assert len(res.err.strip().splitlines()) <= 3  # one message (rich may wrap it)
    if "unknown model" in needle or "conv9" in needle:
        assert "cell " in res.err  # names the cell
    assert not (tmp_path / "out").exists()


def test_smallest_spec_runs_as_written_and_resumes(tmp_path: Path, cli) -> None:
    _images(tmp_path)
    (tmp_path / "spec.toml").write_text(SMALLEST)
    out = tmp_path / "out"
    res = cli("sweep", tmp_path / "spec.toml", "--out", out, "--workers", "1", "--quiet")
    assert res.code == 0, res.err
    assert "4 cells; running 4" in _flat(res.out)
    cells = expand(load_spec(tmp_path / "spec.toml"))
    rows = _table(out)
    assert [r["id"] for r in rows] == [c.id for c in cells] and {r["status"] for r in rows} == {"complete"}
    for name in ("summary.png", "grid.png", "sweep.json"):
        assert (out / name).stat().st_size > 1000 or name == "sweep.json"
    assert json.loads((out / "sweep.json").read_text())["counts"] == {"complete": 4, "failed": 0, "pending": 0}
    for c, r in zip(cells, rows, strict=True):
        folder = out / "cells" / c.id
        assert {
            "target.png",
            "reconstruction.png",
            "metrics.json",
            "history.csv",
            "distances.png",
            "config.json",
            "cell.json",
        } <= {p.name for p in folder.iterdir()}
        metrics = json.loads((folder / "metrics.json").read_text())
        assert float(r["m_g"]) == pytest.approx(_scalar(metrics["m_g"]), rel=1e-5) and metrics["iterations"] == 20
        assert json.loads((folder / "config.json").read_text())["job"]["out"] == str(folder)

    # the cell is exactly `invert run` with the same settings: same numbers from the command itself
    run = cli(
        "run",
        "--model",
        "resnet18",
        "--layer",
        "conv2",
        "--image",
        tmp_path / "b.jpg",
        "--size",
        "64",
        "--iterations",
        "20",
        "--seed",
        "0",
        "--out",
        tmp_path / "single",
        "--quiet",
    )
    assert run.code == 0, run.err
    direct = json.loads((tmp_path / "single" / "metrics.json").read_text())
    cell = json.loads((out / "cells" / cells[3].id / "metrics.json").read_text())
    for key in ("m_g", "m_s", "m_i", "psnr"):
        assert _scalar(cell[key]) == pytest.approx(_scalar(direct[key]), rel=1e-5), key

    stamps = {c.id: (out / "cells" / c.id / "metrics.json").stat().st_mtime_ns for c in cells}
    again = cli("sweep", tmp_path / "spec.toml", "--out", out, "--workers", "1", "--quiet")
    assert again.code == 0 and "skipping 4 already finished; running 0" in _flat(again.out)
    assert stamps == {c.id: (out / "cells" / c.id / "metrics.json").stat().st_mtime_ns for c in cells}


def test_failed_cell_is_recorded_and_retried(tmp_path: Path, cli) -> None:
    from invert.encoders.cifar import cifar_resnet20

    (tmp_path / "bad.pt").write_text("not a state dict")
    (tmp_path / "spec.toml").write_text(
        'model = ["cifar_resnet20"]\nlayer = ["conv2"]\nweights = ["untrained", "bad.pt"]\n'
        "[run]\nsize = 32\niterations = 3\nms_draws = 1\n"
    )
    out = tmp_path / "out"
    res = cli("sweep", tmp_path / "spec.toml", "--out", out, "--workers", "1", "--quiet")
    assert res.code == 1
    rows = {r["weights"]: r for r in _table(out)}
    assert rows["untrained"]["status"] == "complete" and rows["bad.pt"]["status"] == "failed"
    assert "bad.pt" in rows["bad.pt"]["error"] and rows["bad.pt"]["m_g"] == ""
    record = json.loads((out / "cells" / rows["bad.pt"]["id"] / "cell.json").read_text())
    assert record["status"] == "failed" and record["error"] == rows["bad.pt"]["error"]

    skip = cli("sweep", tmp_path / "spec.toml", "--out", out, "--workers", "1", "--quiet")
    assert (
        "skipping 1 already finished, 1 failed earlier (--retry-failed reruns them); running 0" in _flat(skip.out)
        and skip.code == 1
    )

    torch.save(cifar_resnet20().state_dict(), tmp_path / "bad.pt")  # fix the cause, then retry only the failed cell
    done_at = (out / "cells" / rows["untrained"]["id"] / "metrics.json").stat().st_mtime_ns
    retry = cli("sweep", tmp_path / "spec.toml", "--out", out, "--workers", "1", "--quiet", "--retry-failed")
    assert retry.code == 0 and "running 1" in _flat(retry.out)
    assert {r["status"] for r in _table(out)} == {"complete"}
    assert (out / "cells" / rows["untrained"]["id"] / "metrics.json").stat().st_mtime_ns == done_at


def test_ctrl_c_keeps_finished_cells_and_the_next_run_continues(tmp_path: Path, monkeypatch) -> None:
    from invert.sweep import runner

    (tmp_path / "spec.toml").write_text(
        'model = ["cifar_resnet20"]\nlayer = ["conv1", "conv2", "conv3"]\n'
        "[run]\nsize = 32\niterations = 2\nms_draws = 1\n"
    )
    out = tmp_path / "out"
    real = runner.write_cell

    def write_then_interrupt(cells_dir: Path, outcome: dict) -> Path:
        real(cells_dir, outcome)
        raise KeyboardInterrupt  # Ctrl-C right after the first cell arrived

    monkeypatch.setattr(runner, "write_cell", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        runner.run_sweep(tmp_path / "spec.toml", out, workers=1, progress=False)
    assert [r["status"] for r in _table(out)] == ["complete", "pending", "pending"]
    assert json.loads((out / "sweep.json").read_text())["status"] == "interrupted"
    monkeypatch.setattr(runner, "write_cell", real)
    report = runner.run_sweep(tmp_path / "spec.toml", out, workers=1, progress=False)
    assert (report.skipped_complete, report.ran) == (1, 2)
    assert [r["status"] for r in _table(out)] == ["complete"] * 3


def test_out_folder_of_something_else_is_refused(tmp_path: Path) -> None:
    from invert.sweep.runner import run_sweep

    (tmp_path / "spec.toml").write_text('model = ["cifar_resnet20"]\nlayer = ["conv1"]\n')
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(InvertError, match="no sweep"):
        run_sweep(tmp_path / "spec.toml", tmp_path / "out", workers=1, progress=False)


def test_validate_names_the_cell(tmp_path: Path) -> None:
    spec = parse_spec({"model": ["resnet18"], "layer": ["conv1", "nope"]}, tmp_path / "s.toml")
    cells = expand(spec)
    with pytest.raises(InvertError, match=f"cell {cells[1].id} \\(resnet18 nope"):
        validate(spec, cells)
