"""Helpers shared by the non-uniqueness / conditioning experiments (not an experiment itself)."""

from __future__ import annotations

import torch

from invert.errors import InvertError
from invert.io import default_image_path, load_image, shared_dir


def report_targets(size: int, names: tuple[str, ...] = ("dalmatian", "tesla_coil")) -> tuple[torch.Tensor, list[str]]:
    """The report's target photographs from ``shared/data/images`` at ``size`` px (centre crop)."""
    root = shared_dir()
    if root is None:
        raise InvertError("the report's images are in the shared material folder: set INVERT_SHARED")
    return torch.stack([load_image(root / "data" / "images" / f"{n}.jpg", size) for n in names]), list(names)


def report_image(size: int) -> tuple[torch.Tensor, str]:
    """The report's Dalmatian at ``size``×``size`` (1, 3, H, W); the embedded photo if shared/ is absent."""
    try:
        return report_targets(size, ("dalmatian",))[0], "dalmatian.jpg"
    except InvertError:
        return load_image(default_image_path(), size)[None], default_image_path().name
