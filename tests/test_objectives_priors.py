"""Objectives, priors and schedules against hand-computed values and float64 re-computations."""

import math

import pytest
import torch

from invert.errors import InvertError
from invert.inversion import Schedule
from invert.objectives import cosine, l1, l2, l2_in_l1_units, make_objective, mse, normalized_l2
from invert.priors import alpha_norm, pixel_l2, total_variation


def test_objectives_hand_computed():
    pred = torch.tensor([[1.0, -2.0, 3.0], [0.0, 0.0, 1.0]])
    tgt = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    # differences row 0: (1, -2, 2)
    assert l1(pred, tgt).tolist() == pytest.approx([5.0, 0.0])
    assert l2(pred, tgt).tolist() == pytest.approx([3.0, 0.0])
    assert mse(pred, tgt).tolist() == pytest.approx([9 / 3, 0.0])
    # Mahendran–Vedaldi: ‖Φ−Φ0‖² / ‖Φ0‖² = 9 / 1
    assert normalized_l2(pred, tgt).tolist() == pytest.approx([9.0, 0.0])
    # cos between (1,-2,3) and (0,0,1) = 3/√14
    assert cosine(pred, tgt).tolist() == pytest.approx([1 - 3 / math.sqrt(14), 0.0], abs=1e-6)


def test_l2_in_l1_units_equals_l1_for_an_even_gap_and_scales_by_root_n():
    # an even gap of 0.5 over 4 outputs: L1 = 2, ‖·‖₂ = 1, √4 · 1 = 2 = L1; a gap (3, 4) over 2 outputs: √2 · 5
    even = torch.full((1, 2, 2), 0.5)
    assert l2_in_l1_units(even, torch.zeros_like(even)).item() == pytest.approx(l1(even, torch.zeros_like(even)).item())
    assert l2_in_l1_units(torch.tensor([[3.0, 4.0]]), torch.zeros(1, 2)).item() == pytest.approx(math.sqrt(2) * 5)
    from invert.inversion import InversionConfig
    from invert.inversion.inverter import config_objective

    pred, tgt = torch.randn(3, 4, 5, 5), torch.randn(3, 4, 5, 5)
    gap = (pred - tgt).double()
    expect = gap.abs().sum((1, 2, 3)) + 4.0 * 10.0 * gap.pow(2).sum((1, 2, 3)).sqrt()  # c 4, √n = √100 = 10
    torch.testing.assert_close(config_objective(InversionConfig(size=32))(pred, tgt).double(), expect)
    assert config_objective(InversionConfig(size=32, l2_weight=0.0)).name == "l1"
    assert config_objective(InversionConfig(size=224)).name == "l1"  # off above the small-image regime (112 px)
    assert config_objective(InversionConfig(size=112)).name == "l1 + 4·l2-in-l1-units"


def test_objectives_are_per_sample_and_compose():
    pred = torch.randn(4, 2, 3, 3)
    tgt = torch.randn(4, 2, 3, 3)
    combo = 0.15 * make_objective("l1") + make_objective("mse", 2.0)
    expect = 0.15 * (pred - tgt).abs().sum((1, 2, 3)) + 2.0 * (pred - tgt).pow(2).mean((1, 2, 3))
    assert combo(pred, tgt).shape == (4,)
    torch.testing.assert_close(combo(pred, tgt), expect)
    with pytest.raises(InvertError, match="unknown objective"):
        make_objective("l3")


def test_total_variation_hand_computed():
    x = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 2.0], [0.0, 0.0, 0.0]]]])
    # interior grid (i,j) ∈ {0,1}²: (dh, dw) = (2,1), (1,2), (-2,0), (-2,0)
    sq = [4 + 1, 1 + 4, 4 + 0, 4 + 0]
    assert total_variation(x, 2.0).item() == pytest.approx(sum(sq))
    assert total_variation(x, 1.0).item() == pytest.approx(sum(math.sqrt(s) for s in sq), abs=1e-3)


def test_tv_matches_float64_loop():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 5, 6, dtype=torch.float64)
    for beta in (1.0, 2.0, 3.0):
        ref = torch.zeros(2, dtype=torch.float64)
        for b in range(2):
            for c in range(3):
                for i in range(4):
                    for j in range(5):
                        dh = x[b, c, i + 1, j] - x[b, c, i, j]
                        dw = x[b, c, i, j + 1] - x[b, c, i, j]
                        ref[b] += (dh**2 + dw**2) ** (beta / 2)
        torch.testing.assert_close(total_variation(x, beta), ref, rtol=1e-6, atol=1e-6)


def test_alpha_and_pixel_norms():
    x = torch.tensor([[[[0.5, -1.0], [2.0, 0.0]]]])
    assert alpha_norm(x, 6.0).item() == pytest.approx(0.5**6 + 1 + 2**6)
    assert alpha_norm(x, 2.0, center=0.5).item() == pytest.approx(0 + 1.5**2 + 1.5**2 + 0.5**2)
    assert pixel_l2(x).item() == pytest.approx(0.25 + 1 + 4)


def test_schedules():
    lin = Schedule("linear", 0.1, 0.0)
    assert [lin(i, 10) for i in (0, 5, 10)] == pytest.approx([0.1, 0.05, 0.0])
    cos = Schedule("cosine", 1.0, 0.0)
    assert (
        cos(0, 100) == pytest.approx(1.0) and cos(50, 100) == pytest.approx(0.5) and cos(100, 100) == pytest.approx(0.0)
    )
    step = Schedule("step", 1.0, gamma=0.1, every=10)
    assert [step(i, 30) for i in (0, 9, 10, 25)] == pytest.approx([1.0, 1.0, 0.1, 0.01])
    assert Schedule("constant", 0.3)(7, 10) == 0.3
    assert Schedule("linear", 2.4, 0.4)(250, 500) == pytest.approx(1.4)
    with pytest.raises(InvertError, match="unknown schedule"):
        Schedule("exponential", 1.0)
