"""Output folders and files: --overwrite clears stale results, a folder in use is refused, unwritable --out is one line,
files get the usual mode, metrics.json is strict JSON with one schema, config.json is the manifest of the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from invert.io import LOCK_NAME, write_json

TINY = ["run", "--model", "resnet18", "--layer", "conv2", "--size", "32", "--iterations", "3", "--quiet"]


def _strict(text: str) -> dict:
    """json.loads that refuses NaN/Infinity, as strict parsers (JavaScript, jq) do."""

    def bad(name: str) -> None:
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=bad)


def test_overwrite_clears_an_earlier_runs_files(cli, tmp_path):
    out = tmp_path / "run"
    assert cli(*TINY, "--restarts", "2", "--out", out).code == 0
    assert {"reconstruction_r0.png", "reconstruction_r1.png"} <= {p.name for p in out.iterdir()}
    assert "reconstruction_r1.png" in json.loads((out / "config.json").read_text())["files"]
    (out / "notes.md").write_text("mine")  # a user's own files beside the results: not the run's to remove
    (out / "plot.png").write_bytes(b"mine too")
    r = cli(*TINY, "--out", out, "--overwrite")
    assert r.code == 0, r.err
    assert (out / "notes.md").read_text() == "mine" and (out / "plot.png").read_bytes() == b"mine too"
    assert not (out / LOCK_NAME).exists()  # the lock goes with the run
    names = {p.name for p in out.iterdir()}
    assert (
        "reconstruction.png" in names and "reconstruction_r0.png" not in names and "reconstruction_r1.png" not in names
    )
    assert len(_strict((out / "metrics.json").read_text())["runs"]) == 1


def test_overwrite_never_clears_a_folder_invert_did_not_write(cli, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.png").write_bytes(b"precious")
    r = cli(*TINY, "--out", out, "--overwrite")
    assert r.code == 2 and "did not write" in r.err and "Traceback" not in r.err
    assert (out / "notes.png").read_bytes() == b"precious"


def test_a_folder_in_use_is_refused(cli, tmp_path):
    """Another process holds the folder's lock (as a running `invert run` does): a second run refuses in one line."""
    out = tmp_path / "busy"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import sys, time
        from invert.io import lock_folder
        lock_folder({str(out)!r}); print("locked", flush=True); time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        r = cli(*TINY, "--out", out)
        assert r.code == 2 and "in use by another invert run" in r.err and len(r.err.strip().splitlines()) <= 3
        assert not (out / "metrics.json").exists()
    finally:
        holder.kill()
        holder.wait()
    assert (out / LOCK_NAME).exists()  # the lock file stays (hidden); its lock went with its process
    assert cli(*TINY, "--out", out).code == 0


def test_out_under_a_file_is_one_line(cli, tmp_path):
    blocker = tmp_path / "somefile"
    blocker.write_text("x")
    r = cli(*TINY, "--out", blocker / "sub")
    assert r.code == 2 and "a file is in the way" in r.err and "Traceback" not in r.err


def test_unwritable_out_is_one_line(cli, tmp_path, monkeypatch):
    out = tmp_path / "readonly"
    out.mkdir()
    out.chmod(0o555)
    try:
        if os.geteuid() == 0:  # root writes anywhere: simulate what mode 555 does to everyone else
            real = os.access
            monkeypatch.setattr(
                os,
                "access",
                lambda p, mode, **kw: False if str(p) == str(out) and mode & os.W_OK else real(p, mode, **kw),
            )
        r = cli(*TINY, "--out", out)
        assert r.code == 2 and "permission denied" in r.err and "Traceback" not in r.err
        assert len(r.err.strip().splitlines()) <= 3
    finally:
        out.chmod(0o755)


def test_result_files_get_the_usual_mode(cli, tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "run"
        assert cli(*TINY, "--out", out).code == 0
        modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir() if not p.name.startswith(".")}
    finally:
        os.umask(old)
    assert modes and set(modes.values()) == {0o644}, modes


def test_json_is_strict_and_says_what_was_not_finite(tmp_path):
    import torch

    path = write_json(
        tmp_path / "m.json",
        {"m_g": float("inf"), "runs": [{"m_i": float("nan")}, {"m_i": 1.5}], "t": torch.tensor([1.0, float("-inf")])},
    )
    data = _strict(path.read_text())
    assert (
        data["m_g"] is None
        and data["runs"][0]["m_i"] is None
        and data["runs"][1]["m_i"] == 1.5
        and data["t"] == [1.0, None]
    )
    assert data["non_finite"] == {"m_g": "inf", "runs[0].m_i": "nan", "t[1]": "-inf"}


def test_metrics_has_one_schema_and_config_is_the_manifest(cli, tmp_path):
    out = tmp_path / "run"
    args = [*TINY, "--out", str(out), "--seed", "7", "--restarts", "2"]
    assert cli(*args).code == 0
    m = _strict((out / "metrics.json").read_text())
    for key in ("m_g", "m_s", "m_s_std", "m_i", "psnr", "ssim", "below_ms", "best_restart"):
        assert isinstance(m[key], list) and len(m[key]) == 1, key  # one image: still lists, as with several
    assert len(m["runs"]) == 2 and min(r["m_g"] for r in m["runs"]) == m["m_g"][0]
    c = _strict((out / "config.json").read_text())
    assert c["command"] == "invert run" and c["argv"] == ["invert", *args] and c["status"] == "complete"
    assert c["command_line"].startswith("invert run --model resnet18") and c["seed"] == 7 and c["out"] == str(out)
    assert c["inversion"]["seed"] == 7 and c["job"]["restarts"] == 2 and "torch" in c["environment"]
