"""What a run inverts and where it writes: :class:`JobSpec`, the main job's own settings beside the inversion's.

Kept apart from :mod:`invert.job` (which loads torch) so the command line reads its defaults without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass
class JobSpec:
    """What to invert and where: model, layer, weights, images, restarts, device, output."""

    model: str = "resnet50"
    layer: str = "conv4"
    weights: str = "untrained"
    images: Sequence[str] = ()
    restarts: int = 1
    device: str = "auto"
    dtype: str = "float32"
    out: str | None = None
    overwrite: bool = False
    lr_auto: bool = False
    init_image: str | None = None
    results_root: str = "results/runs"
    tensorboard: str | None = None  # a folder: log this run there too (one run folder per job)
    max_pixels: int | None = None  # refuse larger images before decoding (None: $INVERT_MAX_PIXELS or 100 million)
