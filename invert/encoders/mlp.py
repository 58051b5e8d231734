"""Fully connected encoders (the report's "MLP", §4): flatten → fc1 → act1 → fc2 → … , untrained by default.

Model-name grammar (``--model``), tokens joined by ``-`` in any order after ``mlp``:

- widths: ``WxD`` (width W, depth D, e.g. ``2523x3``) or a comma list ``4000,2523,2523``;
  a single number is one hidden layer. Default: three layers as wide as the input.
- activation: ``linear`` (default, the report's MLPs), ``relu``, ``leakyrelu``, ``gelu``, ``tanh``,
  ``sigmoid``, ``elu``, ``silu``; applied after every layer.
- ``nobias``: layers without bias (default: with bias, as in the report).
- ``inCxHxW``: input shape (default ``in3x29x29`` = 2,523 elements, the report's down-sampled Dalmatian).

Examples: ``mlp`` (3 × 2,523, linear, bias), ``mlp-2000x3``, ``mlp-4000,2523,2523-relu``,
``mlp-2523x3-nobias``, ``mlp-432x4-in3x12x12``. Layers: ``fc1``…, ``act1``… (when an activation
is used), aliases ``layerK`` (layer K's output after its activation) and ``output`` (the last layer).
Weights: PyTorch's default Kaiming-uniform init drawn from the seed; float64 via
``build_encoder(..., dtype=torch.float64)``.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import torch
from torch import nn

from invert.encoders.registry import ModelSpec, register_family, register_model
from invert.errors import InvertError

DEFAULT_INPUT_SHAPE: tuple[int, int, int] = (3, 29, 29)
ACTIVATIONS: dict[str, type[nn.Module] | None] = {
    "linear": None,
    "none": None,
    "relu": nn.ReLU,
    "leakyrelu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "silu": nn.SiLU,
}
GRAMMAR = "mlp[-WxD | -W1,W2,...][-linear|-relu|-gelu|-tanh|...][-nobias][-inCxHxW]"


class MLP(nn.Module):
    """Flatten, then ``len(widths)`` fully connected layers ``fc1…`` each followed by ``act1…``.

    ``activation='linear'`` adds no activation modules, so the network is one affine map.
    """

    def __init__(
        self,
        input_shape: Sequence[int] = DEFAULT_INPUT_SHAPE,
        widths: Sequence[int] | None = None,
        bias: bool = True,
        activation: str = "linear",
    ):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        n_in = math.prod(self.input_shape)
        self.widths = tuple(int(w) for w in (widths if widths is not None else (n_in,) * 3))
        if not self.widths or min(self.widths) < 1 or min(self.input_shape) < 1:
            raise InvertError(
                f"MLP needs at least one layer and positive sizes (got widths {self.widths}, input {self.input_shape})"
            )
        if activation not in ACTIVATIONS:
            raise InvertError(f"unknown activation {activation!r}: choose from {', '.join(ACTIVATIONS)}")
        self.bias = bool(bias)
        self.activation = "linear" if ACTIVATIONS[activation] is None else activation
        self.flatten = nn.Flatten()
        prev = n_in
        for i, w in enumerate(self.widths, 1):
            setattr(self, f"fc{i}", nn.Linear(prev, w, bias=self.bias))
            act = ACTIVATIONS[activation]
            if act is not None:
                setattr(self, f"act{i}", act())
            prev = w

    @property
    def depth(self) -> int:
        return len(self.widths)

    def linear_layers(self) -> list[tuple[str, nn.Linear]]:
        """``[(name, nn.Linear), …]`` in forward order."""
        return [(f"fc{i}", getattr(self, f"fc{i}")) for i in range(1, self.depth + 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(x)
        for i in range(1, self.depth + 1):
            x = getattr(self, f"fc{i}")(x)
            if self.activation != "linear":
                x = getattr(self, f"act{i}")(x)
        return x

    def model_spec(self) -> ModelSpec:
        """The spec :func:`~invert.encoders.encoder_from_module` uses for this instance (shape, aliases)."""
        name = mlp_name(self.input_shape, self.widths, self.bias, self.activation)
        return _spec(name, self.input_shape, self.widths, self.bias, self.activation)

    def extra_repr(self) -> str:
        return f"input={self.input_shape}, widths={self.widths}, bias={self.bias}, activation={self.activation}"


def parse_mlp_name(name: str) -> dict[str, object]:
    """``mlp-…`` → ``dict(input_shape, widths, bias, activation)``; a clear error on a malformed name."""
    if not name.startswith("mlp"):
        raise InvertError(f"{name!r} is not an MLP name: use {GRAMMAR}")
    rest = name[3:]
    if rest and not rest.startswith("-"):
        raise InvertError(
            f"malformed MLP name {name!r}: tokens follow 'mlp-' separated by '-', e.g. mlp-2000x3-relu ({GRAMMAR})"
        )
    input_shape: tuple[int, ...] = DEFAULT_INPUT_SHAPE
    widths: list[int] | None = None
    bias, activation = True, "linear"
    for tok in [t for t in rest.split("-") if t]:
        t = tok.lower()
        if t in ACTIVATIONS:
            activation = "linear" if ACTIVATIONS[t] is None else t
        elif t in ("nobias", "bias"):
            bias = t == "bias"
        elif re.fullmatch(r"in\d+(x\d+)*", t):
            input_shape = tuple(int(v) for v in t[2:].split("x"))
        elif re.fullmatch(r"\d+x\d+", t):
            w, d = (int(v) for v in t.split("x"))
            widths = [w] * d
        elif re.fullmatch(r"\d+(,\d+)*", t):
            widths = [int(v) for v in t.split(",")]
        else:
            raise InvertError(
                f"unknown token {tok!r} in MLP name {name!r}: expected {GRAMMAR}, "
                "e.g. mlp-2000x3 or mlp-4000,2523,2523-relu"
            )
    if widths is not None and (not widths or min(widths) < 1):
        raise InvertError(f"MLP {name!r} needs at least one layer of positive width (e.g. mlp-2523x3)")
    if len(input_shape) == 1:
        input_shape = (input_shape[0], 1, 1)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise InvertError(f"input shape in {name!r} must be CxHxW with positive sizes, e.g. in3x29x29")
    n_in = math.prod(input_shape)
    return {
        "input_shape": tuple(input_shape),
        "widths": tuple(widths or (n_in,) * 3),
        "bias": bias,
        "activation": activation,
    }


def mlp_name(input_shape: Sequence[int], widths: Sequence[int], bias: bool = True, activation: str = "linear") -> str:
    """The canonical model name for these settings (inverse of :func:`parse_mlp_name`)."""
    ws = list(widths)
    w = f"{ws[0]}x{len(ws)}" if len(set(ws)) == 1 else ",".join(map(str, ws))
    parts = ["mlp", w]
    if activation not in ("linear", "none"):
        parts.append(activation)
    if not bias:
        parts.append("nobias")
    if tuple(input_shape) != DEFAULT_INPUT_SHAPE:
        parts.append("in" + "x".join(map(str, input_shape)))
    return "-".join(parts)


def mlp_aliases(depth: int, activation: str = "linear") -> dict[str, str]:
    """``layerK`` → layer K's output (after its activation); ``output`` → the last layer."""
    last = "fc" if ACTIVATIONS.get(activation) is None else "act"
    table = {f"layer{i}": f"{last}{i}" for i in range(1, depth + 1)}
    table["output"] = f"{last}{depth}"
    return table


def _spec(name: str, shape: tuple[int, ...], widths: tuple[int, ...], bias: bool, act: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        build=lambda: MLP(shape, widths, bias, act),
        input_shape=shape,  # type: ignore[arg-type]
        aliases=mlp_aliases(len(widths), act),
        mean=(0.0,) * shape[0],
        std=(1.0,) * shape[0],
        description=(
            f"fully connected, input {'×'.join(map(str, shape))} = {math.prod(shape):,}, "
            f"widths {','.join(map(str, widths))}, {act}, {'bias' if bias else 'no bias'}; other sizes: mlp-WxD, "
            "mlp-W1,W2,…, add -relu, -nobias, -inCxHxW"
        ),
    )


def mlp_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` for an MLP model name (see the module docstring for the grammar)."""
    p = parse_mlp_name(name)
    return _spec(name, p["input_shape"], p["widths"], p["bias"], p["activation"])  # type: ignore[arg-type]


register_model(mlp_spec("mlp"))  # listed by `invert models`
register_family(
    "mlp",
    mlp_spec,
    usage=(
        "mlp[-WxD|-W1,W2,…][-relu|-gelu|…][-nobias][-inCxHxW] — fully connected, e.g. mlp-2000x3, "
        "mlp-4000,2523,2523-relu"
    ),
)  # every other mlp-… name is parsed on demand
