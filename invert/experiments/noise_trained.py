"""``noise-trained``: natural photographs inverted through untrained, naturally trained and noise-trained models
(report §5, fig. 10, S4).

Claim: a model trained to memorise labelled Gaussian noise gives middle/deep-layer representations
of natural images that are less clear than the untrained or naturally trained model's, and look
like its training noise. Inversions follow ``_matched`` (eq. 4, line-searched ε, each stopped at its
first m_g < m_s, so all models are compared at matched m_g; unconverged ones do not count), over both
photographs and several seeds. Clarity is the Pearson correlation r of a_g with a; noise-likeness
is the share of a_g's spectral energy above 1/4 cycle/px (white noise ≈ 0.80, photographs ≈ 0.05).
A separate part tests the report's remark that natural training clarifies even an out-of-class
image (the Tesla coil). Offline, all three are the CIFAR-10 ResNet-20 architecture at 32 px.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from invert.experiments._matched import PROCEDURE, invert_matched, matched_figure, paired_judgement, run_tasks
from invert.experiments._support import report_targets
from invert.experiments.depth import Backbone, natural_backbone
from invert.experiments.registry import Criterion, ExperimentContext, Verdict, combine, experiment
from invert.training.noise import NoiseTraining, parse_sigma, train_noise


@dataclass(frozen=True)
class NoiseTrainedSettings:
    """Sizes of one ``noise-trained`` run: layers, seeds, iterations, line search and the noise model's training."""

    layers: tuple[str, ...]
    seeds: int
    iterations: int
    trials: int
    trial_iterations: int
    noise: dict[str, Any]


QUICK = NoiseTrainedSettings(
    ("conv3", "conv4"), 2, 150, 3, 10, dict(n=256, classes=10, epochs=6, batch_size=32, lr=2e-3)
)
FULL = NoiseTrainedSettings(
    ("conv2", "conv3", "conv4"), 3, 500, 6, 30, dict(n=5_000, classes=10, epochs=20, batch_size=128, lr=1e-3)
)
"""Offline, the noise model is the CIFAR ResNet-20 at 32 px memorising 5,000 noise images in 10 classes for 20 epochs
(the report: ResNet-50, 10,000 images at 224 px, 100 classes, 90 epochs — a GPU job); with its inversions ~3 minutes
on two CPU cores; cached and shared with ``noise-blur``."""


def high_frequency_share(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Per image (N, C, H, W): share of the (per-channel mean-removed)
    power at spatial frequency radius > ``cutoff`` cycles/px.
    """
    x = images.double() - images.double().mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(x).abs().pow(2).sum(1)  # (N, H, W), summed over channels
    fy = torch.fft.fftfreq(x.shape[-2], dtype=torch.float64).view(-1, 1)
    fx = torch.fft.fftfreq(x.shape[-1], dtype=torch.float64).view(1, -1)
    high = (fy.pow(2) + fx.pow(2)).sqrt() > cutoff
    return (power * high).sum((-2, -1)) / power.sum((-2, -1)).clamp_min(1e-30)


def noise_training_config(ctx: ExperimentContext, bb: Backbone, s: NoiseTrainedSettings | None = None) -> NoiseTraining:
    """The noise run matching ``bb``: the report's settings on ImageNet models (full),
    else the setting's CIFAR-sized run.
    """
    sigma = parse_sigma(ctx.params.get("sigma", "text"))
    if bb.dataset == "ImageNet" and not ctx.quick:
        return NoiseTraining(model=bb.model, sigma=sigma, seed=ctx.seed)
    return NoiseTraining(
        model=bb.model, size=bb.size, sigma=sigma, seed=ctx.seed, **(s or ctx.settings(FULL, QUICK)).noise
    )


def noise_trained_weights(
    ctx: ExperimentContext, bb: Backbone, cfg: NoiseTraining | None = None
) -> tuple[str, dict[str, Any]]:
    """A noise-memorising twin of ``bb``: ``params['noise_weights']`` if given, else ``cfg`` trained once into the
    helper-model cache (``results/cache/KEY``, :func:`~invert.experiments._cifar64.cache_root`), resumed if it was
    interrupted and reused by every experiment with the same settings; its history, figure and manifest (not the
    weights) are copied to ``out/noise-model``.
    """
    import csv
    import shutil

    from invert.experiments._cifar64 import cache_root
    from invert.io.folders import build_once

    given = ctx.params.get("noise_weights")
    if given:
        return str(given), {"source": f"given: {given}"}
    cfg = cfg or noise_training_config(ctx, bb)
    folder = cache_root(ctx.out, ctx.params) / cfg.key()
    cached = build_once(
        folder,
        lambda f: train_noise(cfg, f, device=ctx.device, progress=not ctx.quick),
        complete=_noise_model_complete,
        what="noise-model training",
    )
    here = ctx.out / "noise-model"
    here.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "history.csv", "training.png"):
        shutil.copy2(folder / name, here / name)
    ctx.files.append("noise-model/")
    with open(folder / "history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    return str(folder / "model.pt"), {
        "source": f"trained here, cached in {folder}" + (" (reused)" if cached else ""),
        "weights": str(folder / "model.pt"),
        "training": cfg.to_dict(),
        "final_train_acc": float(history[-1]["train_acc"]),
        "epochs": len(history),
    }


def _noise_model_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a finished noise training: its weights and a manifest that says complete."""
    import json

    try:
        status = json.loads((folder / "config.json").read_text()).get("status")
    except (OSError, ValueError):
        return False
    return status == "complete" and (folder / "model.pt").is_file()


REPORT_NOISE = "ResNet-50 trained on 10k N(1/2, 1/3) noise images randomly labelled as one of 100 classes"


def setup_note(s: NoiseTrainedSettings) -> str:
    """The noise model's training set, against the report's (stated in every summary)."""
    n = s.noise
    return f"noise model memorises {n['n']} noise images in {n['classes']} classes, {n['epochs']} epochs " + (
        f"(the report: {REPORT_NOISE})"
    )


CRITERION = Criterion(
    claim="A model trained on labelled Gaussian noise maps natural images to noise-like, less clear middle/deep-layer "
    "representations than the untrained or naturally trained model of the same architecture (fig. 10, S4).",
    measure="at matched m_g < m_s (each inversion stopped at its first m_g < m_s): clarity = Pearson r of a_g with a, "
    "noise-likeness = share of a_g's spectral energy above 1/4 cycle/px — neither is what the inversion optimises; "
    "differences paired by (photo, layer, seed) over inversions where both models converged",
    rule="part 1 (less clear) and part 2 (more noise-like), each against the untrained and the naturally trained "
    "model: HELD iff the mean paired difference exceeds its std, NOT REPRODUCED iff it is below −std; the claim "
    "needs both parts",
    inconclusive="fewer than min_pairs converged pairs in a comparison, or fewer than min_converged of a model's "
    "inversions converged (a comparison on the subset that happens to converge selects; the quick setting converges "
    "4–5 of 8 — INCONCLUSIVE by design), or a non-significant difference (|mean| ≤ std)",
    thresholds={"min_pairs": 6, "min_converged": 0.75},
    min_samples=6,
)


@experiment(
    "noise-trained",
    "Photographs through untrained, naturally trained and noise-trained twins at matched m_g < m_s (fig. 10, S4).",
    "report §5, fig. 10, S4",
    criterion=CRITERION,
    full=FULL,
    quick=QUICK,
    minutes=3,
)
def noise_trained(ctx: ExperimentContext) -> Verdict:
    s = ctx.settings(FULL, QUICK)
    bb = natural_backbone(ctx, cifar_full="cifar_resnet20")
    noise_w, noise_info = noise_trained_weights(ctx, bb, noise_training_config(ctx, bb, s))
    targets, names = report_targets(bb.size)
    layers = tuple(l for l in s.layers if l in bb.layers)
    seeds = list(range(ctx.seed, ctx.seed + s.seeds))
    ctx.params.update(
        model=bb.model,
        trained_weights=bb.trained,
        size=bb.size,
        layers=list(layers),
        seed_values=seeds,
        iterations=s.iterations,
        noise_weights=noise_w,
        procedure=PROCEDURE,
    )
    natural = f"trained ({bb.dataset})"
    models = {"untrained": "untrained", natural: bb.trained, "noise-trained": noise_w}
    tasks = [
        {
            "model": bb.model,
            "weights": w,
            "layer": layer,
            "size": bb.size,
            "blur": False,
            "iterations": s.iterations,
            "seed": seed,
            "device": str(ctx.device),
            "targets": targets,
            "names": names,
            "trials": s.trials,
            "trial_iterations": s.trial_iterations,
            "tag": {"model": label},
        }
        for label, w in models.items()
        for layer in layers
        for seed in seeds
    ]
    results = run_tasks(invert_matched, tasks, ctx.params, "noise-trained: inversions")
    rows = []
    for res in results:
        hf = high_frequency_share(torch.stack(res["images"]))
        for r, h in zip(res["rows"], hf, strict=True):
            rows.append({**r, "hf_share": float(h)})
    ctx.save_csv(rows, "noise_trained.csv")
    title = (
        f"{bb.model}: untrained / naturally trained / noise-trained, eq. 4 stopped at m_g < m_s "
        "(r = Pearson with target)"
    )
    matched_figure(
        ctx, targets, names, layers, list(models), tasks, results, key="model", title=title, file="noise_trained.png"
    )
    noise_info["setup"] = setup_note(s)
    return _verdict(bb, rows, list(models), natural, targets, noise_info)


def _pairs(rows: list[dict[str, Any]], a: str, b: str, key: str, **match: Any) -> list[float]:
    """``key`` of model ``a`` minus model ``b`` over (target, layer, seed) where both converged."""

    def index(model: str) -> dict[tuple, float]:
        return {
            (r["target"], r["layer"], r["seed"]): r[key]
            for r in rows
            if r["model"] == model and r["converged"] and all(r[k] == v for k, v in match.items())
        }

    ia, ib = index(a), index(b)
    return [ia[k] - ib[k] for k in sorted(set(ia) & set(ib))]


def _compare(
    rows: list[dict[str, Any]],
    others: list[str],
    conv: dict[str, tuple[int, int]],
    few: list[str],
    key: str,
    sign: int,
    what: str,
) -> Verdict:
    """One part of the verdict: ``sign`` × (key of each other model − key of the noise-trained one) over the pairs
    where both converged, judged per other model by :func:`paired_judgement`; INCONCLUSIVE when some model has too
    few converged inversions (``few``)."""
    outcomes, text, details = [], [], {}
    for o in others:
        diffs = [sign * d for d in _pairs(rows, o, "noise-trained", key)]
        held, mean, spread, why = paired_judgement(diffs, CRITERION["min_pairs"])
        if few and held is not None:
            held, why = (
                None,
                "too few converged inversions: " + ", ".join(f"{l} {conv[l][0]}/{conv[l][1]}" for l in few),
            )
        outcomes.append(held)
        details[o] = {"mean_difference": mean, "spread": spread, "pairs": len(diffs), "inconclusive": why}
        text.append(
            f"vs {o}: {mean:+.3f} (spread {spread:.3f}, {len(diffs)} pairs)"
            + (f" — INCONCLUSIVE: {why}" if why else "")
        )
    return Verdict(what, "; ".join(text), combine(outcomes), details)


def _coil_part(rows: list[dict[str, Any]], natural: str) -> Verdict:
    """The Tesla-coil part (report §5), judged on its own: is the out-of-class image's inversion clearer (higher r)
    through the naturally trained model than through the untrained one, over the pairs where both converged?"""
    tesla = [n for n in {r["target"] for r in rows} if "tesla" in n]
    diffs = _pairs(rows, natural, "untrained", "pearson", target=tesla[0]) if tesla else []
    held, mean, spread, why = paired_judgement(diffs, CRITERION["min_pairs"] // 2)
    return Verdict(
        "Natural training clarifies even an out-of-class image: the Tesla coil's inversion is clearer through the "
        "trained model than the untrained one (report §5).",
        f"r(trained) − r(untrained) on the Tesla coil {mean:+.3f} (spread {spread:.3f}, {len(diffs)} converged pairs)"
        + (f" — INCONCLUSIVE: {why}" if why else ""),
        held,
        {"mean_difference": mean, "spread": spread, "pairs": len(diffs)},
        criterion="r(trained) − r(untrained) on the Tesla coil over (layer, seed) pairs where both converged: "
        f"mean exceeds its std, below −std NOT REPRODUCED, ≥ {CRITERION['min_pairs'] // 2} pairs "
        "(judged separately; not part of the overall verdict)",
    )


def _hf_reference(targets: torch.Tensor) -> dict[str, float]:
    """The high-frequency share of the photographs and of Gaussian noise like the training noise (8 draws, fixed
    seed): the two ends the inversions' hf share is read against."""
    return {
        "targets": float(high_frequency_share(targets).mean()),
        "training noise": float(
            high_frequency_share(torch.randn(8, *targets.shape[1:], generator=torch.Generator().manual_seed(0))).mean()
        ),
    }


def _converged_means(
    rows: list[dict[str, Any]], labels: list[str]
) -> tuple[dict[str, tuple[int, int]], dict[str, dict[str, float]]]:
    """Per model: (converged, all) inversions, and the means of r, hf share and m_i over its converged ones."""
    conv = {
        l: (sum(r["converged"] for r in rows if r["model"] == l), sum(r["model"] == l for r in rows)) for l in labels
    }
    means = {
        l: {
            k: sum(r[k] for r in rows if r["model"] == l and r["converged"]) / max(1, conv[l][0])
            for k in ("pearson", "hf_share", "m_i")
        }
        for l in labels
    }
    return conv, means


def _verdict(
    bb: Backbone,
    rows: list[dict[str, Any]],
    labels: list[str],
    natural: str,
    targets: torch.Tensor,
    noise_info: dict[str, Any],
) -> Verdict:
    others = [l for l in labels if l != "noise-trained"]
    conv, means = _converged_means(rows, labels)

    few = [l for l, (c, n) in conv.items() if c < CRITERION["min_converged"] * n]

    clear = _compare(
        rows,
        others,
        conv,
        few,
        "pearson",
        1,
        "The noise-trained model's representations are less clear (lower r) "
        "than the untrained and naturally trained ones.",
    )
    clear.criterion = (
        "r(other) − r(noise-trained) over (photo, layer, seed) pairs where both converged: mean exceeds its std, "
        f"for both others; ≥ {CRITERION['min_pairs']} pairs and ≥ {CRITERION['min_converged']:.0%} of each model's "
        "inversions converged, else INCONCLUSIVE"
    )
    noisy = _compare(
        rows,
        others,
        conv,
        few,
        "hf_share",
        -1,
        "The noise-trained model's inversions look more like its training noise (higher hf share).",
    )
    noisy.criterion = "hf(noise-trained) − hf(other) over converged pairs: mean exceeds its std, for both others"
    coil = _coil_part(rows, natural)
    ref = _hf_reference(targets)
    acc = noise_info.get("final_train_acc")
    measured = (
        f"{bb.model} ({bb.note}); noise-trained model {noise_info['source']}"
        + (f" ({noise_info['setup']})" if "setup" in noise_info else "")
        + (f", training accuracy {acc:.3f} after {noise_info['epochs']} epochs" if acc is not None else "")
        + f". {PROCEDURE}. "
        + "Converged (m_g < m_s): "
        + ", ".join(f"{l} {c}/{n}" for l, (c, n) in conv.items())
        + ". Means over converged: "
        + "; ".join(f"{l} r {m['pearson']:.3f}, hf {m['hf_share']:.2f}, m_i {m['m_i']:.2f}" for l, m in means.items())
        + f" (hf of the photographs {ref['targets']:.2f}, of N(0.5, σ) noise {ref['training noise']:.2f}). "
        + f"Less clear: {clear.measured}. More noise-like: {noisy.measured}. Tesla coil: {coil.measured}."
    )
    return Verdict(
        claim=CRITERION.claim,
        key_figure="converged "
        + ", ".join(f"{l} {c}/{n}" for l, (c, n) in conv.items())
        + "; r "
        + ", ".join(f"{l} {m['pearson']:.2f}" for l, m in means.items()),
        measured=measured,
        held=combine([clear.held, noisy.held]),
        parts=[clear, noisy, coil],
        criterion="the first two parts must hold (NOT REPRODUCED if either fails, "
        f"INCONCLUSIVE if either cannot be decided: fewer than {CRITERION['min_pairs']} converged pairs, fewer than "
        f"{CRITERION['min_converged']:.0%} of a model's inversions converged, or not significant); "
        "only inversions that reached m_g < m_s count; the Tesla-coil part is reported on its own",
        details={
            "model": bb.model,
            "models_note": bb.note,
            "noise_model": noise_info,
            "converged": conv,
            "means": means,
            "hf_share_reference": ref,
        },
    )
