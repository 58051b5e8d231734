"""Update smoothing (issue 10, rounds 13–14): each update Gaussian-smoothed, scaled back, faded out; σ from the stride.

The smoothed step is checked against an independent computation (a float64 FFT convolution with the sampled
Gaussian, which the reflected border leaves alone away from the edges); the stride rule and the fade against hand
values; the loop against a hand-stepped Adam update; and that it reaches the layer: a smoothed run's update has less
pixel-scale (high-frequency) energy than the same run unsmoothed.
"""

from __future__ import annotations

import math

import pytest
import torch

from invert.encoders import build_encoder, output_stride
from invert.inversion import PRESETS, InversionConfig, resolved_for
from invert.inversion.inverter import build_inverter, config_smooth
from invert.inversion.loop import SMOOTH_GAIN, smooth_update
from invert.inversion.schedules import Schedule
from invert.io import default_image_path, load_image


def _fft_gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``x`` convolved (circularly, float64) with the sampled Gaussian truncated at 2σ, normalised to sum 1."""
    r = math.ceil(2 * sigma)
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    g1 = torch.exp(-(t**2) / (2 * sigma**2))
    g1 = g1 / g1.sum()
    h, w = x.shape[-2:]
    kernel = torch.zeros(h, w, dtype=torch.float64)
    for i, a in enumerate(t.long().tolist()):
        for j, b in enumerate(t.long().tolist()):
            kernel[a % h, b % w] = g1[i] * g1[j]
    return torch.fft.ifft2(torch.fft.fft2(x.double()) * torch.fft.fft2(kernel)).real


def test_smoothed_step_is_the_scaled_gaussian_of_the_update_away_from_the_border() -> None:
    gen = torch.Generator().manual_seed(0)
    before, after = torch.rand(2, 3, 40, 40, generator=gen).double(), torch.rand(2, 3, 40, 40, generator=gen).double()
    sigma = 2.0
    got = smooth_update(before, after, sigma)
    want = before + (1 + SMOOTH_GAIN * sigma**2) * _fft_gaussian(after - before, sigma)
    inner = (..., slice(5, -5), slice(5, -5))  # ≥ 2σ + 1 px from the edges: no border handling involved
    assert torch.allclose(got[inner], want[inner], atol=1e-10)
    assert SMOOTH_GAIN == pytest.approx(3 / 8)
    # a constant update passes unsmoothed, scaled by exactly the gain (the kernel sums to 1, reflection keeps it)
    flat = smooth_update(before, before + 0.01, sigma)
    assert torch.allclose(flat - before, torch.full_like(before, 0.01 * (1 + 1.5)), atol=1e-12)


def test_pixel_scale_checkerboard_update_is_removed() -> None:
    """What the smoothing is for: an update alternating pixel by pixel carries no information a strided layer sees."""
    base = torch.zeros(1, 1, 32, 32, dtype=torch.float64)
    i = torch.arange(32)
    board = ((i[:, None] + i[None, :]) % 2 * 2 - 1).double()[None, None] * 0.1
    out = smooth_update(base, base + board, 2.0)
    assert float(out[..., 4:-4, 4:-4].abs().max()) < 1e-3 * 0.1 * 2.5  # the ±0.1 pattern all but vanishes


@pytest.mark.parametrize(
    "size, stride, sigma_u",
    [
        (224, 2, 0.0),  # ResNet-50 conv1
        (224, 4, 2.0),  # conv2
        (224, 8, 2.0),  # conv3 … conv5
        (224, 32, 2.0),
        (224, 3, 2.0 * (math.log2(3) - 1)),  # between 2 and 4 px: linear in log2(stride)
        (224, 1, 0.0),
        (32, 4, 0.0),  # CIFAR ResNet-20 conv4 at 32 px: off at ≤ 112 px (round 17; round 16 had 2σ_b = 1)
        (32, 2, 0.0),
        (64, 8, 0.0),
        (112, 8, 0.0),
        (128, 8, 2.0 * 128 / 224),  # above 112 px the stride rule, with σ_b = 128/224
        (224, None, 0.0),  # no spatial grid (a flat output): off
    ],
)
def test_the_default_chooses_the_smoothing_from_the_layer_stride(size: int, stride: int | None, sigma_u: float):
    c = InversionConfig().resolved(size, stride=stride)
    assert c.smooth == pytest.approx(sigma_u) and c.smooth_over == 30
    assert c.lr == pytest.approx(0.2 * min(max(size / 224, 0.5), 1.0))  # the lr does not depend on the smoothing


def test_explicit_smoothing_wins_and_other_procedures_and_presets_have_none() -> None:
    assert InversionConfig(smooth=0.7).resolved(224, stride=16).smooth == 0.7
    assert InversionConfig(smooth=0.0).resolved(224, stride=16).smooth == 0.0
    assert InversionConfig(optimizer="gd").resolved(224, stride=16).smooth == 0.0
    assert InversionConfig(objective="cosine").resolved(224, stride=16).smooth == 0.0
    for name in ("badger", "mahendran"):
        assert PRESETS[name].config().resolved(224, stride=16).smooth == 0.0
    with pytest.raises(Exception, match="smooth"):
        InversionConfig(smooth=-1.0)
    with pytest.raises(Exception, match="smooth_over"):
        InversionConfig(smooth_over=-1)


def test_smoothing_fades_linearly_over_its_iterations_then_stays_off() -> None:
    s = config_smooth(InversionConfig(smooth=2.0, smooth_over=30).resolved(224))
    assert [s(t, 200) for t in (0, 15, 30, 31, 199)] == pytest.approx([2.0, 1.0, 0.0, 0.0, 0.0])
    whole = config_smooth(InversionConfig(smooth=2.0, smooth_over=0).resolved(224))
    assert [whole(t, 200) for t in (0, 100, 200)] == pytest.approx([2.0, 1.0, 0.0])
    assert Schedule("cosine", 1.0, 0.0, over=10)(5, 1000) == pytest.approx(0.5)
    with pytest.raises(Exception, match="over"):
        Schedule("linear", over=-2)


def test_output_stride_of_resnet_layers() -> None:
    for layer, stride in (("conv1", 2), ("conv2", 4), ("conv3", 8), ("conv5", 32)):
        assert output_stride(build_encoder("resnet18", layer, seed=0), 64) == stride
    assert output_stride(build_encoder("resnet18", "fc", seed=0), 64) is None


def test_the_loop_applies_the_smoothed_adam_step() -> None:
    """One iteration of the default at ResNet-18 conv3 (stride 8 → σ_u 2 × 128/224 at 128 px), from a flat start
    image and without blur, clamp or TV, equals a hand-made Adam step of the L1 loss, smoothed and scaled."""
    enc = build_encoder("resnet18", "conv3", seed=0)
    target = load_image(default_image_path(), 128)[None]
    plain = {"size": 128, "seed": 3, "iterations": 1, "tv": 0.0, "blur": 0.0, "clamp": False, "init_std": 0.0}
    plain["l2_weight"] = 0.0  # the L1 loss alone: its gradient by hand below
    config = resolved_for(InversionConfig(**plain), enc, 128)
    assert config.smooth == pytest.approx(2 * 128 / 224)
    res = build_inverter(enc, config).run(target, 1, seed=3)
    x0 = torch.full((1, 3, 128, 128), config.init_mean)  # init_std 0: the start is flat
    x = x0.clone().requires_grad_(True)
    (enc(x) - enc(target)).abs().sum().backward()
    g = x.grad
    adam = x0 - config.lr * g / (g.abs() + 1e-8)  # Adam's first step: lr · m̂/(√v̂ + ε) = lr · g/(|g| + ε)
    assert torch.allclose(res.images[0, 0], smooth_update(x0, adam, 2 * 128 / 224)[0], atol=1e-5)
    unsmoothed = build_inverter(enc, InversionConfig(**plain, smooth=0.0)).run(target, 1, seed=3)
    assert torch.allclose(unsmoothed.images[0, 0], adam[0], atol=1e-5)


def test_smoothed_runs_put_less_pixel_scale_energy_into_the_image() -> None:
    """Same run with and without smoothing at ResNet-18 conv4 (stride 16): after 5 iterations the image's change
    from its start has less high-frequency energy (Laplacian) when smoothed, and the layer is still matched."""
    enc = build_encoder("resnet18", "conv4", seed=0)
    target = load_image(default_image_path(), 64)[None]
    lap = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).expand(3, 1, 3, 3)

    def energy(smooth: float) -> tuple[float, float]:
        config = InversionConfig(size=64, seed=0, iterations=5, smooth=smooth, blur=0.0, tv=0.0, init_std=0.0)
        inv = build_inverter(enc, config)
        res = inv.run(target, 5, seed=0)
        change = res.images[0, 0][None] - 0.7
        return float(torch.nn.functional.conv2d(change, lap, groups=3).pow(2).sum()), float(res.m_g[0, 0])

    rough, m_g_rough = energy(0.0)
    smooth, m_g_smooth = energy(1.0)
    assert smooth < 0.5 * rough
    assert m_g_smooth < 1.5 * m_g_rough
