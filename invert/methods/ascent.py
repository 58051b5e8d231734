"""Gradient ascent on the image: activation maximisation, deep dream and content enhancing.

The parameters stay fixed and the image climbs a *score* of the encoder's activation (lecture
notes §3.9: x ← x + η ∂a_i(x)/∂x). Scores are composable callables (lucent style):
``channel(3) + 0.5 * neuron(7)``. Regularisers are the inverter's priors (subtracted) and step
transforms (blur, clamp), plus random jitter, which keeps high-frequency patterns from winning.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F

from invert.encoders.base import Encoder
from invert.errors import InvertError
from invert.inversion.inverter import Initializer, StepTransform
from invert.inversion.schedules import Schedule
from invert.objectives import Composable
from invert.priors import Prior
from invert.progress import ProgressBar

ASCENT_OPTIMIZERS = ("gd", "normalized", "adam")


class Score(Composable):
    """A named per-sample score of an activation ``(B, C, ...) -> (B,)`` to maximise; adds and scales."""


def _check_channel(a: torch.Tensor, c: int) -> None:
    if not 0 <= c < a.shape[1]:
        raise InvertError(f"channel {c} does not exist: the layer has {a.shape[1]} channels (0…{a.shape[1] - 1})")


def channel(c: int) -> Score:
    """Mean activation of channel (or logit / unit) ``c`` over all positions."""

    def fn(a: torch.Tensor) -> torch.Tensor:
        _check_channel(a, c)
        return a[:, c].mean(tuple(range(1, a.dim() - 1))) if a.dim() > 2 else a[:, c]

    return Score(fn, f"channel {c}")


def neuron(c: int, y: int | None = None, x: int | None = None) -> Score:
    """The activation of channel ``c`` at one position (default: the centre of the map)."""

    def fn(a: torch.Tensor) -> torch.Tensor:
        _check_channel(a, c)
        if a.dim() == 2:
            return a[:, c]
        h, w = a.shape[-2:]
        yy, xx = (h // 2 if y is None else y), (w // 2 if x is None else x)
        if not (0 <= yy < h and 0 <= xx < w):
            raise InvertError(f"position ({yy}, {xx}) is outside the {h}×{w} map")
        return a[:, c, yy, xx]

    return Score(fn, f"neuron {c}" + ("" if y is None and x is None else f" @({y},{x})"))


def layer_energy() -> Score:
    """½ mean of the squared activations — deep dream's "whatever this layer detects, more of it"."""
    return Score(lambda a: 0.5 * a.pow(2).mean(tuple(range(1, a.dim()))), "layer energy")


@dataclass
class AscentResult:
    """Images (B, C, H, W) after ascent, their final scores (B,), and the score every ``record_every`` steps."""

    images: torch.Tensor
    score: torch.Tensor
    iterations: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def ascend(
    encoder: Encoder,
    score: Score,
    *,
    start: torch.Tensor | None = None,
    batch: int = 1,
    size: int | None = None,
    iterations: int = 200,
    lr: float | Schedule = 0.05,
    optimizer: str = "adam",
    priors: Sequence[Prior] = (),
    steps: Sequence[StepTransform] = (),
    jitter: int = 0,
    seed: int = 0,
    record_every: int = 10,
    progress: bool = False,
) -> AscentResult:
    """Maximise ``score(encoder(x)) − Σ priors(x)`` over the image ``x``.

    ``start``: images (B, C, H, W) to begin from (deep dream), else ``batch`` draws of N(0.7, 1/20)
    at ``size`` px. ``optimizer``: ``gd`` (x += η g, the lecture's rule), ``normalized``
    (x += η g / mean|g|, deep dream's), or ``adam``. ``jitter``: roll the image by up to that
    many pixels before each forward pass. ``steps`` run after each update (e.g. ``Blur``, ``Clamp``).
    """
    if optimizer not in ASCENT_OPTIMIZERS:
        raise InvertError(f"unknown ascent optimizer {optimizer!r}: choose from {', '.join(ASCENT_OPTIMIZERS)}")
    if iterations < 1 or jitter < 0 or record_every < 1:
        raise InvertError("ascent needs iterations ≥ 1, jitter ≥ 0 and record-every ≥ 1")
    schedule = lr if isinstance(lr, Schedule) else Schedule("constant", float(lr))
    gen = torch.Generator().manual_seed(seed)
    device, dtype = encoder.device, encoder.dtype
    if start is None:
        shape = encoder.input_shape if size is None else (encoder.input_shape[0], size, size)
        start = Initializer()((batch, *shape), gen)
    x = start.detach().to(device=device, dtype=dtype).clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=schedule(0, iterations)) if optimizer == "adam" else None
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    with ProgressBar(f"ascending {score.name}", iterations, enabled=progress) as bar:
        for step in range(iterations):
            eta = float(schedule(step, iterations))
            shift = [int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=gen)] if jitter else [0, 0]
            seen = torch.roll(x, shifts=shift, dims=(-2, -1)) if jitter else x
            value = score(encoder(seen))
            penalty = sum((p(x) for p in priors), torch.zeros_like(value))
            objective = (value - penalty).sum()
            if not torch.isfinite(objective):
                raise InvertError(f"ascent diverged at iteration {step} (objective {float(objective)}): lower the learning rate (was {eta:g})")
            (grad,) = torch.autograd.grad(objective, x)
            with torch.no_grad():
                if opt is not None:
                    x.grad = -grad  # Adam minimises
                    for g in opt.param_groups:
                        g["lr"] = eta
                    opt.step()
                elif optimizer == "normalized":
                    scale = grad.abs().reshape(grad.shape[0], -1).mean(1).clamp_min(1e-12)
                    x.add_(eta * grad / scale.view(-1, *([1] * (grad.dim() - 1))))
                else:
                    x.add_(eta * grad)
                for t in steps:
                    x.copy_(t(x, step, iterations))
            if step % record_every == 0:
                for b, v in enumerate(value.detach().cpu().tolist()):
                    history.append({"iteration": step, "image": b, "score": v, "lr": eta})
            bar.advance()
    with torch.no_grad():
        final = score(encoder(x.detach())).cpu()
    for b, v in enumerate(final.tolist()):
        history.append({"iteration": iterations, "image": b, "score": v, "lr": float("nan")})
    return AscentResult(x.detach().cpu(), final, iterations, time.perf_counter() - t0, history)


def deep_dream(
    encoder: Encoder,
    image: torch.Tensor,
    score: Score | None = None,
    *,
    octaves: int = 3,
    octave_scale: float = 1.4,
    iterations: int = 20,
    lr: float = 0.02,
    jitter: int = 8,
    seed: int = 0,
    progress: bool = False,
) -> AscentResult:
    """Deep dream (Mordvintsev et al.): normalised gradient ascent on ``image`` over an image pyramid.

    From the smallest octave up, each level starts from the image at that scale plus the detail
    the coarser levels added, so large patterns form first. ``score`` defaults to
    :func:`layer_energy` (content enhancing); pass :func:`channel` to inject one feature.
    """
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if octaves < 1 or octave_scale <= 1:
        raise InvertError("deep dream needs octaves ≥ 1 and an octave scale > 1")
    score = score or layer_energy()
    h, w = image.shape[-2:]
    sizes = [(max(8, round(h / octave_scale**k)), max(8, round(w / octave_scale**k))) for k in reversed(range(octaves))]
    detail = torch.zeros_like(image[..., : sizes[0][0], : sizes[0][1]])
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    from invert.inversion.steps import Clamp

    result = None
    for level, hw in enumerate(sizes):
        base = F.interpolate(image, size=hw, mode="bilinear", align_corners=False, antialias=True)
        detail = F.interpolate(detail, size=hw, mode="bilinear", align_corners=False)
        result = ascend(encoder, score, start=(base + detail).clamp(0, 1), iterations=iterations, lr=lr, optimizer="normalized",
                        steps=[Clamp()], jitter=jitter, seed=seed + level, progress=progress)
        detail = result.images - base
        history += [{**row, "octave": level} for row in result.history]
    assert result is not None
    return AscentResult(result.images, result.score, iterations * octaves, time.perf_counter() - t0, history)
