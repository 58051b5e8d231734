"""One sweep cell = one `invert run`: run it anywhere, return its files as bytes, write them atomically here.

:func:`run_cell` is what every executor's workers execute (it needs no shared filesystem: the
files travel back in the result); :func:`write_cell` is what the driver does with a result;
:func:`read_cell` tells a resumed sweep what a cell folder already holds.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from invert.errors import Interrupted, InvertError

PRELOAD = ("invert.job", "invert.analysis.plots")
"""Modules a local pool's workers import once, before forking (a cell's own start then costs no imports)."""
TMP_PREFIX = "invert-cell-"
"""A running cell's temporary folder (in the system's temporary folder): ``invert-cell-<id>-p<pid>-…``."""
CELL_FILE = "cell.json"
"""Written last into each cell folder: its settings, status (complete / failed), error and timing."""


@dataclass(frozen=True)
class CellTask:
    """What a worker needs to run one cell: its id and settings, and the exact `invert run` job and config."""

    id: str
    settings: dict[str, Any]
    job: Any  # invert.job.JobSpec
    config: Any  # invert.inversion.InversionConfig


def run_cell(task: CellTask) -> dict[str, Any]:
    """Run the cell's `invert run` in a temporary folder; return status, error, seconds and ``files`` {name: bytes}.

    Any error becomes ``status: failed`` with its one-line message (a diverged run keeps its partial files);
    Ctrl-C in this process (an interrupted run) is re-raised so the sweep stops and the cell stays unfinished.
    """
    from invert.job import run_job

    t0 = time.perf_counter()
    status, error = "complete", None
    with tempfile.TemporaryDirectory(prefix=f"{TMP_PREFIX}{task.id}-p{os.getpid()}-") as tmp:
        try:
            result, _ = run_job(replace(task.job, out=tmp, overwrite=True), task.config, progress=False, warn=False)
            if result.interrupted:
                raise KeyboardInterrupt
        except Interrupted:
            raise KeyboardInterrupt from None
        except InvertError as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - a failed cell records any error and the sweep goes on
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        files = {
            p.name: p.read_bytes() for p in sorted(Path(tmp).iterdir()) if p.is_file() and not p.name.startswith(".")
        }
    return {
        "id": task.id,
        "settings": task.settings,
        "status": status,
        "error": error,
        "cell_seconds": round(time.perf_counter() - t0, 3),
        "host": platform.node(),
        "pid": os.getpid(),
        "files": files,
    }


def write_cell(cells_dir: Path, outcome: dict[str, Any]) -> Path:
    """Write a cell's files and ``cell.json`` into ``cells_dir/<id>/`` atomically (a whole folder, swapped in).

    The ``files`` entry is dropped from ``outcome`` once written, so a long sweep does not hold every picture.
    """
    files: dict[str, bytes] = outcome.pop("files", {})
    final = cells_dir / outcome["id"]
    partial = _new_folder(cells_dir, f".{outcome['id']}.", ".partial")
    try:
        for name, data in files.items():
            if name == "config.json":  # the run wrote into a worker's temporary folder: record where it now lies
                data = _relocated_config(data, final, outcome)
            (partial / name).write_bytes(data)
        record = {k: v for k, v in outcome.items()}
        record["files"] = sorted(files)
        (partial / CELL_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final


def _new_folder(parent: Path, prefix: str, suffix: str) -> Path:
    """A new uniquely named folder with the usual mode (0777 less the umask), not mkdtemp's 0700."""
    import secrets

    for _ in range(100):
        folder = parent / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise InvertError(f"cannot create a folder in {parent}")  # pragma: no cover


def clean_stale_temporaries(tmp: str | Path | None = None) -> int:
    """Remove cells' temporary folders whose process is gone (a worker killed outright); returns how many."""
    import re

    gone = 0
    for p in Path(tmp or tempfile.gettempdir()).glob(f"{TMP_PREFIX}*-p*-*"):
        m = re.match(rf"{TMP_PREFIX}[0-9a-f]+-p(\d+)-", p.name)
        if m is None or not p.is_dir():
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue  # its process still runs
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        shutil.rmtree(p, ignore_errors=True)
        gone += 1
    return gone


def _relocated_config(data: bytes, folder: Path, outcome: dict[str, Any]) -> bytes:
    """The run's config.json as it lies in the sweep: its folder, and the sweep cell it was (not a command line)."""
    try:
        config = json.loads(data)
        config["job"]["out"] = str(folder)
        if "out" in config:
            config["out"] = str(folder)
        if "command_line" in config:  # a worker has no command line of its own; the sweep cell says how to rerun it
            config["command_line"], config["argv"] = None, None
        config["sweep_cell"] = {"id": outcome["id"], "settings": outcome["settings"]}
        return (json.dumps(config, indent=2) + "\n").encode()
    except (ValueError, KeyError, TypeError):
        return data


def read_cell(folder: Path) -> dict[str, Any] | None:
    """The cell's record (``cell.json``) if the folder holds a finished or failed cell; None otherwise."""
    try:
        return json.loads((folder / CELL_FILE).read_text())
    except (OSError, ValueError):
        return None


def clean_partials(cells_dir: Path) -> int:
    """Remove half-written cell folders an interrupted driver left behind; returns how many."""
    stale = list(cells_dir.glob(".*.partial"))
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return len(stale)
