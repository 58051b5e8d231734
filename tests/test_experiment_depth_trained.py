"""``depth-trained`` (report fig. 1): the detail measure against controls, the criterion on hand-made rows, and the
quick run's outcome."""

from __future__ import annotations

import pytest
import torch

from invert.experiments.depth_trained import CRITERION, detail_correlation, high_pass, judge


def test_detail_correlation_positive_and_negative_controls(photo32):
    img = photo32[:1]
    # positive controls: the image itself, or with other brightness and contrast, keeps all its detail
    assert detail_correlation(img, img).item() == pytest.approx(1.0)
    assert detail_correlation(0.6 * img + 0.3, img).item() == pytest.approx(1.0)
    # negative controls: a blurred copy has the same layout but lost its fine pattern; noise shares none of it
    from invert.inversion.steps import gaussian_blur

    blurred = gaussian_blur(img, 2.0, 9)
    from invert.experiments._matched import pearson

    assert pearson(blurred, img).item() > 0.85  # the whole-image r barely notices the blur …
    assert detail_correlation(blurred, img).item() < 0.6  # … the detail r does
    noise = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert detail_correlation(noise, img.expand(8, -1, -1, -1)).abs().max().item() < 0.15
    # a constant image has no detail: its high-pass part is zero
    assert high_pass(torch.full((1, 3, 16, 16), 0.4), 1.0).abs().max().item() < 1e-6


def _rows(detail: list[list[float]], converged: bool = True) -> list[dict]:
    layers = [f"conv{i + 1}" for i in range(len(detail))]
    return [
        {"layer": l, "target": f"t{t}", "converged": converged, "detail_r": d, "pearson": d}
        for l, ds in zip(layers, detail, strict=True)
        for t, d in enumerate(ds)
    ]


LAYERS = ["conv1", "conv2", "conv3", "conv4"]


def test_criterion_on_hand_made_rows():
    falling = judge(_rows([[0.95, 0.9, 0.93], [0.5, 0.4, 0.6], [0.2, 0.1, 0.15], [0.0, 0.05, -0.02]]), LAYERS, "m")
    assert falling.outcome == "HELD" and falling.details["spearman_depth_vs_detail_r"] == pytest.approx(-1.0)
    rising = judge(_rows([[0.1, 0.0, 0.05], [0.3, 0.2, 0.4], [0.5, 0.6, 0.5], [0.9, 0.8, 0.85]]), LAYERS, "m")
    assert rising.outcome == "NOT REPRODUCED"
    flat = judge(_rows([[0.5, 0.2, 0.8], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0.3, 0.6, 0.4]]), LAYERS, "m")
    assert flat.outcome == "INCONCLUSIVE" and "not significant" in flat.details["inconclusive"]
    # a fall from first to deepest that is not a fall with depth (deepest-but-one back up high): ρ > −0.5
    bumpy = judge(_rows([[0.9, 0.9, 0.9], [0.3, 0.3, 0.3], [0.95, 0.9, 0.92], [0.5, 0.55, 0.45]]), LAYERS, "m")
    assert bumpy.details["spearman_depth_vs_detail_r"] > CRITERION["rho_max"] and bumpy.outcome == "NOT REPRODUCED"
    two = judge(_rows([[0.9, 0.9], [0.5, 0.4], [0.2, 0.1], [0.0, 0.1]]), LAYERS, "m")  # 2 targets < min_pairs 3
    assert two.outcome == "INCONCLUSIVE" and "too few" in two.details["inconclusive"]
    rows = _rows([[0.95, 0.9, 0.93], [0.5, 0.4, 0.6], [0.2, 0.1, 0.15], [0.0, 0.05, -0.02]])
    for r in rows[3:9]:  # half of conv2 and conv3's inversions never reached m_g < m_s
        r["converged"] = False
    few = judge(rows, LAYERS, "m")
    assert few.outcome == "INCONCLUSIVE" and "converged" in few.details["inconclusive"]


def test_depth_trained_quick(shared, quick_run):
    verdict, folder, _ = quick_run("depth-trained")  # shared with the README-verdict test
    assert (folder / "depth_trained.csv").is_file() and (folder / "depth_trained.png").is_file()
    d = verdict.details
    # measured (trained CIFAR ResNet-20, 3 CIFAR test images, eq. 5, 150 iterations): 12/12 converged; detail r
    # conv1 0.95, conv2 0.45, conv3 0.12, conv4 0.00 — ρ −1, first − deepest 0.96 against a spread of 0.03
    assert verdict.outcome == "HELD" and d["inversions"] == 12 and d["converged"] >= 10  # 12 here; ≥ 9 is needed
    means = list(d["mean_detail_r_by_layer"].values())
    assert means[0] > 0.85 and means[-1] < 0.3 and d["spearman_depth_vs_detail_r"] <= -0.8
