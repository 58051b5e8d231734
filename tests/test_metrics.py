"""m_s, m_i, PSNR and SSIM against independent computations: by hand, in float64, from the published formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from invert.analysis.metrics import flat_l2, input_distance, psnr, shifted_distance, ssim


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _noise(shape: tuple[int, ...], seed: int, draws: int) -> list[torch.Tensor]:
    """The draws a seeded generator gives, in order, as float32 (what m_s documents it uses)."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float32) for _ in range(draws)]


def test_ms_identity_encoder_is_sigma_times_noise_norm_unclamped() -> None:
    """O = identity on a white image: m_s = σ‖n‖ exactly. Clamping a + σn to [0, 1] would halve it."""
    a = torch.ones(2, 3, 5, 4, dtype=torch.float64)
    sigma, draws, seed = 0.3, 4, 7
    mean, std = shifted_distance(Identity(), a, sigma, draws, torch.Generator().manual_seed(seed))
    per_draw = np.array(
        [[sigma * math.sqrt(float((n[i].double() ** 2).sum())) for i in range(2)] for n in _noise(a.shape, seed, draws)]
    )
    np.testing.assert_allclose(mean.numpy(), per_draw.mean(0), rtol=1e-6)
    np.testing.assert_allclose(std.numpy(), per_draw.std(0, ddof=1), rtol=1e-5)
    clamped = np.array(
        [
            [math.sqrt(float(((sigma * n[i].double()).clamp(max=0) ** 2).sum())) for i in range(2)]
            for n in _noise(a.shape, seed, draws)
        ]
    ).mean(0)
    assert (mean.numpy() > 1.3 * clamped).all()  # the unclamped shift is about √2 × the clamped one


def test_ms_nonlinear_encoder_draw_count_and_defaults() -> None:
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Conv2d(3, 5, 3), nn.ReLU()).double().requires_grad_(False)
    a = torch.rand(1, 3, 6, 6, dtype=torch.float64)
    ref = enc(a)
    for draws in (1, 2, 5):
        mean, std = shifted_distance(enc, a, 0.1, draws, torch.Generator().manual_seed(3))
        d = [float(torch.linalg.vector_norm(enc(a + 0.1 * n.double()) - ref)) for n in _noise(a.shape, 3, draws)]
        assert float(mean) == pytest.approx(np.mean(d), rel=1e-9)
        assert float(std) == pytest.approx(np.std(d, ddof=1) if draws > 1 else 0.0, rel=1e-9, abs=1e-15)
    gen = torch.Generator().manual_seed(3)
    mean, _ = shifted_distance(enc, a, generator=gen)  # defaults: σ = 1/20 (the report's text), 3 draws
    d = [float(torch.linalg.vector_norm(enc(a + n.double() / 20) - ref)) for n in _noise(a.shape, 3, 3)]
    assert float(mean) == pytest.approx(np.mean(d), rel=1e-9)
    nxt = torch.randn(a.shape, generator=gen)  # exactly three draws were taken from the generator
    torch.testing.assert_close(nxt, _noise(a.shape, 3, 4)[3])
    with pytest.raises(ValueError, match="draws"):
        shifted_distance(enc, a, 0.1, 0)


def test_mi_is_the_frobenius_norm_per_sample_in_any_layout() -> None:
    x = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]], [[[1.0, 1.0], [1.0, 1.0]]]])  # (2, 1, 2, 2)
    t = torch.zeros_like(x)
    torch.testing.assert_close(input_distance(x, t), torch.tensor([math.sqrt(14.0), 2.0]))
    rng = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 3, 4, 5, generator=rng), torch.rand(3, 3, 4, 5, generator=rng)
    hand = torch.tensor(
        [math.sqrt(float(((a[i].double() - b[i].double()) ** 2).sum())) for i in range(3)], dtype=torch.float64
    )
    torch.testing.assert_close(input_distance(a, b).double(), hand, rtol=1e-6, atol=0)
    nhwc = a.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(flat_l2(nhwc, b), flat_l2(a, b))


def test_psnr_by_hand_with_clamping() -> None:
    target = torch.full((1, 3, 2, 2), 0.5)
    x = target + 0.1  # mse 0.01 → 20 dB
    assert float(psnr(x, target)[0]) == pytest.approx(20.0, abs=1e-4)
    target = torch.tensor([[[[0.95, 0.0], [0.5, 0.25]]]])
    x = torch.tensor([[[[1.5, -0.2], [0.5, 0.75]]]])  # clamped to [1, 0, .5, .75]: errors .05, 0, 0, .5
    mse = (0.05**2 + 0.5**2) / 4
    assert float(psnr(x, target)[0]) == pytest.approx(10 * math.log10(1 / mse), abs=1e-4)
    assert float(psnr(target, target)[0]) == pytest.approx(120.0)  # identical: capped, not infinite


def _ssim_reference(x: np.ndarray, y: np.ndarray, window: int = 11, sigma: float = 1.5) -> float:
    """Mean SSIM (Wang et al. 2004) in float64: Gaussian-weighted moments, mirrored borders, data range 1."""
    from scipy.ndimage import correlate

    r = np.arange(window) - window // 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for ch in range(x.shape[0]):
        f = lambda img: correlate(img, w, mode="mirror")  # noqa: E731 — torch 'reflect' = scipy 'mirror'
        mx, my = f(x[ch]), f(y[ch])
        vx, vy, cxy = f(x[ch] ** 2) - mx**2, f(y[ch] ** 2) - my**2, f(x[ch] * y[ch]) - mx * my
        values.append(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_ssim_constant_images_score_one() -> None:
    for value in (0.0, 0.3, 1.0):
        img = torch.full((1, 3, 16, 16), value)
        assert float(ssim(img, img)[0]) == pytest.approx(1.0, abs=1e-4)


def test_ssim_known_shift_pair_matches_float64_reference() -> None:
    rng = np.random.default_rng(0)
    base = rng.random((3, 24, 20))
    from scipy.ndimage import gaussian_filter

    smooth = np.stack([gaussian_filter(c, 1.0) for c in base])  # textured but correlated: a shift keeps some structure
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    shifted = np.roll(smooth, 1, axis=2)
    expected = _ssim_reference(smooth, shifted)
    assert 0.2 < expected < 0.95  # a genuinely partial match, not a degenerate case
    got = ssim(torch.tensor(shifted, dtype=torch.float32)[None], torch.tensor(smooth, dtype=torch.float32)[None])
    assert float(got[0]) == pytest.approx(expected, abs=2e-5)
    other = rng.random((3, 24, 20))
    got = ssim(torch.tensor(other, dtype=torch.float32)[None], torch.tensor(smooth, dtype=torch.float32)[None])
    assert float(got[0]) == pytest.approx(_ssim_reference(other, smooth), abs=2e-5)
