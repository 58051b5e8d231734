"""Exit status and stopping: Ctrl-C and SIGTERM write partial results and exit 130; a diverged run exits 1."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

INVERT = str(Path(sys.executable).with_name("invert"))
LONG = [
    "run",
    "--model",
    "resnet18",
    "--layer",
    "conv2",
    "--size",
    "32",
    "--iterations",
    "100000",
    "--record-every",
    "50",
]


def _stop_running(out: Path, sig: int) -> subprocess.CompletedProcess:
    """Start a long `invert run`, let it reach its loop, send ``sig``; return the finished process.

    config.json ("running") appears just before the encoder is probed and the loop starts; the wait
    after it grows on each try, for a loaded machine, until the signal lands inside the loop.
    """
    for wait in (4.0, 10.0, 20.0):
        if out.exists():
            shutil.rmtree(out)
        proc = subprocess.Popen(
            [INVERT, *LONG, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.time() + 120
        while not (out / "config.json").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        try:
            time.sleep(wait)
            proc.send_signal(sig)
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:  # never leave a 100000-iteration run behind
                proc.kill()
                proc.wait()
        if (out / "metrics.json").exists():  # the loop had started: it caught the signal and wrote its results
            break
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_writes_partial_results_and_exits_130(tmp_path, sig):
    out = tmp_path / "stopped"
    done = _stop_running(out, sig)
    assert done.returncode == 130, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr and "interrupted" in done.stderr
    assert "[interrupted]" in done.stdout  # the table title keeps it (rich markup would eat it)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["interrupted"] is True and 0 <= metrics["iterations"] < 100000
    assert json.loads((out / "config.json").read_text())["status"] == "interrupted"
    assert {"target.png", "reconstruction.png", "history.csv", "distances.png"} <= {p.name for p in out.iterdir()}


def test_interrupt_before_the_loop_says_so(cli, tmp_path, monkeypatch):
    """Ctrl-C after the folder is made but before the first iteration: exit 130, config.json says interrupted."""
    import invert.job

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(invert.job, "build_inverter", stop)
    out = tmp_path / "early"
    r = cli(
        "run", "--model", "resnet18", "--layer", "conv2", "--size", "32", "--iterations", "3", "--quiet", "--out", out
    )
    assert r.code == 130 and "before the first iteration" in r.err and "Traceback" not in r.err
    config = json.loads((out / "config.json").read_text())
    assert config["status"] == "interrupted" and config["note"] == "stopped before the first iteration"


def test_diverged_run_exits_1_and_keeps_its_files(cli, tmp_path):
    out = tmp_path / "diverged"
    r = cli(
        "run",
        "--model",
        "resnet18",
        "--layer",
        "conv2",
        "--size",
        "32",
        "--iterations",
        "5",
        "--quiet",
        "--out",
        out,
        "--optimizer",
        "gd",
        "--lr",
        "1e38",
        "--no-clamp",
        "--schedule",
        "constant",
    )
    assert r.code == 1 and "diverged" in r.err and "lower the learning rate" in r.err and "Traceback" not in r.err
    assert json.loads((out / "config.json").read_text())["status"] == "diverged"
    metrics = (out / "metrics.json").read_text()
    assert json.loads(metrics)["status"] == "diverged" and "NaN" not in metrics and "Infinity" not in metrics
