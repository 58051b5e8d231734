"""From settings to parts, once per run: :func:`resolve` makes a config's chosen settings concrete (what ``config.json``
records), :func:`config_parts` builds the objective, priors, lr schedule, update smoothing and step transforms a
resolved config describes, and :class:`Initializer` makes the start images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from invert.encoders.base import Encoder, output_stride
from invert.errors import InvertError
from invert.inversion.config import InversionConfig
from invert.inversion.loop import StepTransform
from invert.inversion.schedules import Schedule
from invert.inversion.steps import Blur, Clamp
from invert.objectives import Objective, make_objective
from invert.priors import Prior, alpha_prior, l2_prior, tv_prior

#: The defaults every part falls back to: one source of truth, :class:`InversionConfig`.
DEFAULTS = InversionConfig()


def resolve(
    config: InversionConfig,
    encoder: Encoder | None = None,
    size: int | None = None,
    *,
    searched: bool | None = None,
    stride: int | None = None,
) -> InversionConfig:
    """The one resolution of a run's settings: ``config`` with every chosen setting made concrete for ``size``-pixel
    images (default ``config.size``) through ``encoder`` — what the run does and what ``config.json`` records.

    Only the default's update smoothing needs the layer's output stride; it is measured here (one forward pass of
    one image) when the smoothing is still to be chosen, ``stride`` is not given and an encoder is; a config that is
    already resolved costs nothing. ``searched`` overrides :attr:`InversionConfig.searched` (an :class:`Inverter`
    built from parts decides it from its objective's name, by the same rule)."""
    size = size or config.size
    searched = config.searched if searched is None else searched
    if config.is_resolved:
        return config
    if stride is None and encoder is not None and config.smooth is None and searched:
        stride = output_stride(encoder, size)
    return config.resolved(size, searched=searched, stride=stride)


def stride_from_shape(output_shape: Sequence[int], size: int) -> int | None:
    """Input pixels between neighbouring outputs, from one output's shape (C, H, W) for ``size``-pixel images
    (what :func:`~invert.encoders.output_stride` measures); ``None`` for a flat output."""
    if len(output_shape) != 3:
        return None
    return max(1, round(size / output_shape[-1]))


@dataclass
class Parts:
    """The parts a resolved config describes."""

    objective: Objective
    priors: list[Prior]
    lr: Schedule
    steps: list[StepTransform]
    smooth: Schedule


def config_parts(c: InversionConfig) -> Parts:
    """Objective, priors, lr schedule, blur/clamp steps and update smoothing of ``c`` (resolved first if it is not:
    without an encoder, so with no update smoothing — resolve with :func:`resolve` for a run)."""
    c = resolve(c)
    assert c.lr is not None  # resolved
    objective = make_objective(c.objective, c.objective_weight)
    if c.l2_weight:
        objective = objective + make_objective("l2-in-l1-units", c.l2_weight)
    priors: list[Prior] = []
    if c.tv is not None and c.tv > 0:
        priors.append(tv_prior(c.tv, c.tv_beta, c.tv_end, relative=c.tv_scale == "target"))
    if c.alpha_norm > 0:
        priors.append(alpha_prior(c.alpha_norm, c.alpha))
    if c.pixel_l2 > 0:
        priors.append(l2_prior(c.pixel_l2))
    steps: list[StepTransform] = []
    if c.blur is not None and c.blur > 0:
        steps.append(Blur(Schedule(c.blur_schedule, c.blur, c.blur_end), c.blur_kernel))
    if c.clamp:
        steps.append(Clamp())
    return Parts(
        objective=objective,
        priors=priors,
        lr=Schedule(c.lr_schedule, c.lr, c.lr_end, c.lr_gamma, c.lr_every),
        steps=steps,
        smooth=Schedule("linear", c.smooth or 0.0, 0.0, over=c.smooth_over),
    )


def config_schedule(c: InversionConfig) -> Schedule:
    """The learning-rate schedule a config describes."""
    return config_parts(c).lr


def config_objective(c: InversionConfig) -> Objective:
    """The objective a config describes: ``objective`` × ``objective_weight``, plus ``l2_weight`` × √n‖O(x) − O(a)‖₂
    when that is > 0 (named ``l1 + 4·l2-in-l1-units`` and so on)."""
    return config_parts(c).objective


def config_priors(c: InversionConfig) -> list[Prior]:
    """The priors a config switches on (weight > 0): TV^β, α-norm, pixel L2."""
    return config_parts(c).priors


def config_smooth(c: InversionConfig) -> Schedule:
    """The σ schedule of the Gaussian each update is smoothed by: linear from ``smooth`` to 0 over the first
    ``smooth_over`` iterations (0: over the run), then 0 (off)."""
    return config_parts(c).smooth


def config_steps(c: InversionConfig) -> list[StepTransform]:
    """The step transforms a config switches on, in order: blur (eq. 5), then clamping to [0, 1]."""
    return config_parts(c).steps


@dataclass
class Initializer:
    """Starting images: ``normal`` N(mean, std) (default N(0.5, 1/20); the report's N(0.7, 1/20)), ``uniform`` [0,1),
    ``constant`` (mean), or ``image`` (a given tensor, broadcast over the batch).
    Defaults: :class:`InversionConfig`'s."""

    kind: str = DEFAULTS.init
    mean: float = DEFAULTS.init_mean
    std: float = DEFAULTS.init_std
    image: torch.Tensor | None = None

    def __call__(self, shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
        if self.kind == "normal":
            return torch.randn(*shape, generator=generator) * self.std + self.mean
        if self.kind == "uniform":
            return torch.rand(*shape, generator=generator)
        if self.kind == "constant":
            return torch.full(tuple(shape), float(self.mean))
        if self.kind == "image":
            if self.image is None:
                raise InvertError("init 'image' needs an image (--init-image PATH)")
            img = self.image.float().cpu()
            img = img.reshape(-1, *shape[1:]) if img.dim() == len(shape) else img.unsqueeze(0)
            if img.shape[1:] != tuple(shape[1:]):
                raise InvertError(f"init image has shape {tuple(img.shape[1:])}, expected {tuple(shape[1:])}")
            if img.shape[0] != 1 and shape[0] % img.shape[0]:
                raise InvertError(
                    f"{img.shape[0]} start images cannot be spread over a batch of {shape[0]}: "
                    "give one, or one per target"
                )
            if img.shape[0] == 1:
                return img.expand(shape[0], *shape[1:]).clone()
            return img.repeat_interleave(shape[0] // img.shape[0], 0)
        raise InvertError(f"unknown init {self.kind!r}")
