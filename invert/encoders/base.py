"""The encoder O_l: a model cut at one layer, pixels in [0, 1] in, that layer's activation out."""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def same_layout(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``t`` in ``like``'s memory format (NHWC or not): mixing layouts sends elementwise ops down slow paths."""
    if like.dim() == 4 and not like.is_contiguous() and like.is_contiguous(memory_format=torch.channels_last):
        return t.contiguous(memory_format=torch.channels_last)
    return t


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std``; part of the encoder so images stay in pixel space."""

    mean: torch.Tensor  # buffers, registered below: declared so they type as tensors, not ``Tensor | Module``
    std: torch.Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Encoder(nn.Module):
    """A frozen, eval-mode model truncated at ``layer``: computes nothing past it.

    ``body`` maps the (optionally normalised) input to the layer's activation. ``node`` is
    the graph node the layer name resolved to; ``input_shape`` is (C, H, W) without batch.
    ``channels_last`` feeds convolutions NHWC images (``None``: float32 on the CPU only, where oneDNN's
    NHWC kernels make max-pooling ~15× and a ResNet-50 conv2 iteration ~15 % faster).
    Outputs may then be NHWC-strided: use ``reshape``, not ``view``.
    """

    def __init__(
        self,
        body: nn.Module,
        *,
        model_name: str,
        layer: str,
        node: str,
        input_shape: tuple[int, ...],
        weights: str,
        normalize: Normalize | None = None,
        channels_last: bool | None = None,
    ):
        super().__init__()
        self.body = body
        self.channels_last = channels_last
        self.normalize = normalize
        self.model_name = model_name
        self.layer = layer
        self.node = node
        self.input_shape = tuple(input_shape)
        self.weights = weights
        self._has_conv = any(isinstance(m, nn.Conv2d) for m in body.modules())
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> Encoder:
        """Always eval: BatchNorm uses running statistics so images in a batch stay independent."""
        return super().train(False)

    def __deepcopy__(self, memo: dict) -> Encoder:
        """Copies stay frozen and in eval mode (an FX GraphModule's copy is rebuilt in training mode)."""
        cls = self.__class__
        new = cls.__new__(cls)
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            setattr(new, k, copy.deepcopy(v, memo))
        return new.requires_grad_(False).eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.outputs(x)
        return out["out"] if "out" in out else next(iter(out.values()))

    def outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every output of one pass: the layer under ``out``, plus the ``extra`` ones it was built with
        (e.g. ``logits``).
        """
        if self.normalize is not None:
            x = self.normalize(x)
        if self._uses_channels_last(x):
            x = x.contiguous(memory_format=torch.channels_last)
        out = self.body(x)
        return out if isinstance(out, dict) else {"out": out}

    def _uses_channels_last(self, x: torch.Tensor) -> bool:
        if x.dim() != 4 or not self._has_conv:
            return False
        if self.channels_last is None:  # measured: faster for float32 on the CPU, slower for float64 (58 vs 50 ms)
            return x.device.type == "cpu" and x.dtype == torch.float32
        return self.channels_last

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        for t in self.parameters():
            return t.dtype
        return torch.get_default_dtype()

    def extra_repr(self) -> str:
        return (
            f"model={self.model_name}, layer={self.layer} (node {self.node}), weights={self.weights}, "
            f"input={self.input_shape}"
        )


def output_stride(encoder: nn.Module, size: int) -> int | None:
    """Input pixels between neighbouring outputs of ``encoder`` for ``size``-pixel square images (ResNet-50 at
    224 px: 2/4/8/16/32 at conv1…conv5), or ``None`` when the output has no spatial grid (a flat vector)."""
    channels = getattr(encoder, "input_shape", (3,))[0]
    params = next(iter(encoder.parameters()), None)
    like = params if params is not None else torch.empty(0)
    with torch.no_grad():
        out = encoder(torch.zeros(1, channels, size, size, device=like.device, dtype=like.dtype))
    if out.dim() != 4:
        return None
    return max(1, round(size / out.shape[-1]))
