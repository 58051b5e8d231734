"""Step transforms applied to the image after each update (eq. 5's Gaussian convolution, clamping)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from invert.inversion.schedules import Schedule


def gaussian_blur(x: torch.Tensor, sigma: float, kernel: int) -> torch.Tensor:
    """``x`` (N, C, H, W) convolved with a ``kernel``×``kernel`` Gaussian of σ ``sigma`` px, reflected at the border."""
    import kornia  # here, not at import: keeps `invert --help` fast

    return kornia.filters.gaussian_blur2d(x, (kernel, kernel), (sigma, sigma), border_type="reflect")


@dataclass
class Blur:
    """a ← N_c(a): a ``kernel``×``kernel`` Gaussian blur with σ from a schedule (the report uses 3×3)."""

    sigma: Schedule
    kernel: int = 3

    def __call__(self, x: torch.Tensor, step: int, total: int) -> torch.Tensor:
        s = float(self.sigma(step, total))
        return gaussian_blur(x, s, self.kernel) if s > 0 else x


@dataclass
class Clamp:
    """Project onto the feasible image box [low, high]."""

    low: float = 0.0
    high: float = 1.0

    def __call__(self, x: torch.Tensor, step: int, total: int) -> torch.Tensor:
        return x.clamp(self.low, self.high)
