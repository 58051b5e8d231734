"""Exact inversion of invertible linear MLPs (Badger eq. 11), and the shifted-output experiment (fig. S2).

Each layer ``o = W x + b`` is undone by a linear solve ``W x = o − b`` (LU factorisation,
never an explicit inverse), last layer first. A layer that is not square, or is singular at
the working precision, is refused with an :class:`~invert.errors.InvertError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import scipy.linalg
import torch
from torch import nn

from invert.analysis.metrics import flat_l2
from invert.encoders.base import Encoder
from invert.errors import InvertError

_PASS_THROUGH = (nn.Flatten, nn.Identity, nn.Dropout, nn.Unflatten)


def linear_layers(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """The ``nn.Linear`` layers of a purely affine model, in forward order.

    Accepts an :class:`~invert.encoders.MLP`, an :class:`Encoder` cut from one (only the layers up
    to the cut), or any module whose leaves are Linear/Flatten/Identity. Refuses nonlinear layers.
    """
    body = model.body if isinstance(model, Encoder) else model
    if isinstance(body, torch.fx.GraphModule):  # a feature extractor: follow the traced graph
        leaves = [(n.target, body.get_submodule(n.target)) for n in body.graph.nodes if n.op == "call_module"]
        calls = [
            n for n in body.graph.nodes if n.op in ("call_function", "call_method") and "flatten" not in str(n.target)
        ]
        if calls:
            raise InvertError(
                f"the model computes {calls[0].target} between layers, so it cannot be inverted exactly — "
                "use a linear MLP (e.g. mlp-2523x3) or gradient-descent inversion (`invert run`)"
            )
    else:
        leaves = [(name, m) for name, m in body.named_modules() if not list(m.children())]
    layers: list[tuple[str, nn.Linear]] = []
    for name, m in leaves:
        if isinstance(m, nn.Linear):
            layers.append((str(name), m))
        elif not isinstance(m, _PASS_THROUGH):
            raise InvertError(
                f"layer {name} ({type(m).__name__}) is not linear, so it cannot be inverted exactly — "
                "use a linear MLP (e.g. mlp-2523x3) or gradient-descent inversion (`invert run`)"
            )
    if not layers:
        raise InvertError(
            f"{type(model).__name__} has no Linear layers to invert — pass an MLP or an encoder cut from one"
        )
    return layers


@dataclass
class LayerFactor:
    """One layer's LU factors plus what was checked: shape and LAPACK's reciprocal condition estimate."""

    name: str
    lu: np.ndarray
    piv: np.ndarray
    bias: np.ndarray | None
    rcond: float


@dataclass
class LinearInverse:
    """Factor every layer of a linear MLP once; calling it maps outputs back to inputs (eq. 11).

    Works in the dtype of the weights (float32 or float64), so precision effects are real.
    ``rcond_min`` (default: the dtype's machine epsilon) is the singularity threshold.
    """

    model: nn.Module
    input_shape: Sequence[int] | None = None
    rcond_min: float | None = None
    factors: list[LayerFactor] = field(init=False)

    def __post_init__(self) -> None:
        layers = linear_layers(self.model)
        w0 = layers[0][1].weight
        self.dtype = w0.dtype
        self.np_dtype = np.float64 if self.dtype == torch.float64 else np.float32
        eps = float(np.finfo(self.np_dtype).eps)
        floor = eps if self.rcond_min is None else self.rcond_min
        self.factors = []
        for name, lin in layers:
            w = lin.weight.detach().cpu().numpy().astype(self.np_dtype, copy=False)
            out_f, in_f = w.shape
            if out_f != in_f:
                kind = (
                    "fewer outputs than inputs: many inputs give this output"
                    if out_f < in_f
                    else "more outputs than inputs"
                )
                raise InvertError(
                    f"layer {name} maps {in_f} → {out_f} features ({kind}); eq. 11 needs square layers — "
                    f"use widths equal to the input size (e.g. mlp-{in_f}x3) or gradient-descent inversion"
                )
            lu, piv = scipy.linalg.lu_factor(w, check_finite=True, overwrite_a=False)
            if np.any(np.diag(lu) == 0):
                rcond = 0.0
            else:
                gecon = scipy.linalg.get_lapack_funcs("gecon", (lu,))
                rcond, _ = gecon(lu, np.linalg.norm(w, 1), norm="1")
            if not rcond >= floor:
                raise InvertError(
                    f"layer {name} is singular at {self.np_dtype.__name__} precision "
                    f"(reciprocal condition {rcond:.2e} < {floor:.2e}) — it has no unique inverse; "
                    "re-seed the model or use float64"
                )
            bias = None if lin.bias is None else lin.bias.detach().cpu().numpy().astype(self.np_dtype)
            self.factors.append(LayerFactor(name, lu, piv, bias, float(rcond)))
        self.n_in = layers[0][1].in_features
        if self.input_shape is None:
            self.input_shape = getattr(self.model, "input_shape", None) or (self.n_in,)

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        """Inputs ``a`` with ``O(a) = output`` for a batch ``output`` (N, features)."""
        o = output.detach().reshape(output.shape[0], -1).cpu().numpy().astype(self.np_dtype).T  # (features, N)
        for f in reversed(self.factors):
            rhs = o - f.bias[:, None] if f.bias is not None else o
            o = scipy.linalg.lu_solve((f.lu, f.piv), rhs, check_finite=False)
        x = torch.from_numpy(np.ascontiguousarray(o.T)).to(self.dtype)
        shape = self.input_shape
        assert shape is not None  # __post_init__ always sets it
        if isinstance(self.model, Encoder) and self.model.normalize is not None:
            norm = self.model.normalize
            x = x.reshape(x.shape[0], *shape) * norm.std.cpu() + norm.mean.cpu()
        return x.reshape(x.shape[0], *shape).to(output.device)

    def conditions(self) -> list[dict[str, Any]]:
        """Per layer: name and LAPACK's 1-norm reciprocal condition estimate."""
        return [
            {"layer": f.name, "rcond": f.rcond, "condition_estimate": (1 / f.rcond if f.rcond > 0 else math.inf)}
            for f in self.factors
        ]


def exact_invert(model: nn.Module, output: torch.Tensor, input_shape: Sequence[int] | None = None) -> torch.Tensor:
    """Solve ``O(a) = output`` for ``a`` through a square, linear MLP, layer by layer (eq. 11)."""
    return LinearInverse(model, input_shape)(output)


@dataclass
class ShiftedOutput:
    """Per draw: ‖a − a''‖ for outputs shifted by N(0, σ_out), against ‖a − a'‖ for inputs shifted by N(0, σ_in)."""

    input_error_shifted_output: torch.Tensor  # ‖a − a''‖, O(a'') = O(a) + N(0, σ_out)
    output_shift: torch.Tensor  # ‖O(a'') − O(a)‖ recomputed through the model
    input_shift: torch.Tensor  # ‖a − a'‖, a' = a + N(0, σ_in)
    output_error_shifted_input: torch.Tensor  # ‖O(a') − O(a)‖
    reconstruction_error: float  # ‖a − O⁻¹(O(a))‖ without any shift
    examples: torch.Tensor  # a few a'' images (k, C, H, W)
    shifted_input_examples: torch.Tensor  # the matching a' images

    @property
    def ratio(self) -> torch.Tensor:
        """‖a − a''‖ / ‖a − a'‖ per draw."""
        return self.input_error_shifted_output / self.input_shift


@torch.no_grad()
def shifted_output_inversion(
    model: nn.Module,
    image: torch.Tensor,
    *,
    sigma_out: float = 1e-3,
    sigma_in: float = 1 / 20,
    draws: int = 200,
    seed: int = 0,
    keep: int = 4,
) -> ShiftedOutput:
    """Fig. S2: invert ``O(a) + N(0, σ_out)`` exactly and compare ‖a − a''‖ with ‖a − a'‖.

    ``σ_out`` is 1e-3 in the report's text and 1e-7 in its code (``invertible_mlp.py``);
    ``σ_in`` is the report's shifted input, 1/20 in the text (eq. 7) and 1/18 in its code.
    """
    if draws < 1 or sigma_out <= 0 or sigma_in <= 0:
        raise InvertError("shifted-output inversion needs draws ≥ 1 and positive σ_out, σ_in")
    inv = LinearInverse(model, tuple(image.shape[-3:]))
    dtype = inv.dtype
    a = image.reshape(1, *image.shape[-3:]).to(dtype)
    gen = torch.Generator().manual_seed(seed)
    out = model(a)
    a_rec = inv(out)
    noise_o = torch.randn((draws, out[0].numel()), generator=gen, dtype=torch.float64).to(dtype) * sigma_out
    a2 = inv(out + noise_o.reshape(draws, *out.shape[1:]))
    noise_i = torch.randn((draws, *a.shape[1:]), generator=gen, dtype=torch.float64).to(dtype) * sigma_in
    a1 = a + noise_i
    return ShiftedOutput(
        input_error_shifted_output=flat_l2(a2, a.expand_as(a2)).double(),
        output_shift=flat_l2(model(a2), out.expand(draws, *out.shape[1:])).double(),
        input_shift=flat_l2(a1, a.expand_as(a1)).double(),
        output_error_shifted_input=flat_l2(model(a1), out.expand(draws, *out.shape[1:])).double(),
        reconstruction_error=float(flat_l2(a_rec, a)[0]),
        examples=a2[:keep].float(),
        shifted_input_examples=a1[:keep].float(),
    )
