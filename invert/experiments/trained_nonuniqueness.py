"""`trained-nonuniqueness` (fig. S1): a trained network's layers are non-unique too — inputs far from a match O(a)
better than a + noise.
"""

from __future__ import annotations

import math
from typing import Any

from invert.analysis.plots import subplots
from invert.errors import InvertError
from invert.experiments._matched import run_tasks
from invert.experiments._support import spread
from invert.experiments.registry import Criterion, ExperimentContext, Verdict, experiment
from invert.io import shared_dir

FULL: dict[str, Any] = {
    "model": "cifar_resnet20",
    "layers": ["conv2", "conv3", "conv4"],
    "images": 20,
    "restarts": 3,
    "iterations": 1000,
}
QUICK: dict[str, Any] = {"layers": ["conv2", "conv3"], "images": 3, "restarts": 2, "iterations": 100}


CRITERION = Criterion(
    claim="Training does not remove non-uniqueness: a trained model's layer is matched (m_g < m_s) by inputs far "
    "from the target (fig. S1).",
    measure="m_i = ‖a − a_g‖ (not optimised) of inversions that reached m_g < m_s, against the input shift of 1/20 "
    "noise σ√n, trained CIFAR ResNet-20 from ../shared",
    rule="HELD iff ≥ min_fraction of the counted inversions lie farther from a than the 1/20-noise shift; NOT "
    "REPRODUCED otherwise",
    inconclusive="fewer than min_counted of the inversions reached m_g < m_s",
    thresholds={"min_fraction": 0.9, "min_counted": 0.5},
)


def invert_layer(task: dict[str, Any]) -> list[dict[str, Any]]:
    """One layer of the experiment, an independent task (``--executor``): invert every image from every restart at
    ``task["layer"]`` of the trained model; one row per inversion with its m_g, m_s, m_i and m_i against the
    1/20-noise input shift (what the criterion counts)."""
    from invert.encoders import build_encoder
    from invert.inversion import invert

    enc = build_encoder(task["model"], task["layer"], weights="trained", seed=task["seed"])
    res = invert(enc, task["images"], task["config"], restarts=task["restarts"])
    return [
        {
            "layer": task["layer"],
            "image": n,
            "restart": r,
            "m_g": float(res.m_g[i, r]),
            "m_s": float(res.m_s[i]),
            "m_i": float(res.m_i[i, r]),
            "input_shift": task["shift"],
            "below_ms": bool(res.m_g[i, r] < res.m_s[i]),
            "m_i_over_shift": float(res.m_i[i, r]) / task["shift"],
            "psnr": float(res.psnr[i, r]),
        }
        for i, n in enumerate(task["names"])
        for r in range(task["restarts"])
    ]


def _save_plot(ctx: ExperimentContext, p: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Fig. S1's scatter: m_g/m_s (left of 1: matched) against m_i/‖a − a′‖ (above 1: far), one colour per layer."""
    fig, ax = subplots(figsize=(6.5, 4), layout="constrained")
    for k, la in enumerate(p["layers"]):
        rs = [r for r in rows if r["layer"] == la]
        ax.scatter([r["m_g"] / r["m_s"] for r in rs], [r["m_i_over_shift"] for r in rs], label=la, color=f"C{k}")
    ax.axvline(1, ls="--", color="gray", lw=1)
    ax.axhline(1, ls="--", color="gray", lw=1)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="m_g / m_s (left of 1: output closer than a + noise's)",
        ylabel="m_i / ‖a − a′‖ (above 1: input farther than a + noise)",
        title=f"trained {p['model']}: {p['images']} CIFAR-10 images × {p['restarts']} starts",
    )
    ax.legend()
    ctx.save_figure(fig, "non_uniqueness.png")


@experiment(
    "trained-nonuniqueness",
    "Fig. S1: trained CIFAR ResNet-20 layers are non-unique — inversions with m_g < m_s land farther from a than a "
    "1/20-noise shift.",
    "Badger §3.2, fig. S1",
    criterion=CRITERION,
    full=FULL,
    quick=QUICK,
    minutes=21,
)
def run(ctx: ExperimentContext) -> Verdict:
    from invert.datasets import sample_images
    from invert.inversion import InversionConfig

    if shared_dir() is None:
        raise InvertError(
            "trained-nonuniqueness needs the trained CIFAR ResNet-20 and CIFAR-10 samples from the shared material "
            "folder: put it at ../shared or set INVERT_SHARED"
        )
    p = ctx.settings(FULL, QUICK)
    ctx.params.update(
        p,
        procedure="invert's default (L1 + TV, Adam cosine → 0, blur → 0, clamp; lr and blur for 32 px); "
        "the claim concerns the layer, not the optimiser",
    )
    imgs, names = sample_images("cifar10", limit=p["images"], size=32)
    cfg = InversionConfig(
        iterations=p["iterations"], size=32, seed=ctx.seed, record_every=max(1, p["iterations"] // 20)
    )
    shift = cfg.ms_sigma * math.sqrt(imgs[0].numel())  # E‖a − a′‖ for a′ = a + N(0, σ): σ·√n up to O(1/n)
    tasks = [
        {
            "model": p["model"],
            "layer": layer,
            "seed": ctx.seed,
            "images": imgs,
            "names": names,
            "config": cfg,
            "restarts": p["restarts"],
            "shift": shift,
        }
        for layer in p["layers"]
    ]
    rows = [r for rs in run_tasks(invert_layer, tasks, ctx.params, "trained-nonuniqueness: layers") for r in rs]
    ctx.save_csv(rows, "inversions.csv")

    counted = [r for r in rows if r["below_ms"]]
    farther = [r for r in counted if r["m_i"] > r["input_shift"]]
    by_layer = {la: [r["m_i_over_shift"] for r in counted if r["layer"] == la] for la in p["layers"]}
    _save_plot(ctx, p, rows)

    enough = len(counted) >= CRITERION["min_counted"] * len(rows)
    frac = len(farther) / len(counted) if counted else 0.0
    held = None if not enough else frac >= CRITERION["min_fraction"]
    stats = {
        la: {"mean": sum(v) / len(v), "spread": spread(v), "min": min(v), "n": len(v)}
        for la, v in by_layer.items()
        if v
    }
    ctx.save_json(
        {"counted": len(counted), "runs": len(rows), "fraction_farther": frac, "input_shift": shift, "by_layer": stats},
        "metrics.json",
    )
    return Verdict(
        claim=(
            "Training does not remove non-uniqueness: a trained model's layer is matched (m_g < m_s) "
            "by inputs far from the target."
        ),
        criterion=(
            f"count only inversions that reached m_g < m_s (need ≥ {CRITERION['min_counted']:.0%} of {len(rows)}, "
            f"else INCONCLUSIVE); HELD iff ≥ {CRITERION['min_fraction']:.0%} of them lie farther from a than a "
            "1/20-noise "
            f"shift does (m_i > σ√n = {shift:.3g})"
        ),
        measured=(
            f"{len(counted)} of {len(rows)} inversions reached m_g < m_s; "
            f"{len(farther)} of them have m_i > {shift:.3g}; m_i/‖a−a′‖ "
            + ", ".join(f"{la} {s['mean']:.3g} ± {s['spread']:.2g} (min {s['min']:.3g})" for la, s in stats.items())
            + f" (trained {p['model']}, {p['iterations']} steps)."
        ),
        held=held,
        details={"fraction_farther": frac, "counted": len(counted), "runs": len(rows), "by_layer": stats},
    )
