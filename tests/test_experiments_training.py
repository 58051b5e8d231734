"""The training experiments (report §2, §3, §5, §6): measures checked against hand values, and each `--quick` run's files."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from invert.experiments.kernels import band_share, first_conv_weight, random_band_share
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
    assert high_frequency_share(noise).mean().item() == pytest.approx(disc.double().mean().item(), abs=0.01)  # ≈ 1 − π/16


def _band_share_numpy(kernel: np.ndarray, pad: int = 32) -> float:
    """Independent loop version: power within 1/k of the peak frequency or its mirror, on the periodic grid."""
    k = kernel.shape[-1]
    p = sum(np.abs(np.fft.fft2(c, s=(pad, pad))) ** 2 for c in kernel)
    f = np.fft.fftfreq(pad)
    iy, ix = np.unravel_index(np.argmax(p), p.shape)
    total = inside = 0.0
    for a in range(pad):
        for b in range(pad):
            total += p[a, b]
            near = False
            for sy, sx in ((f[iy], f[ix]), (-f[iy], -f[ix])):
                dy = (f[a] - sy + 0.5) % 1.0 - 0.5
                dx = (f[b] - sx + 0.5) % 1.0 - 0.5
                near |= math.hypot(dy, dx) <= 1.0 / k
            inside += p[a, b] if near else 0.0
    return inside / total


def test_band_share_matches_a_loop_implementation_and_separates_gabor_from_noise():
    g = torch.Generator().manual_seed(0)
    kernels = torch.randn(3, 3, 7, 7, generator=g, dtype=torch.float64)
    ours = band_share(kernels)
    for i in range(3):
        assert ours[i].item() == pytest.approx(_band_share_numpy(kernels[i].numpy()), rel=1e-9)
    y, x = torch.meshgrid(torch.arange(7.0) - 3, torch.arange(7.0) - 3, indexing="ij")
    gabor = torch.exp(-(x**2 + y**2) / 8) * torch.cos(2 * math.pi * 0.25 * (x * 0.8 + y * 0.6))
    assert band_share(gabor.expand(1, 3, 7, 7)).item() > 0.85
    null7, null3 = random_band_share((3, 7, 7)).mean().item(), random_band_share((3, 3, 3)).mean().item()
    assert 0.1 < null7 < 0.3 < 0.5 < null3  # 3×3 kernels: random ones already look concentrated (the weak-test caveat)


def test_first_conv_weight_is_the_stem():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 7), torch.nn.ReLU(), torch.nn.Conv2d(5, 2, 3))
    assert first_conv_weight(net).shape == (5, 3, 7, 7)


def _check_run(name: str, folder, files: list[str]) -> dict:
    for f in ["config.json", "summary.md", "verdict.json", *files]:
        assert (folder / f).is_file() and (folder / f).stat().st_size > 0, f
    verdict = json.loads((folder / "verdict.json").read_text())
    summary = (folder / "summary.md").read_text()
    assert ("HELD" if verdict["held"] else "NOT REPRODUCED") in summary
    assert "Claim" in summary and "Measured" in summary
    return verdict


def _rows(path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.mark.usefixtures("shared")
def test_depth_quick(tmp_path):
    v, folder = run_experiment("depth", quick=True, out=tmp_path / "depth")
    d = _check_run("depth", folder, ["depth.csv", "depth_grid.png"])
    rows = _rows(folder / "depth.csv")
    assert {r["layer"] for r in rows} >= {"conv1", "conv2", "conv3", "conv4"} and {r["blur"] for r in rows} == {"True", "False"}
    assert len({r["weights"] for r in rows}) == 2  # trained and its untrained twin
    nb = d["details"]["no blur"]
    assert nb["m_i_untrained"][-1] > nb["m_i_untrained"][0]  # the measured data the verdict is decided from
    assert d["held"] == (d["details"]["loss_with_depth_held"] and d["details"]["training_sharpens_early_layers_held"])
    assert "untrained twin" in d["details"]["models_note"] or "ImageNet" in d["details"]["models_note"]


@pytest.mark.usefixtures("shared")
def test_architectures_quick(tmp_path):
    v, folder = run_experiment("architectures", quick=True, out=tmp_path / "arch")
    d = _check_run("architectures", folder, ["architectures.csv", "architectures_grid.png"])
    rows = _rows(folder / "architectures.csv")
    assert [r["model"] for r in rows] == ["resnet18", "resnet50", "resnet152"]
    assert d["held"] == all(float(r["m_g"]) < float(r["m_s"]) for r in rows)


@pytest.mark.usefixtures("shared")
def test_noise_trained_and_kernels_quick(tmp_path):
    v, folder = run_experiment("noise-trained", quick=True, out=tmp_path / "nt")
    d = _check_run("noise-trained", folder, ["noise_trained.csv", "noise_trained_no_blur.png", "noise-model/model.pt"])
    assert d["details"]["noise_model"]["final_train_acc"] >= 0.9  # the model did memorise its noise
    rows = _rows(folder / "noise_trained.csv")
    assert {r["model"] for r in rows} == {"untrained", "trained (CIFAR-10)", "noise-trained"} or "ImageNet" in d["details"]["models_note"]
    assert {r["target"] for r in rows} == {"dalmatian", "tesla_coil"}
    st = d["details"]["no blur"]
    assert d["held"] == (st["noise_less_clear"] and st["noise_more_noise_like"])

    # kernels reuses the noise model just trained, so this also checks `noise_weights`
    v, kfolder = run_experiment("kernels", quick=True, out=tmp_path / "k", params={"noise_weights": str(folder / "noise-model" / "model.pt")})
    k = _check_run("kernels", kfolder, ["kernels.csv", "kernels_grid.png"])
    stats, p = k["details"]["stats"], k["details"]["mann_whitney_p"]
    trained = next(s for s in stats if s.startswith("trained"))
    assert k["held"] == all(stats[trained]["mean"] > stats[o]["mean"] and p[o] < 0.05 for o in p)
    krows = _rows(kfolder / "kernels.csv")
    counts = {m: sum(r["model"] == m for r in krows) for m in stats}
    assert len(set(counts.values())) == 1 and min(counts.values()) >= 16  # every first-layer kernel of each model
    assert k["details"]["noise_model"]["source"].startswith("given")
