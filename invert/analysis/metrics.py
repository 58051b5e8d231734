"""Inversion quality: m_g, m_s, m_i (Badger eqs. 6–10), PSNR and SSIM.

All distances are Frobenius (flattened L2) norms per sample, as in the report.
"""

from __future__ import annotations

import torch

from invert.encoders.base import Encoder

#: The report's m_s (eqs. 7–8): Gaussian shifts of σ = 1/20 per pixel, averaged over 3 draws —
#: :class:`~invert.inversion.InversionConfig`'s ``ms_sigma`` and ``ms_draws`` defaults (a test holds them equal).
MS_SIGMA = 1 / 20
MS_DRAWS = 3


def flat_l2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """‖a − b‖₂ per sample over all non-batch elements."""
    return torch.linalg.vector_norm(a - b, dim=tuple(range(1, a.dim())))  # no flatten: NHWC stays copy-free


def embedding_distance(encoder: Encoder, x: torch.Tensor, target_embedding: torch.Tensor) -> torch.Tensor:
    """m_g = ‖O(x) − O(a)‖₂ per sample (eq. 6)."""
    with torch.no_grad():
        return flat_l2(encoder(x), target_embedding)


def input_distance(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """m_i = ‖a − a_g‖₂ per sample (eq. 10)."""
    return flat_l2(x, target)


@torch.no_grad()
def shifted_distance(
    encoder: Encoder,
    images: torch.Tensor,
    sigma: float | None = None,
    draws: int | None = None,
    generator: torch.Generator | None = None,
    target_embedding: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """m_s = ‖O(a + N(0, σ)) − O(a)‖₂ (eqs. 7–8): mean and standard deviation over ``draws`` per image.

    ``sigma``/``draws`` default to :data:`MS_SIGMA` (1/20) and :data:`MS_DRAWS` (3), the defaults of
    :class:`~invert.inversion.InversionConfig`'s ``ms_sigma`` and ``ms_draws``. The shifted input is not clamped,
    as in the report. Noise is drawn on the CPU from ``generator`` so CPU and GPU runs see the same shifts.
    """
    sigma = MS_SIGMA if sigma is None else sigma
    draws = MS_DRAWS if draws is None else draws
    if draws < 1:
        raise ValueError("draws must be at least 1")
    ref = encoder(images) if target_embedding is None else target_embedding
    dists = []
    for _ in range(draws):
        noise = torch.randn(images.shape, generator=generator, dtype=torch.float32).to(images.device, images.dtype)
        dists.append(flat_l2(encoder(images + sigma * noise), ref))
    d = torch.stack(dists, 0)
    std = d.std(0, unbiased=True) if draws > 1 else torch.zeros_like(d[0])
    return d.mean(0), std


def psnr(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per sample of images in [0, 1] (x clamped to the box first)."""
    x = x.clamp(0, 1)
    mse = (x - target).pow(2).reshape(x.shape[0], -1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))


def ssim(x: torch.Tensor, target: torch.Tensor, window: int = 11) -> torch.Tensor:
    """Mean SSIM per sample (kornia, Gaussian window ``window``, data range 1)."""
    window = min(window, x.shape[-1] - (1 - x.shape[-1] % 2), x.shape[-2] - (1 - x.shape[-2] % 2))
    window = max(window if window % 2 else window - 1, 3)
    import kornia  # here, not at import: keeps `invert --help` fast

    m = kornia.metrics.ssim(x.clamp(0, 1), target, window, max_val=1.0)
    return m.reshape(m.shape[0], -1).mean(1)
