"""``noise-trained`` (fig. 10, S4): the noise-likeness measure against analytic values, and the quick run's outcome."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch

from invert.experiments.noise_trained import high_frequency_share
from invert.experiments.registry import run_experiment


def test_high_frequency_share_against_analytic_values():
    n = 64
    yy, xx = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64), indexing="ij")
    low = (0.5 + 0.4 * torch.cos(2 * math.pi * 4 / n * xx)).expand(1, 3, n, n)  # 1/16 cycles/px: all power below 0.25
    high = (0.5 + 0.4 * torch.cos(2 * math.pi * 24 / n * yy)).expand(1, 3, n, n)  # 0.375 cycles/px: all above
    assert high_frequency_share(low).item() == pytest.approx(0.0, abs=1e-12)
    assert high_frequency_share(high).item() == pytest.approx(1.0, abs=1e-12)
    noise = torch.randn(16, 3, n, n, generator=torch.Generator().manual_seed(0))
    disc = (torch.fft.fftfreq(n).view(-1, 1) ** 2 + torch.fft.fftfreq(n).view(1, -1) ** 2).sqrt() > 0.25
    assert high_frequency_share(noise).mean().item() == pytest.approx(
        disc.double().mean().item(), abs=0.01
    )  # ≈ 1 − π/16


def test_clarity_positive_and_negative_controls():
    """Clarity (Pearson r of a_g with a): the image itself, or with other brightness and contrast, scores 1 (positive
    control); independent noise scores ≈ 0 and the negative image −1 (negative controls)."""
    from invert.experiments._matched import pearson

    img = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert pearson(img, img).item() == pytest.approx(1.0) and pearson(0.5 * img + 0.2, img).item() == pytest.approx(1.0)
    noise = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert pearson(noise, img.expand(8, -1, -1, -1)).abs().max().item() < 0.1
    assert pearson(1 - img, img).item() == pytest.approx(-1.0)


@pytest.mark.usefixtures("shared")
def test_noise_trained_quick_outcome(tmp_path):
    v, folder = run_experiment("noise-trained", quick=True, out=tmp_path / "nt")
    with open(folder / "noise_trained.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["model"] for r in rows} == {"untrained", "trained (CIFAR-10)", "noise-trained"}
    assert {r["target"] for r in rows} == {"dalmatian", "tesla_coil"} and {r["seed"] for r in rows} == {"0", "1"}
    assert (folder / "noise_trained.png").is_file() and (folder / "noise-model" / "history.csv").is_file()
    weights = Path(v.details["noise_model"]["weights"])  # in the helper-model cache, not among the results
    assert weights.is_file() and weights.parent.parent == tmp_path / "cache" and not list(folder.rglob("*.pt"))
    assert v.details["noise_model"]["final_train_acc"] >= 0.9  # the model did memorise its noise
    clear, noisy, coil = v.parts
    assert "Tesla coil" in coil.claim and coil.details["pairs"] <= 4  # judged on its own: 2 layers × 2 seeds at most
    converged = [r for r in rows if r["converged"] == "True"]
    assert all(
        float(r["m_g"]) < float(r["m_s"]) for r in converged
    )  # "converged" means the returned image is below m_s
    # measured at quick scale (seed 0): untrained 4/8, CIFAR-trained 8/8, noise-trained 5/8 inversions reach m_g < m_s
    # (3/8 noise-trained before the ε range followed the activation scale) — under the declared 75 % of each model's,
    # and 2 converged pairs against the untrained model: the claim cannot be judged here, INCONCLUSIVE by design
    conv = v.details["converged"]
    assert v.outcome == "INCONCLUSIVE" and clear.outcome == noisy.outcome == "INCONCLUSIVE"
    assert min(c / n for c, n in conv.values()) < 0.75 and conv["trained (CIFAR-10)"][0] >= 6
    assert all(d["inconclusive"] for d in clear.details.values())
    assert "256 noise images in 10 classes" in v.measured and "100 classes" in v.measured  # the setup, stated
