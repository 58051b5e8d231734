"""A sweep's edges: its folder is locked, cell folders get the usual mode, killed workers' temporary folders are
cleaned, and a worker whose driver dies stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from invert.errors import InvertError
from invert.sweep.cells import clean_stale_temporaries, write_cell
from invert.sweep.runner import run_sweep


def test_a_second_sweep_on_a_folder_in_use_is_refused(tmp_path):
    out = tmp_path / "sweep"
    out.mkdir()
    (tmp_path / "spec.toml").write_text('model = ["mlp-8"]\nlayer = ["output"]\n[run]\niterations = 2\n')
    code = f"from invert.io import claim_folder; claim_folder({str(out)!r}, 'invert sweep'); print('ok', flush=True)"
    holder = subprocess.Popen([sys.executable, "-c", code + "; import time; time.sleep(60)"], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"ok"
        with pytest.raises(InvertError, match="in use by another invert sweep"):
            run_sweep(tmp_path / "spec.toml", out, progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert not (out / "cells").exists()


def test_cell_folders_get_the_usual_mode(tmp_path):
    old = os.umask(0o022)
    try:
        folder = write_cell(tmp_path, {"id": "abc", "settings": {}, "status": "complete", "files": {"a.txt": b"x"}})
    finally:
        os.umask(old)
    assert folder.stat().st_mode & 0o777 == 0o755


def test_temporary_folders_of_dead_workers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"invert-cell-0123abcd-p{int(dead.stdout)}-xyz"
    live = tmp_path / f"invert-cell-0123abcd-p{os.getpid()}-xyz"
    stale.mkdir()
    live.mkdir()
    assert clean_stale_temporaries(tmp_path) == 1
    assert not stale.exists() and live.exists()


def test_a_worker_stops_when_its_driver_dies(tmp_path):
    driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    code = textwrap.dedent(f"""
        import signal, time
        from invert.sweep import executors
        signal.signal(signal.SIGTERM, executors._stop_worker)
        executors.watch_driver({driver.pid}, every=0.1)
        print("watching", flush=True)
        time.sleep(60)
    """)
    worker = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert worker.stdout.readline().strip() == b"watching"
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        t0 = time.time()
        assert worker.wait(timeout=30) == 143 and time.time() - t0 < 30
    finally:
        for p in (driver, worker):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_a_worker_stopped_mid_cell_removes_its_temporary_folder(tmp_path):
    code = textwrap.dedent("""
        import signal, sys, tempfile, time
        from invert.sweep import executors
        signal.signal(signal.SIGTERM, executors._stop_worker)

        def cell(folder):
            with tempfile.TemporaryDirectory(prefix="invert-cell-test-", dir=folder) as tmp:
                print(tmp, flush=True)
                time.sleep(60)

        executors._call(cell, 1, sys.argv[1])
    """)
    worker = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        tmp = worker.stdout.readline().strip()
        assert tmp and os.path.isdir(tmp)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 143
        assert not os.path.exists(tmp)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
