"""``kernels`` (fig. S5): the Gabor fit against known Gabors, blobs and noise, and the quick run's outcome."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from invert.experiments._gabor import gabor, gabor_jacobian, gabor_scores, random_gabor_scores
from invert.experiments.kernels import first_conv_weight
from invert.experiments.registry import run_experiment


def test_gabor_fit_recovers_a_colour_separable_gabor_exactly():
    truth = np.array([1.3, 0.5, -0.3, 1.5, 0.8, 0.6, 0.2, 0.3])  # A, x0, y0, σ, γ, θ, f, φ
    space = torch.tensor(gabor(truth, 7))
    kernel = torch.stack([0.5 * space, 0.8 * space, -0.3 * space])[None]  # one colour direction × the Gabor
    score, freq = gabor_scores(kernel)
    assert score.item() == pytest.approx(1.0, abs=1e-6)
    assert freq.item() == pytest.approx(0.2, abs=1e-4)


def test_gabor_jacobian_matches_finite_differences():
    p = np.array([1.3, 0.5, -0.3, 1.5, 0.8, 0.6, 0.2, 0.3])
    fd = np.stack([(gabor(p + 1e-6 * e, 7) - gabor(p - 1e-6 * e, 7)).ravel() / 2e-6 for e in np.eye(8)], 1)
    assert np.abs(gabor_jacobian(p, 7) - fd).max() < 1e-7


def test_random_kernels_score_low_and_smooth_gabors_high():
    null = random_gabor_scores((3, 7, 7), draws=16)
    assert 0.05 < null.mean().item() < 0.25  # 8 parameters cannot explain much of 147 i.i.d. values
    noisy = torch.tensor(gabor(np.array([1.0, 0, 0, 1.5, 1.0, 0.4, 0.2, 0.0]), 7)).expand(1, 3, 7, 7)
    noisy = noisy + 0.05 * torch.randn(1, 3, 7, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert gabor_scores(noisy)[0].item() > 0.9


def test_gabor_score_separates_its_positive_control_from_its_negative_control():
    from invert.experiments._gabor import gabor_control_kernels, gabor_fraction
    from invert.experiments.kernels import validate_score

    positive = gabor_scores(gabor_control_kernels(12, (3, 7, 7), seed=3))[0]  # analytic Gabors + 20 % noise
    negative = random_gabor_scores((3, 7, 7), draws=12, seed=4)  # i.i.d. Gaussian kernels
    assert positive.min() > 0.85 and negative.max() < 0.4
    valid, p, gap = validate_score(positive, negative)
    assert valid and p < 1e-4 and gap > 0.5
    assert not validate_score(negative, random_gabor_scores((3, 7, 7), draws=12, seed=5))[0]  # noise vs noise
    null, pos = float(negative.mean()), float(positive.mean())
    assert gabor_fraction(null, null, pos) == pytest.approx(0.0) and gabor_fraction(pos, null, pos) == pytest.approx(
        1.0
    )


def test_first_conv_weight_is_the_stem():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 7), torch.nn.ReLU(), torch.nn.Conv2d(5, 2, 3))
    assert first_conv_weight(net).shape == (5, 3, 7, 7)


@pytest.mark.usefixtures("shared")
def test_kernels_quick_outcome(tmp_path, cifar64_cache):
    v, folder = run_experiment("kernels", quick=True, out=tmp_path / "k", params={"cache": str(cifar64_cache)})
    d = json.loads((folder / "verdict.json").read_text())
    assert (folder / "kernels.csv").is_file() and (folder / "kernels_grid.png").is_file()
    # quick: the classifier sees 512 images once (≈ chance accuracy), so (a) cannot be judged; the
    # noise-trained first layer moved far from its init and stayed as un-Gabor-like as the init
    assert v.outcome == "INCONCLUSIVE"
    a, b = v.parts
    assert a.outcome == "INCONCLUSIVE" and a.details["test_accuracy"] < 0.3
    # (b) on the validated scale: the noise-trained kernels sit near the null, far below half-way to the Gabor control
    assert d["details"]["score_validated"] and d["details"]["control_gap"] > 0.5
    assert b.outcome == "HELD" and b.details["moved"] > 0.05 and b.details["gabor_fraction"] < 0.25
    stats = d["details"]["stats"]
    assert 0.05 < stats["untrained"]["mean"] < 0.3 and 0.05 < stats["i.i.d. Gaussian (null)"]["mean"] < 0.3
    assert d["details"]["kernel_shape"] == [3, 7, 7]
