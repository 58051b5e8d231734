"""Building and running an :class:`~invert.inversion.engine.Inverter` from an :class:`InversionConfig`: the one-call
API :func:`invert`, :func:`build_inverter`, and the appendix's learning-rate line search."""

from __future__ import annotations

import math
from typing import Any

import torch

from invert.encoders.base import Encoder
from invert.errors import InvertError
from invert.inversion.config import InversionConfig
from invert.inversion.engine import Inverter
from invert.inversion.loop import Callback, InversionDiverged
from invert.inversion.parts import Initializer, config_parts, resolve
from invert.inversion.result import InversionResult


def resolved_for(config: InversionConfig, encoder: Encoder, size: int | None = None) -> InversionConfig:
    """``config`` with every chosen setting made concrete for ``size``-pixel images (default ``config.size``) through
    ``encoder`` (whose output stride sets the default's update smoothing): what a run of it will do. The same as
    :func:`~invert.inversion.parts.resolve`."""
    return resolve(config, encoder, size)


def build_inverter(encoder: Encoder, config: InversionConfig, init_image: torch.Tensor | None = None) -> Inverter:
    """Assemble an :class:`Inverter` from a config: objective, priors, schedule, update smoothing, blur/clamp steps,
    init. Settings the config leaves to the default (``None``) are made concrete for ``config.size``-pixel images
    through ``encoder`` (:func:`resolved_for`); for images of another size, resolve for that size first (as
    :func:`invert` does)."""
    c = resolve(config, encoder)
    parts = config_parts(c)
    return Inverter(
        encoder,
        parts.objective,
        priors=parts.priors,
        optimizer=c.optimizer,
        lr=parts.lr,
        momentum=c.momentum,
        steps=parts.steps,
        smooth=parts.smooth,
        average=c.average,
        init=Initializer(c.init, c.init_mean, c.init_std, init_image),
        ms_sigma=c.ms_sigma,
        ms_draws=c.ms_draws,
        chunk=c.chunk,
    )


def invert(
    encoder: Encoder,
    targets: torch.Tensor,
    config: InversionConfig | None = None,
    *,
    restarts: int = 1,
    init_image: torch.Tensor | None = None,
    callback: Callback | None = None,
    progress: bool = False,
    **overrides: Any,
) -> InversionResult:
    """Invert ``targets`` through ``encoder``: the one-call API.

    Each target × restart is an independent problem: start from noise, descend on the image until its embedding
    matches the target's, and measure m_g, m_s, m_i, PSNR and SSIM.

    Args:
        encoder: the model cut at a layer (:func:`~invert.encoders.build_encoder`).
        targets: the images to invert.
        config: the procedure (default: :class:`InversionConfig`, the default; or a preset's ``.config()``).
        restarts: independent starts per target, run as one batch.
        init_image: a start image instead of noise (``init="image"``).
        callback: called after each recorded iteration.
        progress: show a progress bar.
        overrides: any :class:`InversionConfig` field (``iterations=100``, ``lr=0.1``, …).

    Returns:
        An :class:`InversionResult`: images and per-run metrics (``m_g``, ``m_i``, ``psnr``, …, N × R), ``m_s``
        per target, and the history.

    Shape:
        - targets: (N, C, H, W) in [0, 1]
        - result images: (N, R, C, H, W); metrics (N, R); m_s (N,)

    >>> enc = build_encoder("resnet50", "conv4")
    >>> res = invert(enc, images, iterations=100)
    >>> res.m_g, res.m_s
    """
    config = resolve((config or InversionConfig()).updated(**overrides), encoder, min(targets.shape[-2:]))
    inv = build_inverter(encoder, config, init_image)
    return inv.run(
        targets,
        config.iterations,
        restarts=restarts,
        seed=config.seed,
        record_every=config.record_every,
        stop_below_ms=config.stop_below_ms,
        callback=callback,
        progress=progress,
    )


def line_search_lr(
    encoder: Encoder,
    targets: torch.Tensor,
    config: InversionConfig,
    *,
    trials: int = 6,
    trial_iterations: int = 30,
    low: float = 1e-4,
    high: float = 1.0,
    seed: int = 0,
) -> tuple[float, list[dict[str, float]]]:
    """The appendix's random line search: short runs at log-uniform ε, keep the one minimising m_g.

    Returns the chosen learning rate and one row per trial (lr, m_g, diverged).
    """
    config = resolve(config, encoder, min(targets.shape[-2:]))  # once, not per trial (the stride is measured once)
    gen = torch.Generator().manual_seed(seed)
    exps = torch.empty(trials).uniform_(math.log10(low), math.log10(high), generator=gen)
    rows: list[dict[str, float]] = []
    best_lr, best_mg = None, math.inf
    for e in sorted(exps.tolist()):
        lr = float(10**e)
        try:
            res = invert(
                encoder,
                targets,
                config,
                lr=lr,
                iterations=trial_iterations,
                record_every=trial_iterations,
                stop_below_ms=False,
            )
            mg = float(res.m_g.mean())
            diverged = not math.isfinite(mg)
        except InversionDiverged:
            mg, diverged = math.inf, True
        rows.append({"lr": lr, "m_g": mg, "diverged": diverged})
        if mg < best_mg:
            best_lr, best_mg = lr, mg
    if best_lr is None:
        raise InvertError(
            f"every trial learning rate in [{low:g}, {high:g}] diverged — give --lr explicitly, smaller than {low:g}"
        )
    return best_lr, rows
