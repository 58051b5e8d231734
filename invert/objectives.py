"""Embedding-matching objectives: composable callables ``(pred, target) -> loss per sample``.

Each returns a tensor of shape ``(B,)`` so a batch of images and restarts optimises as
independent problems. Objectives add and scale like numbers (lucent style):
``0.15 * L1() + Cosine()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:  # torch is imported where a loss is computed: the names below must not cost `invert --help` it
    import torch

Reduce = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1)


def _per_sample(t: torch.Tensor) -> tuple[int, ...]:
    """The non-batch dimensions: reducing over them (instead of flattening) keeps NHWC outputs copy-free."""
    return tuple(range(1, t.dim()))


C = TypeVar("C", bound="Composable")


class Composable:
    """A named callable returning a per-sample tensor that adds, scales and negates like a number
    (lucent style). :class:`Objective` and the ascent :class:`~invert.methods.ascent.Score` are two kinds."""

    def __init__(self, fn: Callable[..., torch.Tensor], name: str):
        self.fn = fn
        self.name = name

    def __call__(self, *args: torch.Tensor) -> torch.Tensor:
        return self.fn(*args)

    def __add__(self: C, other: Composable) -> C:
        return type(self)(lambda *a: self(*a) + other(*a), f"{self.name} + {other.name}")

    def __mul__(self: C, w: float) -> C:
        return type(self)(lambda *a: w * self(*a), f"{w:g}·{self.name}")

    __rmul__ = __mul__

    def __neg__(self: C) -> C:
        return -1.0 * self

    def __sub__(self: C, other: Composable) -> C:
        return self + (-other)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name})"


class Objective(Composable):
    """A named, weighted per-sample loss ``(pred, target) -> (B,)``; supports ``+``, ``*`` by a scalar and ``-``."""


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``Σ_i |ŷ_i − y_i|`` per sample — the report's eq. 3."""
    return (pred - target).abs().sum(_per_sample(pred))


def l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖ŷ − y‖₂ per sample (the metric m_g as a loss)."""
    import torch

    return torch.linalg.vector_norm(pred - target, dim=_per_sample(pred))


def l2_in_l1_units(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """√n ‖ŷ − y‖₂ per sample, for n outputs per sample: the L2 gap in L1's units (equal to the L1 gap when it is
    spread evenly), so a weight means the same at every layer. Added to L1 it pulls the L2 gap — what m_g
    measures — down with it; L1 alone spends its sign-like gradient on the many small residuals too."""
    n = pred[0].numel()
    return n**0.5 * l2(pred, target)


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of (ŷ − y)² per sample."""
    return (pred - target).pow(2).mean(_per_sample(pred))


def cosine(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 − cos(ŷ, y) per sample: matches direction, ignores scale."""
    import torch

    return 1.0 - torch.nn.functional.cosine_similarity(_flat(pred), _flat(target), dim=1, eps=1e-12)


def normalized_l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖Φ(x) − Φ₀‖² / ‖Φ₀‖² per sample — Mahendran & Vedaldi (2015), eq. 2 — and scale-free.

    Both sides are divided by max|Φ₀| first, so activations of 1e-12 or 1e8 (untrained
    efficientnet, resnet152) give the same loss and gradient direction as activations of 1,
    with no fixed ε. An all-zero target falls back to ‖Φ(x)‖².
    """
    import torch

    dims = _per_sample(pred)
    scale = target.detach().abs().amax(dims, keepdim=True)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    den = (target / scale).pow(2).sum(dims)
    return ((pred - target) / scale).pow(2).sum(dims) / torch.where(den > 0, den, torch.ones_like(den))


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """G_{c1,c2} = Σ_k F_{c1,k} F_{c2,k} / M per sample: channel co-activations over the M positions (B, C, C)."""
    flat = features.reshape(features.shape[0], features.shape[1], -1)
    return flat @ flat.transpose(1, 2) / flat.shape[-1]


def gram(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Σ_{i,j} (G(ŷ) − G(y))²_{ij} per sample — style reconstruction (Gatys et al.): matches feature
    statistics, not positions, so m_g stays large while the style comes back."""
    return (gram_matrix(pred) - gram_matrix(target)).pow(2).sum((1, 2))


OBJECTIVES: dict[str, Reduce] = {
    "l1": l1,
    "l2": l2,
    "l2-in-l1-units": l2_in_l1_units,
    "mse": mse,
    "cosine": cosine,
    "normalized-l2": normalized_l2,
    "gram": gram,
}


def make_objective(name: str, weight: float = 1.0) -> Objective:
    """Objective by name (``l1``, ``l2``, ``mse``, ``cosine``, ``normalized-l2``, ``gram``), times ``weight``."""
    from invert.errors import InvertError

    if name not in OBJECTIVES:
        raise InvertError(f"unknown objective {name!r}: choose from {', '.join(OBJECTIVES)}")
    obj = Objective(OBJECTIVES[name], name)
    return obj if weight == 1.0 else weight * obj
