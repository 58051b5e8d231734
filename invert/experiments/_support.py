"""Helpers shared by the non-uniqueness / conditioning experiments (not an experiment itself)."""

from __future__ import annotations

import torch

from invert.io import default_image_path, load_image, shared_dir


def report_image(size: int) -> tuple[torch.Tensor, str]:
    """The report's Dalmatian at ``size``×``size`` (1, 3, H, W); the embedded photo if shared/ is absent."""
    root = shared_dir()
    path = root / "data" / "images" / "dalmatian.jpg" if root is not None else None
    if path is None or not path.is_file():
        path = default_image_path()
    return load_image(path, size)[None], path.name
