"""Decoder against optimisation on the same images and layer: quality and cost, plus the hybrid.

Three inverters of ``O_l``: the trained decoder (one forward pass), optimisation
(:func:`invert.inversion.invert`, the same call `invert run` makes) and the hybrid —
optimisation started from the decoder's output. All are measured by :func:`~invert.decoder.evaluation.measure`
with one shared m_s per image. Cost is seconds per image; the decoder's training time is
also reported amortised over ``amortise_over`` images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from invert.analysis.metrics import shifted_distance
from invert.decoder.architecture import ResNetDecoder
from invert.decoder.evaluation import Reconstruction, measure
from invert.encoders import Encoder
from invert.inversion import InversionConfig, build_inverter, resolved_for

METHODS = ("decoder", "optimisation", "hybrid")
# metric -> True when larger is better
QUALITY = {
    "mse": False,
    "psnr": True,
    "ssim": True,
    "m_g_over_m_s": False,
    "below_ms": True,
    "accuracy": True,
    "agreement": True,
}


@dataclass
class Comparison:
    """Per-method reconstructions and the table rows (one per method) with quality and cost."""

    layer: str
    results: dict[str, Reconstruction]
    rows: list[dict[str, Any]]
    winners: dict[str, str] = field(default_factory=dict)


def compare_inverters(
    decoder: ResNetDecoder,
    encoder: Encoder,
    classifier: Encoder | None,
    images: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    config: InversionConfig | None = None,
    train_seconds: float = 0.0,
    amortise_over: int = 10_000,
    methods: Sequence[str] = METHODS,
    progress: bool = False,
) -> Comparison:
    """Run the requested inverters on ``images`` through ``encoder`` and tabulate quality and cost.

    ``config`` is the optimisation's :class:`InversionConfig` (default: the toolkit default with
    100 iterations); the hybrid uses it with ``init='image'`` and the decoder's output as start.
    """
    config = config or InversionConfig(iterations=100)
    dev = encoder.device
    x = images.to(dev)
    decoded = None
    res: dict[str, Reconstruction] = {}
    secs: dict[str, float] = {}
    iters: dict[str, int] = {}
    # one m_s per image for every method, drawn exactly as invert() draws it (generator seeded with config.seed)
    with torch.no_grad():
        goal = encoder(x)
    m_s, _ = shifted_distance(
        encoder, x, config.ms_sigma, config.ms_draws, torch.Generator().manual_seed(config.seed), goal
    )
    m_s = m_s.cpu()
    if "decoder" in methods or "hybrid" in methods:
        decoder.to(dev).eval()
        t0 = time.perf_counter()
        with torch.no_grad():
            decoded = decoder.decode(encoder(x))
        secs["decoder"] = time.perf_counter() - t0
        iters["decoder"] = 0
        if "decoder" in methods:
            res["decoder"] = measure(decoded.cpu(), images, encoder, classifier, labels, m_s=m_s)
    for name in ("optimisation", "hybrid"):
        if name not in methods:
            continue
        cfg = resolved_for(config.updated(init="image") if name == "hybrid" else config, encoder, min(x.shape[-2:]))
        inv = build_inverter(encoder, cfg, init_image=decoded if name == "hybrid" else None)
        r = inv.run(x, cfg.iterations, seed=cfg.seed, record_every=cfg.record_every, progress=progress)
        secs[name] = r.seconds + (secs["decoder"] if name == "hybrid" else 0.0)
        iters[name] = r.iterations
        res[name] = measure(r.images[:, 0], images, encoder, classifier, labels, m_s=m_s)
    n = len(images)
    rows = []
    for name in methods:
        per_image = secs[name] / n
        train = train_seconds if name in ("decoder", "hybrid") else 0.0
        rows.append(
            {
                "method": name,
                "layer": decoder.layer,
                "images": n,
                "iterations": iters[name],
                **res[name].summary(),
                "seconds_per_image": per_image,
                "training_seconds": train,
                "amortised_seconds_per_image": per_image + train / max(amortise_over, 1),
                "amortised_over": amortise_over,
            }
        )
    return Comparison(decoder.layer, res, rows, winners(rows))


def winners(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """For each quality metric and for cost, the method with the best mean value."""
    out = {}
    for key, larger in QUALITY.items():
        have = [r for r in rows if key in r]
        if have:
            best = max(have, key=lambda r: r[key]) if larger else min(have, key=lambda r: r[key])
            out[key] = best["method"]
    for key in ("seconds_per_image", "amortised_seconds_per_image"):
        out[key] = min(rows, key=lambda r: r[key])["method"]
    return out


def comparison_grid(
    comparisons: Sequence[Comparison], originals: torch.Tensor, count: int = 6, classes: Sequence[str] | None = None
):
    """Side by side: per image a row with the original, then decoder / optimisation / hybrid per layer."""
    from invert.analysis.plots import image_grid
    from invert.datasets import CIFAR10_CLASSES

    classes = classes or CIFAR10_CLASSES
    cols = ["original"] + [f"{c.layer}\n{m}" for c in comparisons for m in c.results]
    rows, caps = [], []
    for i in range(min(count, len(originals))):
        rows.append([originals[i]] + [r.images[i] for c in comparisons for r in c.results.values()])
        caps.append(
            [""]
            + [
                f"PSNR {float(r.psnr[i]):.1f}, " + (classes[int(r.pred[i])] if int(r.pred[i]) >= 0 else "")
                for c in comparisons
                for r in c.results.values()
            ]
        )
    return image_grid(
        rows,
        [f"image {i}" for i in range(len(rows))],
        cols,
        caps,
        cell=1.4,
        title="decoder vs optimisation vs hybrid (optimisation started from the decoder)",
    )


def cost_quality_figure(rows: Sequence[dict[str, Any]]):
    """PSNR against seconds per image (log x), one marker per method and layer,
    amortised decoder cost as open markers.
    """
    import matplotlib

    from invert.analysis.plots import subplots

    fig, ax = subplots(figsize=(6.5, 4.2), layout="constrained")
    markers = {"decoder": "o", "optimisation": "s", "hybrid": "^"}
    layers = sorted({r["layer"] for r in rows}, key=[r["layer"] for r in rows].index)
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for r in rows:
        c = colors[layers.index(r["layer"]) % len(colors)]
        ax.scatter(
            r["seconds_per_image"],
            r["psnr"],
            marker=markers.get(r["method"], "x"),
            color=c,
            s=50,
            label=f"{r['layer']} {r['method']}",
        )
        if r["training_seconds"] > 0:
            ax.scatter(
                r["amortised_seconds_per_image"],
                r["psnr"],
                marker=markers.get(r["method"], "x"),
                facecolors="none",
                edgecolors=c,
                s=50,
            )
    ax.set(
        xscale="log",
        xlabel="seconds per image (open: + training amortised)",
        ylabel="PSNR (dB)",
        title="quality against cost",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return fig
