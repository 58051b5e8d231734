"""Helpers shared by the non-uniqueness / conditioning experiments (not an experiment itself)."""

from __future__ import annotations

from typing import Any

import torch

from invert.encoders.base import Encoder
from invert.errors import InvertError
from invert.inversion.config import InversionConfig, get_preset
from invert.io import default_image_path, load_image, shared_dir


def plain_gd(**settings: Any) -> InversionConfig:
    """Eq. 4 as the report's experiments run it: the ``plain-gd`` preset (L1, plain gradient descent, ε decayed
    linearly to 0, no blur, no smoothing, no prior, no clamp, start N(0.7, 1/20)) with ``settings`` (lr, iterations,
    size, seed, record_every …)."""
    return get_preset("plain-gd").config().updated(**settings)


def report_targets(size: int, names: tuple[str, ...] = ("dalmatian", "tesla_coil")) -> tuple[torch.Tensor, list[str]]:
    """The report's target photographs from ``shared/data/images`` at ``size`` px (centre crop)."""
    root = shared_dir()
    if root is None:
        raise InvertError("the report's images are in the shared material folder: set INVERT_SHARED")
    return torch.stack([load_image(root / "data" / "images" / f"{n}.jpg", size) for n in names]), list(names)


def report_image(size: int) -> tuple[torch.Tensor, str]:
    """The report's Dalmatian at ``size``×``size`` (1, 3, H, W); the embedded photo if shared/ is absent."""
    try:
        return report_targets(size, ("dalmatian",))[0], "dalmatian.jpg"
    except InvertError:
        return load_image(default_image_path(), size)[None], default_image_path().name


def spread(values: list[float]) -> float:
    """Sample standard deviation (0 for fewer than two values): the spread a group difference must exceed."""
    import statistics

    return statistics.stdev(values) if len(values) > 1 else 0.0


def matched_inversion(
    enc: Encoder,
    img: torch.Tensor,
    *,
    iterations: int,
    seed: int,
    level: float = 1.0,
    trials: int = 4,
    trial_iterations: int = 40,
    record_every: int = 10,
) -> dict[str, float | bool]:
    """Eq. 4 (L1, plain GD, ε line-searched then decayed linearly to 0): m_i where m_g first falls below ``level``·m_s.

    Nets differ in output scale, so ε comes from the appendix's random line search and the match is in units of each
    net's own m_s; ``matched`` is False (and ``m_i_matched`` NaN) when the run never got there.
    """
    from invert.inversion import invert, line_search_lr

    cfg = plain_gd(lr=0.01, iterations=iterations, size=max(8, img.shape[-1]), seed=seed, record_every=record_every)
    lr, _ = line_search_lr(
        enc, img, cfg, trials=trials, trial_iterations=trial_iterations, low=1e-4, high=1.0, seed=seed
    )
    res = invert(enc, img, cfg, lr=lr)
    m_s = float(res.m_s)
    hit = next((h for h in res.history if h["m_g"] < level * m_s), None)
    return {
        "lr": lr,
        "m_s": m_s,
        "m_g_start": res.history[0]["m_g"],
        "m_g_end": float(res.m_g),
        "m_i_end": float(res.m_i),
        "matched": hit is not None,
        "m_i_matched": hit["m_i"] if hit else float("nan"),
        "iteration_matched": int(hit["iteration"]) if hit else -1,
    }


def smallest_singular_value(enc: torch.nn.Module, img: torch.Tensor) -> float:
    """σ_min of the Jacobian ∂O/∂a at ``img`` (1, C, H, W), in float64: 0 (to rounding)
    where the map loses a direction.
    """
    from torch.func import jacrev

    x = img.reshape(-1).double()
    jac = jacrev(lambda v: enc(v.to(img.dtype).reshape(img.shape)).reshape(-1))(x.to(img.dtype))
    return float(torch.linalg.svdvals(jac.double())[-1]) if jac.shape[0] >= jac.shape[1] else 0.0
