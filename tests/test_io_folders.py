"""Run folders: --overwrite removes only what the earlier run listed, locks leave no file behind, and the io
package is low-level (no torch at import, no arrow up into training)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from invert.errors import InvertError
from invert.io import (
    LOCK_NAME,
    check_out_dir,
    prepare_out_dir,
    release_folder,
    write_config,
    write_json,
    write_text,
)


def _earlier_run(out):
    folder = prepare_out_dir(out, out.parent, "x", overwrite=False)
    write_config(folder, "run", seed=0, status="running")
    write_text(folder / "result.png", "img")
    write_json(folder / "sub" / "metrics.json", {"m": 1})
    write_config(folder, "run", seed=0)
    release_folder(folder)
    return folder


def test_overwrite_removes_only_the_files_the_earlier_run_listed(tmp_path):
    out = _earlier_run(tmp_path / "run")
    listed = json.loads((out / "config.json").read_text())["files"]
    assert {"result.png", "sub/metrics.json", "config.json"} <= set(listed)
    (out / "notes.md").write_text("mine")
    (out / "plot.png").write_text("mine too")
    prepare_out_dir(out, tmp_path, "x", overwrite=True)
    release_folder(out)
    assert (out / "notes.md").read_text() == "mine" and (out / "plot.png").read_text() == "mine too"
    assert not (out / "result.png").exists() and not (out / "sub").exists()


def test_a_finished_run_leaves_no_lock_file(tmp_path):
    out = prepare_out_dir(tmp_path / "run", tmp_path, "x", overwrite=False)
    assert (out / LOCK_NAME).exists()
    release_folder(out)
    assert not (out / LOCK_NAME).exists()
    prepare_out_dir(out, tmp_path, "x", overwrite=False)  # and the folder can be locked again
    release_folder(out)


def test_out_checks_create_nothing(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvertError, match="is a file"):
        check_out_dir(tmp_path / "file", overwrite=False)
    check_out_dir(tmp_path / "new", overwrite=False)
    assert not (tmp_path / "new").exists()


def test_io_imports_neither_torch_nor_training():
    code = "import sys, invert.io; print(sorted(m for m in sys.modules if m == 'torch' or 'invert.training' in m))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.strip() == "[]", p.stdout
