"""Gradient ascent on the image: activation maximisation, deep dream and content enhancing.

The parameters stay fixed and the image climbs a *score* of the encoder's activation (lecture
notes §3.9: x ← x + η ∂a_i(x)/∂x). Scores are composable callables (lucent style):
``channel(3) + 0.5 * neuron(7)``. Regularisers are the inverter's priors (subtracted) and step
transforms (blur, clamp), plus random jitter, which keeps high-frequency patterns from winning.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from invert.encoders.base import Encoder
from invert.errors import InvertError
from invert.inversion.config import OPTIMIZERS
from invert.inversion.loop import Callback, Descent, LoopState, Problem, StepTransform, chunk_size
from invert.inversion.parts import Initializer
from invert.inversion.schedules import Schedule
from invert.objectives import Composable
from invert.priors import Prior

#: Ascent runs on the inverter's loop, so it takes every update rule it has.
ASCENT_OPTIMIZERS = OPTIMIZERS


@dataclass(frozen=True)
class AscentDefaults:
    """:func:`ascend`'s defaults — the one place they are set (the command line reads them here)."""

    iterations: int = 200
    lr: float = 0.05
    optimizer: str = "adam"
    jitter: int = 0
    record_every: int = 10


@dataclass(frozen=True)
class DreamDefaults:
    """:func:`deep_dream`'s defaults — the one place they are set (the command line reads them here)."""

    octaves: int = 3
    octave_scale: float = 1.4
    iterations: int = 20
    lr: float = 0.02
    jitter: int = 8
    optimizer: str = "normalized"


ASCENT = AscentDefaults()
DREAM = DreamDefaults()


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
    """Images (B, C, H, W) after ascent, their final scores (B,), and the score every ``record_every`` steps.

    ``interrupted``: Ctrl-C stopped the run after ``iterations`` iterations; the images are where it got to.
    """

    images: torch.Tensor
    score: torch.Tensor
    iterations: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False


class ScoreAscent(Problem):
    """Gradient ascent as a :class:`~invert.inversion.loop.Problem`: minimise Σ priors(x) − score(O(roll(x)))."""

    name = "ascent"
    measure = "score"

    def __init__(
        self, encoder: Encoder, score: Score, priors: Sequence[Prior], jitter: int, generator: torch.Generator
    ):
        self.encoder, self.score, self.priors = encoder, score, list(priors)
        self.jitter, self.generator = jitter, generator
        self.shift = (0, 0)

    def prepare(self, step: int, total: int) -> None:
        if self.jitter:  # one shift per iteration, the same for every chunk
            a, b = (int(v) for v in torch.randint(-self.jitter, self.jitter + 1, (2,), generator=self.generator))
            self.shift = (a, b)

    def evaluate(self, x: torch.Tensor, rows: slice) -> tuple[torch.Tensor, torch.Tensor]:
        seen = torch.roll(x, shifts=self.shift, dims=(-2, -1)) if self.shift != (0, 0) else x
        value = self.score(self.encoder(seen))
        penalty = sum((p(x) for p in self.priors), torch.zeros_like(value))
        return penalty - value, value.detach()

    def history_rows(
        self, step: int, images: torch.Tensor, loss: torch.Tensor, measure: torch.Tensor, schedules: Mapping[str, float]
    ) -> list[dict[str, float]]:
        lr = schedules["lr"]
        return [{"iteration": step, "image": b, "score": v, "lr": lr} for b, v in enumerate(measure.cpu().tolist())]

    def describe(self, state: LoopState) -> str:
        return f"{self.score.name} {float(state.measure.mean()):.3g}"


def ascend(
    encoder: Encoder,
    score: Score,
    *,
    start: torch.Tensor | None = None,
    batch: int = 1,
    size: int | None = None,
    iterations: int = ASCENT.iterations,
    lr: float | Schedule = ASCENT.lr,
    optimizer: str = ASCENT.optimizer,
    momentum: float = 0.9,
    priors: Sequence[Prior] = (),
    steps: Sequence[StepTransform] = (),
    jitter: int = ASCENT.jitter,
    seed: int = 0,
    record_every: int = ASCENT.record_every,
    chunk: int = 0,
    callback: Callback | None = None,
    progress: bool = False,
) -> AscentResult:
    """Maximise ``score(encoder(x)) − Σ priors(x)`` over the image ``x`` on the inverter's loop.

    ``start``: images (B, C, H, W) to begin from (deep dream), else ``batch`` draws of the
    inverter's start distribution (:class:`Initializer`) at ``size`` px. ``optimizer``: any rule
    of the shared loop — ``gd`` (x += η g, the lecture's rule), ``normalized`` (x += η g / mean|g|,
    deep dream's), ``adam``, ``sgd``, ``lbfgs``; ``lr`` a number or a :class:`Schedule`.
    ``jitter``: roll the image by up to that many pixels before each forward pass. ``steps`` run
    after each update (e.g. ``Blur``, ``Clamp``). A NaN/inf score, loss or image raises
    :class:`~invert.inversion.InversionDiverged` carrying the partial :class:`AscentResult`.
    """
    if optimizer not in OPTIMIZERS:
        raise InvertError(f"unknown ascent optimizer {optimizer!r}: choose from {', '.join(OPTIMIZERS)}")
    if iterations < 1 or jitter < 0 or record_every < 1:
        raise InvertError("ascent needs iterations ≥ 1, jitter ≥ 0 and record-every ≥ 1")
    t0 = time.perf_counter()
    schedule = lr if isinstance(lr, Schedule) else Schedule("constant", float(lr))
    gen = torch.Generator().manual_seed(seed)
    if start is None:
        shape = encoder.input_shape if size is None else (encoder.input_shape[0], size, size)
        start = Initializer()((batch, *shape), gen)
    x0 = start.detach().to(device=encoder.device, dtype=encoder.dtype)
    with torch.no_grad():
        size_per_pass = chunk_size(chunk, len(x0), encoder(x0[:1]))
    problem = ScoreAscent(encoder, score, priors, jitter, gen)
    descent = Descent(optimizer, schedule, momentum, steps)
    state = descent.run(
        problem,
        x0,
        iterations,
        chunk=size_per_pass,
        record_every=record_every,
        callback=callback,
        progress=progress,
        label=f"ascending {score.name}",
    )
    problem.shift = (0, 0)  # the final score sees the image as it is
    xf = state.x.detach()
    _, final = Descent.evaluate(problem, xf, size_per_pass)
    history = state.history + problem.history_rows(
        state.step, xf, final, final, descent.recorded(state.step, max(state.step, 1), float("nan"))
    )
    result = AscentResult(xf.cpu(), final.cpu(), state.step, time.perf_counter() - t0, history, state.interrupted)
    if state.failure is not None:
        state.failure.result = result
        raise state.failure
    return result


def deep_dream(
    encoder: Encoder,
    image: torch.Tensor,
    score: Score | None = None,
    *,
    octaves: int = DREAM.octaves,
    octave_scale: float = DREAM.octave_scale,
    iterations: int = DREAM.iterations,
    lr: float | Schedule = DREAM.lr,
    optimizer: str = DREAM.optimizer,
    jitter: int = DREAM.jitter,
    seed: int = 0,
    progress: bool = False,
) -> AscentResult:
    """Deep dream (Mordvintsev et al.): normalised gradient ascent on ``image`` over an image pyramid.

    From the smallest octave up, each level starts from the image at that scale plus the detail
    the coarser levels added, so large patterns form first; each level is one :func:`ascend` run
    (``iterations`` per octave, pixels clamped to [0, 1]). ``score`` defaults to
    :func:`layer_energy` (content enhancing); pass :func:`channel` to inject one feature.

    Shape:
        - image: (N, 3, H, W) in [0, 1]
        - result images: (N, 3, H, W) in [0, 1]; score (N,)
    """
    from invert.inversion.loop import InversionDiverged
    from invert.inversion.steps import Clamp

    if image.dim() == 3:
        image = image.unsqueeze(0)
    if octaves < 1 or octave_scale <= 1:
        raise InvertError("deep dream needs octaves ≥ 1 and an octave scale > 1")
    score = score or layer_energy()
    h, w = image.shape[-2:]
    sizes = [(max(8, round(h / octave_scale**k)), max(8, round(w / octave_scale**k))) for k in reversed(range(octaves))]
    detail = torch.zeros_like(image[..., : sizes[0][0], : sizes[0][1]])
    history: list[dict[str, float]] = []
    done = 0
    t0 = time.perf_counter()

    def so_far(last: AscentResult) -> AscentResult:
        return AscentResult(
            last.images,
            last.score,
            done + last.iterations,
            time.perf_counter() - t0,
            history + [{**row, "octave": level} for row in last.history],
            last.interrupted,
        )

    for level, hw in enumerate(sizes):
        base = F.interpolate(image, size=hw, mode="bilinear", align_corners=False, antialias=True)
        detail = F.interpolate(detail, size=hw, mode="bilinear", align_corners=False)
        try:
            result = ascend(
                encoder,
                score,
                start=(base + detail).clamp(0, 1),
                iterations=iterations,
                lr=lr,
                optimizer=optimizer,
                steps=[Clamp()],
                jitter=jitter,
                seed=seed + level,
                progress=progress,
            )
        except InversionDiverged as exc:
            if isinstance(exc.result, AscentResult):
                exc.result = so_far(exc.result)
            raise
        if result.interrupted or level == len(sizes) - 1:
            return so_far(result)
        detail = result.images - base
        history += [{**row, "octave": level} for row in result.history]
        done += result.iterations
    raise AssertionError("unreachable: octaves ≥ 1")
