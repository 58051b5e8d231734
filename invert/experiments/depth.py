"""``depth``: the same target inverted at conv1…convN of a trained and an untrained model (report §2, figs 1, 2, S3).

Claims: (a) the untrained model's representations keep less of the input the deeper the layer;
(b) training makes early-layer representations clearer. Both with and without a blur step per
iteration (eq. 5 vs eq. 4). With ImageNet weights this is ResNet-50 on the Dalmatian; offline it
is the trained CIFAR-10 ResNet on CIFAR test images against its untrained twin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from scipy.stats import spearmanr

from invert.encoders import build_encoder, build_model
from invert.errors import InvertError
from invert.experiments._support import report_targets
from invert.experiments.registry import ExperimentContext, Verdict, experiment
from invert.inversion import InversionConfig, invert


@dataclass(frozen=True)
class Backbone:
    """Which trained model a comparison uses, at what size and layers, and why (recorded in the summary)."""

    model: str
    trained: str          # the weights argument giving the naturally trained model
    size: int
    layers: tuple[str, ...]
    dataset: str          # what the trained weights were trained on
    note: str


def imagenet_available(model: str, quick: bool) -> tuple[bool, str]:
    """Whether ImageNet weights for ``model`` can be had: quick runs look only in the local cache, full runs try to fetch."""
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
    """ImageNet ResNet-50 when its weights are available, else the trained CIFAR-10 ResNet (20 quick, ``cifar_full`` full)."""
    ok, why = imagenet_available("resnet50", ctx.quick)
    if ok:
        return Backbone("resnet50", "imagenet", 96 if ctx.quick else 224, ("conv1", "conv2", "conv3", "conv4", "conv5"), "ImageNet", why)
    model = ctx.params.get("cifar_model", "cifar_resnet20" if ctx.quick else cifar_full)
    return Backbone(model, "trained", 32, ("conv1", "conv2", "conv3", "conv4"), "CIFAR-10",
                    f"{why}; used the trained CIFAR-10 {model} (shared weights) and its untrained twin instead")


def cifar_targets(count: int) -> tuple[torch.Tensor, list[str]]:
    """The first ``count`` CIFAR-10 test images of distinct classes, starting with a dog (the Dalmatian's stand-in)."""
    from invert.datasets import CIFAR10_CLASSES, load_cifar10

    x, y = load_cifar10("test", limit=200)
    order = [5] + [c for c in range(10) if c != 5]
    picked = [int((y == c).nonzero()[0]) for c in order[:count]]
    return x[picked], [f"{CIFAR10_CLASSES[int(y[i])]} (test #{i})" for i in picked]


def caption(m_g: float, m_s: float, m_i: float) -> str:
    return f"m_g {m_g:.3g}  m_s {m_s:.3g}\nm_i {m_i:.3g}"


def base_config(ctx: ExperimentContext, size: int, quick_iterations: int, full_iterations: int) -> InversionConfig:
    """The inverter's defaults at ``size`` px, with the experiment's iteration budget and seed."""
    its = int(ctx.params.get("iterations", quick_iterations if ctx.quick else full_iterations))
    return InversionConfig().updated(size=size, iterations=its, seed=ctx.seed, record_every=max(1, its // 20))


def blur_settings(size: int) -> dict[str, Any]:
    """Eq. (5)'s 3×3 Gaussian blur each step: the badger preset's σ 2.4→0.4 at 299 px, scaled to ``size``."""
    scale = min(1.0, size / 299 * 3)  # 32 px images get σ 0.8→0.13: 2.4 would wipe out their detail
    return dict(blur=round(2.4 * scale, 3), blur_end=round(0.4 * scale, 3), blur_schedule="linear", blur_kernel=3)


@experiment("depth", "Trained vs untrained model inverted at each depth, with and without blur (figs 1, 2, S3).", "report §2, figs 1, 2, S3")
def depth(ctx: ExperimentContext) -> Verdict:
    bb = natural_backbone(ctx)
    if bb.dataset == "ImageNet":
        targets, names = report_targets(bb.size, ("dalmatian",))
    else:
        targets, names = cifar_targets(int(ctx.params.get("targets", 1 if ctx.quick else 4)))
    cfg = base_config(ctx, bb.size, 80, 400)
    ctx.params.update(model=bb.model, trained_weights=bb.trained, size=bb.size, layers=list(bb.layers), targets=names,
                      iterations=cfg.iterations, blur=blur_settings(bb.size))
    rows: list[dict[str, Any]] = []
    images: dict[tuple[str, bool, str], torch.Tensor] = {}
    for blurred in (False, True):
        run_cfg = cfg.updated(**blur_settings(bb.size)) if blurred else cfg
        for weights in (bb.trained, "untrained"):
            for layer in bb.layers:
                enc = build_encoder(bb.model, layer, weights, seed=ctx.seed, input_size=bb.size, device=ctx.device)
                res = invert(enc, targets.to(ctx.device), run_cfg)
                images[(weights, blurred, layer)] = res.images[0, 0]
                for t in range(len(targets)):
                    rows.append({"model": bb.model, "weights": weights, "blur": blurred, "layer": layer, "depth": bb.layers.index(layer) + 1,
                                 "target": names[t], "m_g": float(res.m_g[t, 0]), "m_s": float(res.m_s[t]), "m_i": float(res.m_i[t, 0]),
                                 "ssim": float(res.ssim[t, 0]), "psnr": float(res.psnr[t, 0]), "below_ms": bool(res.m_g[t, 0] < res.m_s[t])})
    ctx.save_csv(rows, "depth.csv")
    _save_grid(ctx, bb, targets[0], names[0], images, rows)
    return _verdict(bb, rows, cfg)


def _mean(rows: list[dict[str, Any]], key: str, **match: Any) -> float:
    vals = [r[key] for r in rows if all(r[k] == v for k, v in match.items())]
    return sum(vals) / len(vals)


def _save_grid(ctx: ExperimentContext, bb: Backbone, target: torch.Tensor, name: str, images: dict, rows: list[dict[str, Any]]) -> None:
    from invert.analysis.plots import image_grid

    grid, labels, caps = [], [], []
    for blurred in (False, True):
        for weights in (bb.trained, "untrained"):
            grid.append([target.cpu()] + [images[(weights, blurred, layer)] for layer in bb.layers])
            label = f"{'trained (' + bb.dataset + ')' if weights != 'untrained' else 'untrained'}\n{'blur (eq. 5)' if blurred else 'no blur (eq. 4)'}"
            labels.append(label)
            cap = [name]
            for layer in bb.layers:
                r = next(r for r in rows if r["weights"] == weights and r["blur"] == blurred and r["layer"] == layer and r["target"] == name)
                cap.append(caption(r["m_g"], r["m_s"], r["m_i"]))
            caps.append(cap)
    fig = image_grid(grid, labels, ["target"] + list(bb.layers), caps, title=f"{bb.model}: inversions by depth (m_i = ‖a − a_g‖₂, pixels in [0,1])")
    ctx.save_figure(fig, "depth_grid.png")


def _verdict(bb: Backbone, rows: list[dict[str, Any]], cfg: InversionConfig) -> Verdict:
    early = bb.layers[: max(1, len(bb.layers) - 1)][:3]
    details: dict[str, Any] = {"model": bb.model, "trained_weights": f"{bb.trained} ({bb.dataset})", "models_note": bb.note,
                               "iterations": cfg.iterations, "early_layers": list(early)}
    parts, loss_ok, sharp_ok = [], True, True
    for blurred in (False, True):
        tag = "blur" if blurred else "no blur"
        mi_u = [_mean(rows, "m_i", weights="untrained", blur=blurred, layer=l) for l in bb.layers]
        mi_t = [_mean(rows, "m_i", weights=bb.trained, blur=blurred, layer=l) for l in bb.layers]
        rho = float(spearmanr(range(len(mi_u)), mi_u).statistic)
        grows = rho > 0.5 and mi_u[-1] > mi_u[0]
        early_u = sum(mi_u[: len(early)]) / len(early)
        early_t = sum(mi_t[: len(early)]) / len(early)
        ss_u = sum(_mean(rows, "ssim", weights="untrained", blur=blurred, layer=l) for l in early) / len(early)
        ss_t = sum(_mean(rows, "ssim", weights=bb.trained, blur=blurred, layer=l) for l in early) / len(early)
        by_mi, by_ssim = early_t < early_u, ss_t > ss_u
        loss_ok &= grows
        sharp_ok &= by_mi and by_ssim
        details[tag] = {"m_i_untrained": mi_u, "m_i_trained": mi_t, "spearman_depth_vs_m_i_untrained": rho,
                        "early_m_i_trained": early_t, "early_m_i_untrained": early_u,
                        "early_ssim_trained": ss_t, "early_ssim_untrained": ss_u,
                        "trained_clearer_by_m_i": by_mi, "trained_clearer_by_ssim": by_ssim}
        parts.append(f"{tag}: untrained m_i by depth " + ", ".join(f"{v:.2f}" for v in mi_u) + f" (Spearman ρ {rho:+.2f}, "
                     f"{'grows' if grows else 'does not grow'}); trained " + ", ".join(f"{v:.2f}" for v in mi_t)
                     + f"; over {'/'.join(early)} trained vs untrained: m_i {early_t:.2f} vs {early_u:.2f} "
                     f"({'trained clearer' if by_mi else 'trained NOT clearer'}), SSIM {ss_t:.2f} vs {ss_u:.2f} "
                     f"({'trained clearer' if by_ssim else 'trained NOT clearer'})")
    below = sum(r["below_ms"] for r in rows)
    details["loss_with_depth_held"] = loss_ok
    details["training_sharpens_early_layers_held"] = sharp_ok
    measured = (f"{bb.model} ({bb.note}). " + "; ".join(parts) + f". m_g < m_s in {below}/{len(rows)} inversions. "
                f"Loss of information with depth: {'agrees' if loss_ok else 'disagrees'}; training sharpens early layers "
                f"(required by both m_i and SSIM, with and without blur): {'agrees' if sharp_ok else 'disagrees'}.")
    return Verdict(
        claim="Untrained representations keep less of the input the deeper the layer, and training on natural images makes "
              "early-layer representations clearer, with or without blur (figs 1, 2, S3).",
        measured=measured, held=loss_ok and sharp_ok, details=details,
    )
