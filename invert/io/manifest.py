"""``config.json``, every command's manifest: the command line, settings, versions, status and files written."""

from __future__ import annotations

import datetime as _dt
import functools
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Sequence

from invert.io.files import write_json, written
from invert.ranks import group_info, secondary_rank

_COMMAND_LINE: list[str] | None = None


def set_command_line(argv: Sequence[str]) -> None:
    """Record the command line of this process (the CLI calls it) for every ``config.json`` it writes."""
    global _COMMAND_LINE
    _COMMAND_LINE = ["invert", *argv[1:]]


def write_config(
    out: str | os.PathLike,
    command: str,
    *,
    seed: int | None,
    device: Any = None,
    status: str = "complete",
    **sections: Any,
) -> Path:
    """``OUT/config.json``, every command's manifest: the command line as typed, folder, seed, settings, versions,
    status, and the files the run has written in the folder (``files``, what ``--overwrite`` later removes).

    ``command_line`` is ``None`` when the run came from the Python API rather than the ``invert`` command.
    """
    import shlex

    if secondary_rank():
        return Path(out) / "config.json"
    line = _COMMAND_LINE
    data = {
        "command": f"invert {command}",
        "command_line": shlex.join(line) if line else None,
        "argv": line,
        "cwd": os.getcwd(),
        "out": str(out),
        "seed": seed,
        "status": status,
        **sections,
        "environment": environment_info(device),
    }
    files = written(out)
    if files is not None:
        data["files"] = files
    return write_json(Path(out) / "config.json", data)


@functools.lru_cache(maxsize=1)
def source_commit() -> str | None:
    """The git commit of the checkout ``invert`` is imported from, ``+dirty`` when tracked files differ from it;
    None outside a git checkout (an installed wheel) or without git."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def environment_info(device: Any = None) -> dict[str, Any]:
    """Versions and hardware, recorded beside every result so it can be reproduced."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    from invert import __version__

    def _version(package: str) -> str | None:
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    info: dict[str, Any] = {
        "invert": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "kornia": _version("kornia"),
        "numpy": _version("numpy"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "commit": source_commit(),
        "time": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    info["distributed"] = group_info()  # torchrun: world size and backend of the process group
    dev = torch.device(device) if device is not None else None
    info["device"] = str(dev) if dev is not None else None
    if dev is not None and dev.type == "cuda" and torch.cuda.is_available():
        info["cuda"] = torch.version.cuda
        info["gpu"] = torch.cuda.get_device_name(dev)
    return info
