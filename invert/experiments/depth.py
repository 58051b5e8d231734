"""``depth``: the same targets inverted at conv1…convN of a trained and an untrained model (report §2, figs 1, 2, S3).

Claims, judged separately: (a) the untrained model's representations keep less of the input the
deeper the layer; (b) training on natural images makes early-layer representations clearer. Both
by eq. 4 (plain GD) and eq. 5 (GD + blur) with a line-searched ε (see ``_matched``), compared at
matched m_g < m_s, by the Pearson correlation of a_g with a — blind to brightness and contrast,
which the trained inversions keep from the start image. (b) needs a model whose untrained early
layers are lossy: the CIFAR ResNets' stride-1 stem inverts exactly, so offline this is a torchvision
ResNet-18 (ImageNet stem) trained here on CIFAR-10 at 64 px; with ImageNet weights, ResNet-50.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from invert.encoders import build_model
from invert.errors import InvertError
from invert.experiments import _cifar64
from invert.experiments._matched import PROCEDURE, invert_matched, matched_task, run_tasks, spread_verdict
from invert.experiments._support import report_targets
from invert.experiments.registry import Criterion, ExperimentContext, Verdict, combine, experiment, joint_verdict

MIN_ACCURACY = 0.6  # a trained model below this CIFAR-10 test accuracy is too weak to test claim (b)
PROCEDURES = (("eq. 4", False), ("eq. 5", True))


@dataclass(frozen=True)
class Backbone:
    """Which trained model a comparison uses, at what size and layers, and why (recorded in the summary)."""

    model: str
    trained: str  # the weights argument giving the naturally trained model
    size: int
    layers: tuple[str, ...]
    dataset: str  # what the trained weights were trained on
    note: str
    training: dict[str, Any] = field(default_factory=dict)  # how the trained weights came about, with their accuracy


@dataclass(frozen=True)
class DepthSettings:
    """Sizes of one ``depth`` run: targets, layers, iterations and line search, the trained model's training."""

    targets: int
    layers: tuple[str, ...]
    iterations: int
    trials: int
    trial_iterations: int
    classifier: _cifar64.Cifar64Training


QUICK = DepthSettings(2, ("conv1", "conv2", "conv3"), 150, 3, 10, _cifar64.QUICK)
FULL = DepthSettings(4, ("conv1", "conv2", "conv3", "conv4", "conv5"), 500, 6, 30, _cifar64.FULL)


def settings(ctx: ExperimentContext) -> DepthSettings:
    """QUICK or FULL by the one rule (:meth:`ExperimentContext.settings`); ``classifier_images``/``_epochs`` train."""
    s = ctx.settings(FULL, QUICK)
    return replace(s, classifier=_cifar64.given_training(s.classifier, ctx.params))


#: The trained backbone's settings (when ImageNet weights are there: its input size; else which CIFAR ResNet).
BACKBONE_FULL: dict[str, Any] = {"imagenet_size": 224, "cifar_model": "cifar_resnet56"}
BACKBONE_QUICK: dict[str, Any] = {"imagenet_size": 96, "cifar_model": "cifar_resnet20"}


def imagenet_available(model: str, quick: bool) -> tuple[bool, str]:
    """Whether ImageNet weights for ``model`` can be had: quick runs look only in the local cache,
    full runs try to fetch.
    """
    import torchvision

    url = torchvision.models.get_model_weights(model).DEFAULT.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    if cached.is_file():
        return True, f"ImageNet weights for {model} found in {cached.parent}"
    if quick:
        return False, f"ImageNet weights for {model} are not cached (quick runs do not download)"
    try:
        build_model(model, "imagenet")
        return True, f"ImageNet weights for {model} downloaded"
    except InvertError as exc:
        return False, str(exc).split(":")[0]


def natural_backbone(ctx: ExperimentContext, cifar_full: str = "cifar_resnet56") -> Backbone:
    """ImageNet ResNet-50 when its weights are available, else the trained CIFAR-10 ResNet (20 quick,
    ``cifar_full`` full).
    """
    b = ctx.settings({**BACKBONE_FULL, "cifar_model": cifar_full}, BACKBONE_QUICK)
    ok, why = imagenet_available("resnet50", ctx.quick)
    if ok:
        return Backbone(
            "resnet50",
            "imagenet",
            b["imagenet_size"],
            ("conv1", "conv2", "conv3", "conv4", "conv5"),
            "ImageNet",
            why,
        )
    model = b["cifar_model"]
    return Backbone(
        model,
        "trained",
        32,
        ("conv1", "conv2", "conv3", "conv4"),
        "CIFAR-10",
        f"{why}; used the trained CIFAR-10 {model} (shared weights) and its untrained twin instead",
    )


def lossy_stem_backbone(
    ctx: ExperimentContext, layers: tuple[str, ...], training: _cifar64.Cifar64Training
) -> Backbone:
    """ImageNet ResNet-50 when available, else ResNet-18 (ImageNet stem) trained on CIFAR-10 at 64 px here (cached)."""
    ok, why = imagenet_available("resnet50", ctx.quick)
    if ok:
        size = ctx.settings(BACKBONE_FULL, BACKBONE_QUICK)["imagenet_size"]
        return Backbone("resnet50", "imagenet", size, layers, "ImageNet", why, {"test_accuracy": None})
    given = ctx.params.get("trained_weights")
    if given:
        info: dict[str, Any] = {"source": f"given: {given}", "test_accuracy": ctx.params.get("trained_accuracy")}
        weights = str(given)
    else:
        weights, info = _cifar64.trained_cifar64(
            training, _cifar64.cache_root(ctx.out, ctx.params), device=ctx.device, progress=not ctx.quick
        )
        info["source"] = (
            f"trained here ({training.images} CIFAR-10 images × {training.epochs} epochs at 64 px), "
            f"cached in {Path(weights).parent}"
        )
    return Backbone(
        _cifar64.MODEL,
        weights,
        _cifar64.SIZE,
        layers,
        "CIFAR-10 at 64 px",
        f"{why}; used a torchvision ResNet-18 (7×7 stride-2 stem + max-pool, lossy when untrained) trained on "
        f"CIFAR-10 at 64 px ({info['source']}) and its untrained twin",
        info,
    )


def cifar_targets(count: int, size: int = 32) -> tuple[torch.Tensor, list[str]]:
    """The first ``count`` CIFAR-10 test images of distinct classes (a dog first: the Dalmatian's stand-in),
    at ``size`` px.
    """
    from invert.datasets import CIFAR10_CLASSES, load_cifar10

    x, y = load_cifar10("test", limit=200)
    order = [5] + [c for c in range(10) if c != 5]
    picked = [int((y == c).nonzero()[0]) for c in order[:count]]
    imgs = x[picked]
    if size != imgs.shape[-1]:
        imgs = torch.nn.functional.interpolate(imgs, size=(size, size), mode="bilinear", align_corners=False).clamp(
            0, 1
        )
    return imgs, [f"{CIFAR10_CLASSES[int(y[i])]} (test #{i})" for i in picked]


CRITERION = Criterion(
    claim="Deeper layers' representations lose the input's detail (untrained model), and training makes early-layer "
    "representations clearer (figs 1, 2, S3).",
    measure="clarity = Pearson r of a_g with a (a second measure, not the optimised m_g), each inversion stopped at "
    "its first m_g < m_s (eq. 4 and eq. 5, ε line-searched from each layer's activation scale); only converged "
    "inversions count",
    rule="(a) untrained, eq. 4 and eq. 5 alike: Spearman ρ(depth, mean r) ≤ rho_max and r(first) − r(deepest) over "
    "targets exceeds its std; (b) eq. 4 and eq. 5 alike, early layers × targets: mean (trained r − untrained r) "
    "exceeds its std (NOT REPRODUCED below −std); both parts must hold",
    inconclusive="(a) fewer than 3 converged layers or 2 targets; (b) the trained model below min_accuracy test "
    "accuracy, fewer than min_pairs converged pairs, or a non-significant difference",
    thresholds={"rho_max": -0.5, "min_accuracy": MIN_ACCURACY, "min_pairs": 2},
    min_samples=2,
)


@experiment(
    "depth",
    "Trained vs untrained model inverted at each depth by eq. 4 and eq. 5 at matched m_g < m_s (figs 1, 2, S3).",
    "report §2, figs 1, 2, S3",
    criterion=CRITERION,
    full=FULL,
    quick=QUICK,
    minutes=9,
)
def depth(ctx: ExperimentContext) -> Verdict:
    s = settings(ctx)
    bb = lossy_stem_backbone(ctx, s.layers, s.classifier)
    if bb.dataset == "ImageNet":
        targets, names = report_targets(bb.size, ("dalmatian", "tesla_coil")[: max(1, min(2, s.targets))])
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
        procedure=PROCEDURE,
        trained_model=bb.training,
    )
    tasks = [
        matched_task(
            bb,
            s,
            ctx.device,
            weights=w,
            layer=layer,
            blur=blur,
            seed=ctx.seed,
            targets=targets,
            names=names,
            tag={"weights": "trained" if w != "untrained" else "untrained", "procedure": proc},
        )
        for proc, blur in PROCEDURES
        for w in (bb.trained, "untrained")
        for layer in bb.layers
    ]
    results = run_tasks(invert_matched, tasks, ctx.params, "depth: inversions")
    rows = [r for res in results for r in res["rows"]]
    for r in rows:
        r["depth"] = bb.layers.index(r["layer"]) + 1
    ctx.save_csv(rows, "depth.csv")
    _save_grid(ctx, bb, targets[0], names[0], tasks, results)
    return _verdict(bb, rows, s)


def _save_grid(
    ctx: ExperimentContext, bb: Backbone, target: torch.Tensor, name: str, tasks: list[dict], results: list[dict]
) -> None:
    from invert.analysis.plots import image_grid

    grid, labels, caps = [], [], []
    for proc, _blur in PROCEDURES:
        for kind in ("trained", "untrained"):
            row_img, row_cap = [target.cpu()], [name]
            for task, res in zip(tasks, results, strict=True):
                if task["tag"] == {"weights": kind, "procedure": proc}:
                    r = res["rows"][0]
                    row_img.append(res["images"][0])
                    row_cap.append(
                        f"r {r['pearson']:.2f}  m_i {r['m_i']:.3g}\nm_g/m_s {r['m_g'] / r['m_s']:.2f}"
                        + ("" if r["converged"] else " (unconv.)")
                    )
            grid.append(row_img)
            caps.append(row_cap)
            labels.append(
                f"{'trained (' + bb.dataset + ')' if kind == 'trained' else 'untrained'}\n"
                f"{proc}{' (blur)' if proc == 'eq. 5' else ' (no blur)'}"
            )
    fig = image_grid(
        grid,
        labels,
        ["target"] + list(bb.layers),
        caps,
        title=f"{bb.model}: inversions by depth at m_g < m_s (r = Pearson correlation with the target)",
    )
    ctx.save_figure(fig, "depth_grid.png")


def _pearson(rows: list[dict[str, Any]], **match: Any) -> dict[str, float]:
    """Pearson r of converged inversions matching ``match``, keyed by target."""
    return {r["target"]: r["pearson"] for r in rows if r["converged"] and all(r[k] == v for k, v in match.items())}


def _loss_with_depth(rows: list[dict[str, Any]], layers: tuple[str, ...]) -> Verdict:
    """Part (a): in the untrained model, r falls from the first to the deepest converged layer by more than its
    spread.
    """
    from scipy.stats import spearmanr

    outcomes: list[bool | None] = []
    text: list[str] = []
    details: dict[str, Any] = {}
    for proc, _ in PROCEDURES:
        per_layer = {l: _pearson(rows, weights="untrained", procedure=proc, layer=l) for l in layers}
        usable = [l for l in layers if per_layer[l]]
        means = {l: sum(per_layer[l].values()) / len(per_layer[l]) for l in usable}
        if len(usable) < 3:
            outcomes.append(None)
            text.append(f"{proc}: only {len(usable)} layer(s) with converged inversions — cannot judge")
            details[proc] = {"mean_r_by_layer": means}
            continue
        first, last = usable[0], usable[-1]
        common = sorted(set(per_layer[first]) & set(per_layer[last]))
        held, drop, spread = spread_verdict([per_layer[first][t] - per_layer[last][t] for t in common])
        rho = float(spearmanr(range(len(usable)), [means[l] for l in usable]).statistic)
        ok = None if held is None else bool(held and rho <= -0.5)
        outcomes.append(ok)
        details[proc] = {
            "mean_r_by_layer": means,
            "spearman_depth_vs_r": rho,
            "r_drop_first_to_last": drop,
            "spread": spread,
        }
        text.append(
            f"{proc}: untrained r by depth "
            + ", ".join(f"{l} {means[l]:.2f}" for l in usable)
            + f" (Spearman {rho:+.2f}; {first}→{last} drop {drop:.2f} vs spread {spread:.2f})"
        )
    return Verdict(
        "Untrained representations keep less of the input the deeper the layer (figs 1, S3).",
        "; ".join(text),
        combine(outcomes),
        details,
        criterion="for eq. 4 and eq. 5 alike, over converged inversions of the untrained model: "
        "Pearson r falls with depth (Spearman ρ(depth, mean r) ≤ −0.5) "
        "and r at the first layer minus r at the deepest exceeds that difference's std over targets; "
        "fewer than 3 converged layers or 2 targets → INCONCLUSIVE",
    )


def _sharpening(bb: Backbone, rows: list[dict[str, Any]], early: tuple[str, ...]) -> Verdict:
    """Part (b): trained r exceeds untrained r at matched m_g < m_s over the early layers, by more than the spread."""
    acc = bb.training.get("test_accuracy")
    outcomes: list[bool | None] = []
    text: list[str] = []
    details: dict[str, Any] = {"trained_test_accuracy": acc, "early_layers": list(early)}
    for proc, _ in PROCEDURES:
        diffs = []
        for l in early:
            tr, un = (
                _pearson(rows, weights="trained", procedure=proc, layer=l),
                _pearson(rows, weights="untrained", procedure=proc, layer=l),
            )
            diffs += [tr[t] - un[t] for t in sorted(set(tr) & set(un))]
        held, mean, spread = spread_verdict(diffs)
        outcomes.append(held)
        details[proc] = {"pairs": len(diffs), "mean_r_trained_minus_untrained": mean, "spread": spread}
        text.append(
            f"{proc}: trained − untrained r over {'/'.join(early)} {mean:+.3f} (spread {spread:.3f}, "
            f"{len(diffs)} converged pairs)"
        )
    weak = acc is not None and acc < MIN_ACCURACY
    held = None if weak else combine(outcomes)
    if weak and acc is not None:
        text.append(
            f"the trained model reached only {100 * acc:.1f} % CIFAR-10 test accuracy (< {100 * MIN_ACCURACY:.0f} %): "
            "too weakly trained to test the claim — train it longer (full setting; minutes on a GPU)"
        )
    return Verdict(
        "Training on natural images makes early-layer representations clearer (fig. 2).",
        "; ".join(text),
        held,
        details,
        criterion=f"the trained model reaches ≥ {100 * MIN_ACCURACY:.0f} % test accuracy (else INCONCLUSIVE); "
        "for eq. 4 and eq. 5 alike, over early layers × targets where both inversions converged: the mean of "
        "(trained r − untrained r) exceeds its std; fewer than 2 pairs → INCONCLUSIVE",
    )


def _verdict(bb: Backbone, rows: list[dict[str, Any]], s: DepthSettings) -> Verdict:
    early = bb.layers[:3]
    loss, sharp = _loss_with_depth(rows, bb.layers), _sharpening(bb, rows, early)
    conv = sum(r["converged"] for r in rows)
    return joint_verdict(
        "Untrained representations keep less of the input the deeper the layer, "
        "and training on natural images makes early-layer representations clearer, with or without blur "
        "(figs 1, 2, S3).",
        f"{bb.model} at {bb.size} px ({bb.note}); {PROCEDURE}; up to {s.iterations} iterations. m_g < m_s reached in "
        f"{conv}/{len(rows)} inversions (only those count).",
        [loss, sharp],
        criterion="clarity is the Pearson correlation r of a_g with a, compared at the first m_g < m_s",
        details={
            "model": bb.model,
            "trained_model": bb.training,
            "models_note": bb.note,
            "converged": conv,
            "inversions": len(rows),
            "loss_with_depth": loss.details,
            "training_sharpens_early_layers": sharp.details,
        },
    )
