"""Where a run computes and with what: device, floating-point type, and the offline material folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from invert.errors import InvertError

if TYPE_CHECKING:
    import torch


def resolve_device(name: str | None) -> torch.device:
    """``auto`` → CUDA when available, else CPU; otherwise the named device, checked."""
    import torch

    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise InvertError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvertError(f"device {name!r} requested but CUDA is not available here — use --device cpu")
    return dev


def resolve_dtype(name: str) -> torch.dtype:
    """'float32'/'float64' (also 'fp32', 'double', ...) → torch dtype."""
    import torch

    table = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "float": torch.float32,
        "float64": torch.float64,
        "fp64": torch.float64,
        "double": torch.float64,
    }
    if name not in table:
        raise InvertError(f"unknown dtype {name!r}: use float32 or float64")
    return table[name]


def shared_dir() -> Path | None:
    """The offline material folder: $INVERT_SHARED, else ../shared beside the project root, else None.

    ``INVERT_SHARED=none`` forces "absent" (what a bare clone sees), even with ../shared present.
    """
    env = os.environ.get("INVERT_SHARED")
    if env and env.strip().lower() in ("none", "off"):
        return None
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2]  # the project root (invert/io/device.py → ../../..)
    for cand in (here.parent / "shared", Path.cwd().parent / "shared", Path.cwd() / "shared"):
        if (cand / "data").is_dir():
            return cand
    return None
