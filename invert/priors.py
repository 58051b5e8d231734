"""Image priors (regularisers) R(x) per sample: TV^β, α-norm, pixel L2.

Functional core (``total_variation``, ``alpha_norm``, ``pixel_l2``) and a weighted callable
wrapper (:class:`Prior`) the inverter sums into its loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


def total_variation(x: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """TV^β(x) = Σ_{c,i,j} ((x_{i,j+1} − x_{i,j})² + (x_{i+1,j} − x_{i,j})²)^{β/2}, per sample.

    Mahendran & Vedaldi's isotropic form over the (H−1)×(W−1) interior grid; β = 1 is the
    classic TV, β = 2 the quadratic smoothness prior, β < 1 favours sharp edges.
    """
    dh = x[..., 1:, :-1] - x[..., :-1, :-1]
    dw = x[..., :-1, 1:] - x[..., :-1, :-1]
    sq = dh.pow(2) + dw.pow(2)
    if beta == 2.0:
        tv = sq
    else:  # (0 + ε)^{β/2} keeps the gradient finite where the image is flat
        tv = (sq + 1e-8).pow(beta / 2.0)
    return tv.reshape(x.shape[0], -1).sum(1)


def alpha_norm(x: torch.Tensor, alpha: float = 6.0, center: float = 0.0) -> torch.Tensor:
    """``‖x − center‖_α^α = Σ |x − center|^α`` per sample: keeps pixels in a bounded range (α = 6 default)."""
    return (x - center).abs().pow(alpha).reshape(x.shape[0], -1).sum(1)


def pixel_l2(x: torch.Tensor, center: float = 0.0) -> torch.Tensor:
    """Σ (x − center)² per sample (weight decay on the image)."""
    return (x - center).pow(2).reshape(x.shape[0], -1).sum(1)


@dataclass
class Prior:
    """``weight · fn(x)`` per sample, with a name for logs. With ``end`` set, the weight goes linearly from
    ``weight`` to ``end`` as the run's ``progress`` goes from 0 to 1 (a prior that guides early and lets go late).
    With ``relative``, an inversion reads the weight in units of ‖O(a)‖₁ / fn(a) for each target a: the prior then
    weighs the same against an L1 objective whatever the layer's activation scale and the target's own smoothness."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    weight: float = 1.0
    end: float | None = None
    relative: bool = False

    def weight_at(self, progress: float) -> float:
        """The weight at ``progress`` ∈ [0, 1] of the run."""
        return self.weight if self.end is None else self.weight + (self.end - self.weight) * progress

    def __call__(self, x: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
        return self.weight_at(progress) * self.fn(x)


def tv_prior(weight: float, beta: float = 2.0, end: float | None = None, relative: bool = False) -> Prior:
    return Prior(f"tv(β={beta:g})", lambda x: total_variation(x, beta), weight, end, relative)


def alpha_prior(weight: float, alpha: float = 6.0, center: float = 0.0) -> Prior:
    return Prior(f"alpha(α={alpha:g})", lambda x: alpha_norm(x, alpha, center), weight)


def l2_prior(weight: float, center: float = 0.0) -> Prior:
    return Prior("pixel-l2", lambda x: pixel_l2(x, center), weight)
