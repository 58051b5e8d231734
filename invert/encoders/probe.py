"""Dry runs on the ``meta`` device: what a graph node gives and whether a model takes an input size, at no cost.

A graph node can be inverted only if it is a tensor that depends on the image through
differentiable operations. Tuples (ViT's ``self_attention``), ``None`` (``getitem_1``), booleans
(``eq``, ``_assert``) and parameters (ConvNeXt's ``layer_scale``) are refused with the reason.
Running the model on ``meta`` tensors with the input requiring grad tells both apart without
memory or arithmetic: an output that does not require grad does not depend on the input.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from invert.errors import InvertError


class ProbeFailed(Exception):
    """The dry run raised (a size the model refuses, or an operation the meta device lacks)."""

    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.cause = cause


def meta_forward(module: nn.Module, input_shape: tuple[int, ...]) -> Any:
    """``module`` on one meta-device input of ``input_shape`` that requires grad;
    the module's own tensors are untouched.
    """
    from torch.func import functional_call

    state = {k: torch.empty_like(v, device="meta") for k, v in module.named_parameters()}
    state.update({k: torch.empty_like(v, device="meta") for k, v in module.named_buffers()})
    x = torch.empty(1, *input_shape, device="meta", requires_grad=True)
    try:
        with torch.enable_grad():
            return functional_call(module, state, (x,), strict=False)
    except Exception as exc:  # a refused size (AssertionError, RuntimeError) or a missing meta kernel
        raise ProbeFailed(exc) from exc


def node_problem(value: Any) -> str | None:
    """Why a node's output cannot be inverted (``None`` if it can): not a tensor, or constant in the input."""
    if not isinstance(value, torch.Tensor):
        kind = "None" if value is None else type(value).__name__
        return f"not a tensor (it gives {kind})"
    if not value.requires_grad:
        return "constant in the input (a parameter, buffer or value computed without the image)"
    return None


def output_shape(value: Any) -> tuple[int, ...] | None:
    """The per-sample shape of a tensor output, or None for anything else."""
    return tuple(value.shape[1:]) if isinstance(value, torch.Tensor) and value.dim() > 0 else None


def first_line(exc: BaseException) -> str:
    """An exception's message on one line (without the FX Proxy a traced assertion names)."""
    import re

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = re.sub(r"[,:]?\s*(but )?got Proxy\([^)]*\)", "", text)  # a traced assert's message names a placeholder
    return text.rstrip("!. ") or exc.__class__.__name__


def size_error(
    model: str, layer: str | None, input_shape: tuple[int, ...], default_shape: tuple[int, ...], cause: BaseException
) -> InvertError:
    """The one-line refusal for an input size the model cannot take, naming the size it needs."""
    h, w = input_shape[-2:]
    need = (
        f"use --size {default_shape[-1]} (its own size)"
        if tuple(default_shape) != tuple(input_shape)
        else "use another --size"
    )
    where = f" at layer {layer!r}" if layer else ""
    return InvertError(f"{model} cannot take a {h}×{w} input{where} ({first_line(cause)}) — {need}")


def check_layer(
    body: nn.Module, *, model: str, layer: str, node: str, input_shape: tuple[int, ...], default_shape: tuple[int, ...]
) -> tuple[int, ...] | None:
    """Refuse a node that cannot be inverted or an input size the model cannot take; return the layer's output shape.

    Returns None when the dry run cannot tell (an operation without a meta kernel at every size):
    then nothing is refused here and the real run decides.
    """
    try:
        out = meta_forward(body, input_shape)
    except ProbeFailed as failed:
        if tuple(default_shape) == tuple(input_shape) or len(input_shape) != 3:
            return None
        try:
            meta_forward(body, default_shape)
        except ProbeFailed:
            return None  # fails at the model's own size too: the meta device, not the size, is the problem
        raise size_error(model, layer, input_shape, default_shape, failed.cause) from None
    value = out.get("out") if isinstance(out, dict) else out
    problem = node_problem(value)
    if problem is not None:
        raise InvertError(
            f"layer {layer!r} of {model} (graph node {node}) cannot be inverted: it is {problem} — "
            f"choose a tensor layer from `invert layers {model}`"
        )
    return output_shape(value)
