"""``gd-precision`` (§4), criterion declared first: "changing from 32-bit to 64-bit floating precision did not
affect representations for convolutional or fully connected models" — the same eq. 4 descent from the same start,
in float32 and float64.

It uses its own few-line eq. 4 loop (L1 objective, x ← x − ε∇, no blur, no clamp, start N(0.7, 1/20)), so the
dtype and ε are exactly what is stated.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from invert.encoders import build_encoder
from invert.experiments._support import report_image
from invert.experiments.registry import Criterion, ExperimentContext, Verdict, combine, experiment

LR_GRID = [10.0**e for e in range(-2, 5)]
"""Trial ε for the line search, 0.01 … 10⁴: the L1 objective is a mean over the layer's outputs, so its gradient is
small and the best ε can be far above 1."""


def descend(
    enc: torch.nn.Module, target: torch.Tensor, start: torch.Tensor, lr: float, iterations: int
) -> tuple[torch.Tensor, list[float]]:
    """Eq. 4 with an L1 objective at constant ε: the final a_g and m_g = ‖O(a_g) − O(a)‖₂ at every step (and start)."""
    with torch.no_grad():
        goal = enc(target)
    a, m_g = start.clone(), []
    for _ in range(iterations):
        a.requires_grad_(True)
        out = enc(a)
        m_g.append(float((out - goal).flatten().norm()))
        (grad,) = torch.autograd.grad((out - goal).abs().mean(), a)
        a = (a - lr * grad).detach()
    with torch.no_grad():
        m_g.append(float((enc(a) - goal).flatten().norm()))
    return a, m_g


def best_lr(enc: torch.nn.Module, target: torch.Tensor, start: torch.Tensor, trials: list[float], steps: int) -> float:
    """The trial ε with the smallest finite m_g after ``steps`` steps (the appendix's line search, on a grid)."""
    scores = {}
    for lr in trials:
        m = descend(enc, target, start, lr, steps)[1][-1]
        scores[lr] = m if math.isfinite(m) else math.inf
    return min(scores, key=scores.__getitem__)


def _models() -> dict[str, str]:
    return {"convolutional (untrained ResNet-50 conv2)": "resnet50", "fully connected (linear MLP)": "mlp"}


def _encoder(kind: str, size: int, seed: int, dtype: torch.dtype) -> torch.nn.Module:
    if kind == "mlp":
        n = 3 * size * size
        return build_encoder(f"mlp-{n}x3-in3x{size}x{size}", "output", seed=seed, dtype=dtype).eval()
    return build_encoder(kind, "conv2", "untrained", seed=seed, input_size=size, dtype=dtype).eval()


PRECISION_FULL: dict[str, Any] = {"size": 64, "iterations": 300, "trial_steps": 30}
PRECISION_QUICK: dict[str, Any] = {"size": 16, "iterations": 60, "trial_steps": 10}
PRECISION = Criterion(
    claim="Changing from 32-bit to 64-bit floating point does not affect gradient-descent representations of "
    "convolutional or fully connected models (§4).",
    measure="the same eq. 4 descent (same start, ε, steps) in float32 and float64: ‖a_g(64) − a_g(32)‖ relative to "
    "‖a_g(64) − a‖ (how far precision moves a_g against how far a_g is from the input), and the change in Pearson r "
    "of a_g with a",
    rule="HELD iff for both models the relative difference < max_relative and |Δr| < max_delta_r; NOT REPRODUCED "
    "otherwise",
    inconclusive="a descent that diverged (non-finite m_g) in either precision",
    thresholds={"max_relative": 0.05, "max_delta_r": 0.02},
)


def _precision_figures(ctx: ExperimentContext, target: torch.Tensor, shown: list[tuple]) -> None:
    """precision_gd.png: per model the target, a_g in float32 and float64 and their difference (×5 around grey);
    m_g.png: both precisions' m_g by step — where the curves part is where precision starts to matter."""
    from invert.analysis.plots import image_grid, subplots

    grid = [[target, a32, a64, (0.5 + 5 * (a64 - a32)).clamp(0, 1)] for _, a32, a64, _, _ in shown]
    labels = [label.split(" (")[0] for label, *_ in shown]
    cols = ["target a", "a_g float32", "a_g float64", "5·(a_g64 − a_g32) + ½"]
    ctx.save_figure(
        image_grid(grid, labels, cols, title="the same eq. 4 descent in two precisions"), "precision_gd.png"
    )
    fig, ax = subplots(figsize=(6.5, 4), layout="constrained")
    for i, (label, _, _, m32, m64) in enumerate(shown):
        ax.plot(m32, color=f"C{i}", label=f"{label}, float32")
        ax.plot(m64, color=f"C{i}", ls="--", label=f"{label}, float64")
    ax.set(yscale="log", xlabel="step", ylabel="m_g", title="m_g by step, float32 (solid) and float64 (dashed)")
    ax.legend(fontsize=7)
    ctx.save_figure(fig, "m_g.png")


@experiment(
    "gd-precision",
    "§4: float32 vs float64 eq. 4 descents give the same representation (conv and fully connected models).",
    "Badger §4",
    criterion=PRECISION,
    full=PRECISION_FULL,
    quick=PRECISION_QUICK,
    minutes=13,
)
def gd_precision(ctx: ExperimentContext) -> Verdict:
    from invert.experiments._matched import pearson

    p = ctx.settings(PRECISION_FULL, PRECISION_QUICK)
    ctx.params.update(p)
    img, name = report_image(p["size"])
    start = (0.7 + torch.randn(img.shape, generator=torch.Generator().manual_seed(ctx.seed)) / 20).double()
    rows, parts, shown = [], [], []
    for label, kind in _models().items():
        enc32 = _encoder(kind, p["size"], ctx.seed, torch.float32)
        lr = best_lr(enc32, img, start.float(), LR_GRID, p["trial_steps"])
        a32, m32 = descend(enc32, img, start.float(), lr, p["iterations"])
        a64, m64 = descend(_encoder(kind, p["size"], ctx.seed, torch.float64), img.double(), start, lr, p["iterations"])
        rel = float((a64 - a32.double()).norm() / (a64 - img.double()).norm())
        r32, r64 = float(pearson(a32, img)[0]), float(pearson(a64, img)[0])
        finite = math.isfinite(m32[-1]) and math.isfinite(m64[-1])
        rows.append({"model": label, "lr": lr, "relative_difference": rel, "r32": r32, "r64": r64,
                     "m_g32": m32[-1], "m_g64": m64[-1]})  # fmt: skip
        shown.append((label, a32[0], a64[0].float(), m32, m64))
        ok = rel < PRECISION["max_relative"] and abs(r64 - r32) < PRECISION["max_delta_r"]
        parts.append(
            Verdict(
                f"{label}: float64 gives the same a_g as float32",
                f"ε {lr:g}, {p['iterations']} steps: ‖a_g64 − a_g32‖/‖a_g64 − a‖ {rel:.2g}; r {r32:.4f} vs {r64:.4f}; "
                f"m_g {m32[-1]:.3g} vs {m64[-1]:.3g}",
                ok if finite else None,
                criterion=f"relative difference < {PRECISION['max_relative']:g} and |Δr| < "
                f"{PRECISION['max_delta_r']:g}; diverged → INCONCLUSIVE",
            )
        )
    ctx.save_csv(rows, "precision_gd.csv")
    _precision_figures(ctx, img[0], shown)
    return Verdict(
        claim=PRECISION.claim,
        criterion="both models' parts must hold",
        measured=f"{name} at {p['size']} px, eq. 4 (L1, constant ε from a line search in float32): "
        + "; ".join(v.measured for v in parts),
        held=combine([v.held for v in parts]),
        parts=parts,
        details={"rows": rows},
        key_figure="relative a_g difference " + ", ".join(f"{r['relative_difference']:.1g}" for r in rows),
    )
