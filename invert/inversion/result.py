"""What an inversion returns and how its figures are kept: :class:`InversionResult` (images and m_g, m_s, m_i, PSNR,
SSIM per target × restart, the history, the JSON summary) and the activation-scale check on the targets."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch

#: Root-mean-square target activation ‖O(a)‖/√n outside this range draws an :class:`ActivationScaleWarning`:
#: Adam's ε (1e-8) swamps gradients of tiny activations, and huge ones lose float32 precision in the loss.
#: Measured (untrained, 224 px): ResNet-50 conv1…fc 0.1…10; efficientnet_b0 features.5 1e-9, features.8 3e-14;
#: mobilenet_v3_small features.8 2e-6; resnet152 conv4/conv5 1e7.
SANE_ACTIVATION_RMS = (1e-5, 1e5)


class ActivationScaleWarning(UserWarning):
    """The layer's activations are so small or large that optimisers' fixed constants distort the run."""


@dataclass
class InversionResult:
    """What an inversion produced and how it got there.

    ``images`` is (N targets, R restarts, C, H, W); per-run metrics are (N, R); m_s and
    ``target_norm`` (‖O(a)‖) are per target. ``below_ms_at`` is the first iteration whose
    evaluated image had m_g < m_s (−1: never). ``history`` holds one row per (recorded
    iteration, target, restart), plus a last row for the returned images.
    """

    images: torch.Tensor
    targets: torch.Tensor
    m_g: torch.Tensor
    m_i: torch.Tensor
    m_s: torch.Tensor
    m_s_std: torch.Tensor
    psnr: torch.Tensor
    ssim: torch.Tensor
    loss: torch.Tensor
    below_ms_at: torch.Tensor
    iterations: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False
    target_norm: torch.Tensor | None = None

    @property
    def best_restart(self) -> torch.Tensor:
        """Index of the restart with the smallest m_g, per target."""
        return self.m_g.argmin(1)

    @property
    def relative_m_g(self) -> torch.Tensor:
        """m_g / ‖O(a)‖ per run (N, R): comparable across layers and models whatever their activation scale."""
        norm = self.target_norm if self.target_norm is not None else torch.full((self.m_g.shape[0],), math.nan)
        return self.m_g / norm[:, None]

    def summary(self) -> dict[str, Any]:
        """JSON-ready metrics: per target and restart, plus the best restart's values."""
        n, r = self.m_g.shape
        best = self.best_restart
        rel = self.relative_m_g
        norm = [float(v) for v in (self.target_norm if self.target_norm is not None else torch.full((n,), math.nan))]
        per = []
        for i in range(n):
            for j in range(r):
                per.append(
                    {
                        "target": i,
                        "restart": j,
                        "m_g": float(self.m_g[i, j]),
                        "m_i": float(self.m_i[i, j]),
                        "m_s": float(self.m_s[i]),
                        "m_s_std": float(self.m_s_std[i]),
                        "psnr": float(self.psnr[i, j]),
                        "ssim": float(self.ssim[i, j]),
                        "loss": float(self.loss[i, j]),
                        "below_ms": bool(self.m_g[i, j] < self.m_s[i]),
                        "below_ms_at": int(self.below_ms_at[i, j]),
                        "target_norm": norm[i],
                        "relative_m_g": float(rel[i, j]),
                    }
                )
        pick = lambda t: [float(t[i, best[i]]) for i in range(n)]  # noqa: E731
        return {
            "m_g": pick(self.m_g),
            "m_s": [float(v) for v in self.m_s],
            "m_s_std": [float(v) for v in self.m_s_std],
            "m_i": pick(self.m_i),
            "psnr": pick(self.psnr),
            "ssim": pick(self.ssim),
            "below_ms": [bool(self.m_g[i, best[i]] < self.m_s[i]) for i in range(n)],
            "target_norm": norm,
            "relative_m_g": pick(rel),
            "best_restart": [int(b) for b in best],
            "iterations": self.iterations,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "runs": per,
        }


def warn_on_activation_scale(norm: torch.Tensor, elements: int, where: str = "") -> None:
    """Warn (:class:`ActivationScaleWarning`) when a target embedding's RMS per element ‖O(a)‖/√n is
    outside :data:`SANE_ACTIVATION_RMS`, where Adam's ε and the float32 range distort the descent."""
    rms = norm / math.sqrt(elements)
    low, high = SANE_ACTIVATION_RMS
    bad = (rms < low) | (rms > high) | ~torch.isfinite(rms)
    if bool(bad.any()):
        value = float(rms[bad][0])
        warnings.warn(
            f"activations{' at ' + where if where else ''} have RMS {value:.3g} per element, "
            f"outside [{low:g}, {high:g}]: "
            "optimisers' fixed constants (Adam's ε = 1e-8) distort such a descent and m_g < m_s may mean little — "
            "prefer --objective normalized-l2 or cosine (scale-free), or compare relative_m_g = m_g/‖O(a)‖",
            ActivationScaleWarning,
            stacklevel=4,
        )
