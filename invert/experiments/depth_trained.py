"""``depth-trained`` (report §2, fig. 1), criterion declared first: in a *trained* model the representations lose the
input's fine detail the deeper the layer — "a near-perfect copy of the input image in the early layers giving way to a
cartoon-like abstraction in the later layers … finer details like the exact spot pattern … are only found from layers
Conv1 to Conv3".

The ``depth`` experiment's part (a) judges the same loss in the *untrained* model only. Here the trained model is
inverted by fig. 1's procedure (eq. 5: gradient descent with a 3×3 Gaussian blur each step, ε line-searched and
decreasing, see ``_matched``), each inversion stopped at its first m_g < m_s. Detail is judged by a measure the
inversion does not optimise: the Pearson correlation of the *high-pass* part of a_g with that of a (each image minus its
Gaussian blur of σ = 1 px per 32 px of image), i.e. whether the fine pattern (spots, edges) is the input's own.
With ImageNet weights this is ResNet-50 on the report's photographs; offline, a trained CIFAR-10 ResNet from
``../shared`` on CIFAR-10 test images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from invert.experiments._matched import (
    PROCEDURE,
    invert_matched,
    matched_task,
    paired_judgement,
    pearson,
    run_tasks,
)
from invert.experiments.depth import Backbone, cifar_targets, natural_backbone
from invert.experiments.registry import Criterion, ExperimentContext, Verdict, experiment


@dataclass(frozen=True)
class DepthTrainedSettings:
    """Sizes of one ``depth-trained`` run: targets, iterations and the line search."""

    targets: int
    iterations: int
    trials: int
    trial_iterations: int


QUICK = DepthTrainedSettings(3, 150, 3, 10)
FULL = DepthTrainedSettings(8, 500, 6, 30)

CRITERION = Criterion(
    claim="In a trained model, representations keep the input's fine detail in early layers and lose it in deep ones "
    "(fig. 1: the exact spot pattern only at Conv1–Conv3, a cartoon-like abstraction deeper).",
    measure="detail r = Pearson correlation of the high-pass part of a_g (a_g minus its Gaussian blur, σ = "
    "detail_sigma_per_32px px per 32 px of image) with that of a — not what the inversion optimises; trained "
    "model, eq. 5 (fig. 1's procedure), each "
    "inversion stopped at its first m_g < m_s; only converged inversions count",
    rule="HELD iff Spearman ρ(depth, mean detail r) ≤ rho_max over the converged layers and detail r(first layer) − "
    "detail r(deepest layer), paired over targets, has a mean above its std; NOT REPRODUCED iff that difference is "
    "below −std or ρ > rho_max with a significant first-to-deepest difference",
    inconclusive="fewer than 3 layers with converged inversions, fewer than min_pairs targets converged at both the "
    "first and the deepest layer, fewer than min_converged of all inversions converged (judging the subset that "
    "converges selects), or a first-to-deepest difference within its std",
    thresholds={"rho_max": -0.5, "min_pairs": 3, "min_converged": 0.75, "detail_sigma_per_32px": 1.0},
    min_samples=3,
)


def high_pass(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """``images`` (N, C, H, W) minus their Gaussian blur of σ ``sigma`` px: the fine detail a blur removes."""
    from invert.inversion.steps import gaussian_blur

    kernel = 2 * int(torch.tensor(2 * sigma).ceil()) + 1
    return images - gaussian_blur(images, sigma, kernel)


def detail_correlation(images: torch.Tensor, targets: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """Per image: Pearson r of the high-pass parts of ``images`` and ``targets`` (σ default: 1 px per 32 px of size)."""
    sigma = sigma if sigma is not None else CRITERION["detail_sigma_per_32px"] * images.shape[-1] / 32
    return pearson(high_pass(images.double(), sigma), high_pass(targets.double(), sigma))


def imagenet_targets(count: int, size: int) -> tuple[torch.Tensor, list[str]]:
    """The report's Dalmatian and Tesla coil, then ``../shared``'s ImageNet samples: ``count`` at ``size`` px."""
    from invert.experiments._support import report_targets
    from invert.io import load_image, shared_dir

    imgs, names = report_targets(size)
    root = shared_dir()
    extra = sorted((root / "data" / "imagenet-samples").glob("*.jpg")) if root else []
    more = [load_image(p, size) for p in extra[: max(0, count - len(names))]]
    if more:
        imgs = torch.cat([imgs, torch.stack(more)])
        names = names + [p.stem for p in extra[: len(more)]]
    return imgs[:count], names[:count]


@experiment(
    "depth-trained",
    "A trained model inverted by eq. 5 at each depth, stopped at m_g < m_s: fine detail kept early, lost deep "
    "(fig. 1).",
    "report §2, fig. 1",
    criterion=CRITERION,
    full=FULL,
    quick=QUICK,
    minutes=1,
)
def depth_trained(ctx: ExperimentContext) -> Verdict:
    s = ctx.settings(FULL, QUICK)
    bb = natural_backbone(ctx)
    if bb.dataset == "ImageNet":
        targets, names = imagenet_targets(s.targets, bb.size)
    else:
        targets, names = cifar_targets(s.targets, bb.size)
    ctx.params.update(
        model=bb.model,
        trained_weights=bb.trained,
        size=bb.size,
        layers=list(bb.layers),
        target_images=names,
        iterations=s.iterations,
        line_search={"trials": s.trials, "trial_iterations": s.trial_iterations},
        procedure=PROCEDURE + " — eq. 5 (blur) only, fig. 1's procedure",
    )
    tasks = [
        matched_task(
            bb,
            s,
            ctx.device,
            weights=bb.trained,
            layer=layer,
            blur=True,
            seed=ctx.seed,
            targets=targets,
            names=names,
            tag={"depth": i + 1},
        )
        for i, layer in enumerate(bb.layers)
    ]
    results = run_tasks(invert_matched, tasks, ctx.params, "depth-trained: inversions")
    rows = []
    for res in results:
        detail = detail_correlation(torch.stack(res["images"]).cpu(), targets.cpu())
        rows += [{**r, "detail_r": float(d)} for r, d in zip(res["rows"], detail, strict=True)]
    ctx.save_csv(rows, "depth_trained.csv")
    _figure(ctx, bb, targets[0], names[0], results)
    return judge(rows, list(bb.layers), f"{bb.model} at {bb.size} px ({bb.note})")


def _figure(ctx: ExperimentContext, bb: Backbone, target: torch.Tensor, name: str, results: list[dict]) -> None:
    from invert.analysis.plots import image_grid

    imgs, caps = [target.cpu()], [name]
    for res in results:
        r = res["rows"][0]
        imgs.append(res["images"][0])
        tail = "" if r["converged"] else " (unconv.)"
        caps.append(f"r {r['pearson']:.2f}\nm_g/m_s {r['m_g'] / r['m_s']:.2f}" + tail)
    fig = image_grid(
        [imgs],
        [f"trained ({bb.dataset})\neq. 5"],
        ["target", *bb.layers],
        [caps],
        title=f"{bb.model}: trained-model inversions by depth at m_g < m_s",
    )
    ctx.save_figure(fig, "depth_trained.png")


def judge(rows: list[dict[str, Any]], layers: list[str], setup: str) -> Verdict:
    """The declared criterion on ``rows`` (layer, target, converged, detail_r, pearson per inversion)."""
    from scipy.stats import spearmanr

    conv = [r for r in rows if r["converged"]]
    per_layer = {l: {r["target"]: r["detail_r"] for r in conv if r["layer"] == l} for l in layers}
    usable = [l for l in layers if per_layer[l]]
    means = {l: sum(per_layer[l].values()) / len(per_layer[l]) for l in usable}
    plain = {l: sum(r["pearson"] for r in conv if r["layer"] == l) / len(per_layer[l]) for l in usable}
    share = len(conv) / max(1, len(rows))
    why = ""
    rho = float("nan")
    mean = spread = float("nan")
    pairs = 0
    if len(usable) < 3:
        held: bool | None = None
        why = f"only {len(usable)} layer(s) with converged inversions (< 3)"
    else:
        first, last = usable[0], usable[-1]
        common = sorted(set(per_layer[first]) & set(per_layer[last]))
        pairs = len(common)
        held, mean, spread, why = paired_judgement(
            [per_layer[first][t] - per_layer[last][t] for t in common], CRITERION["min_pairs"]
        )
        rho = float(spearmanr(range(len(usable)), [means[l] for l in usable]).statistic)
        if held and rho > CRITERION["rho_max"]:
            held = False  # the first-to-deepest fall is there, but detail does not fall with depth
        if share < CRITERION["min_converged"] and held is not None:
            held, why = None, f"only {share:.0%} of the inversions converged (< {CRITERION['min_converged']:.0%})"
    measured = (
        f"{setup}; {PROCEDURE}, eq. 5. Converged (m_g < m_s) {len(conv)}/{len(rows)}. Mean detail r by depth: "
        + ", ".join(f"{l} {means[l]:.2f}" for l in usable)
        + " (Pearson r of the whole image: "
        + ", ".join(f"{l} {plain[l]:.2f}" for l in usable)
        + f"); Spearman ρ(depth, detail r) {rho:+.2f}; first − deepest {mean:+.3f} (spread {spread:.3f}, {pairs} "
        "targets)" + (f" — INCONCLUSIVE: {why}" if why and held is None else "")
    )
    return Verdict(
        claim=CRITERION.claim,
        criterion=f"detail r falls with depth (Spearman ρ ≤ {CRITERION['rho_max']:g}) and first − deepest layer, "
        f"paired over ≥ {CRITERION['min_pairs']} targets, exceeds its std; ≥ {CRITERION['min_converged']:.0%} of "
        "the inversions converged, else INCONCLUSIVE",
        measured=measured,
        held=held,
        key_figure="detail r " + " / ".join(f"{means[l]:.2f}" for l in usable) + f" ({', '.join(usable)})",
        details={
            "mean_detail_r_by_layer": means,
            "mean_r_by_layer": plain,
            "spearman_depth_vs_detail_r": rho,
            "first_minus_deepest": mean,
            "spread": spread,
            "pairs": pairs,
            "converged": len(conv),
            "inversions": len(rows),
            "inconclusive": why if held is None else "",
        },
    )
