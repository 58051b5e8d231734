"""``noise-trained``: natural photographs inverted through untrained, naturally trained and noise-trained models (report §5, fig. 10, S4).

Claim: a model trained to memorise labelled Gaussian noise gives middle/deep-layer
representations of natural images that are less clear than the untrained or naturally
trained model's, and look like its training noise. Clarity is m_i = ‖a − a_g‖₂; noise-likeness
is the share of a_g's spectral energy above half the Nyquist frequency (white noise ≈ 0.80,
photographs ≈ 0.05). Offline, all three are the CIFAR-10 ResNet-20 architecture at 32 px.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from invert.encoders import build_encoder
from invert.experiments._support import report_targets
from invert.experiments.depth import Backbone, base_config, blur_settings, caption, natural_backbone
from invert.experiments.registry import ExperimentContext, Verdict, experiment
from invert.inversion import invert
from invert.training.noise import NoiseTraining, parse_sigma, train_noise


def high_frequency_share(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Per image (N, C, H, W): share of the (per-channel mean-removed) power at spatial frequency radius > ``cutoff`` cycles/px."""
    x = images.double() - images.double().mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(x).abs().pow(2).sum(1)  # (N, H, W), summed over channels
    fy = torch.fft.fftfreq(x.shape[-2], dtype=torch.float64).view(-1, 1)
    fx = torch.fft.fftfreq(x.shape[-1], dtype=torch.float64).view(1, -1)
    high = (fy.pow(2) + fx.pow(2)).sqrt() > cutoff
    return (power * high).sum((-2, -1)) / power.sum((-2, -1)).clamp_min(1e-30)


def noise_training_config(ctx: ExperimentContext, bb: Backbone) -> NoiseTraining:
    """The noise run matching ``bb``: the report's settings on ImageNet models, a CIFAR-sized run otherwise, tiny when quick."""
    sigma = parse_sigma(ctx.params.get("sigma", "text"))
    if bb.dataset == "ImageNet" and not ctx.quick:
        return NoiseTraining(model=bb.model, sigma=sigma, seed=ctx.seed)
    if ctx.quick:
        return NoiseTraining(model=bb.model, n=256, size=bb.size, sigma=sigma, classes=10, epochs=6, batch_size=32, lr=2e-3, seed=ctx.seed)
    return NoiseTraining(model=bb.model, n=10_000, size=bb.size, sigma=sigma, classes=10, epochs=30, batch_size=128, lr=1e-3, seed=ctx.seed)


def noise_trained_weights(ctx: ExperimentContext, bb: Backbone) -> tuple[str, dict[str, Any]]:
    """A noise-memorising twin of ``bb``: ``params['noise_weights']`` if given, else trained into ``out/noise-model`` (resumable)."""
    given = ctx.params.get("noise_weights")
    if given:
        return str(given), {"source": f"given: {given}"}
    cfg = noise_training_config(ctx, bb)
    folder = ctx.out / "noise-model"
    _, history = train_noise(cfg, folder, device=ctx.device, progress=not ctx.quick)
    ctx.files.append("noise-model/")
    return str(folder / "model.pt"), {"source": f"trained here ({folder.name}/)", "training": cfg.to_dict(),
                                      "final_train_acc": history[-1]["train_acc"], "epochs": len(history)}


@experiment("noise-trained", "Photographs through untrained, naturally trained and noise-trained twins (fig. 10, S4).", "report §5, fig. 10, S4")
def noise_trained(ctx: ExperimentContext) -> Verdict:
    bb = natural_backbone(ctx, cifar_full="cifar_resnet20")
    noise_w, noise_info = noise_trained_weights(ctx, bb)
    targets, names = report_targets(bb.size)
    layers = bb.layers[1:]  # conv1 is near-perfect for every model
    mid = tuple(layers[-2:]) if bb.dataset == "CIFAR-10" else ("conv3", "conv4")
    cfg = base_config(ctx, bb.size, 60, 400)
    ctx.params.update(model=bb.model, trained_weights=bb.trained, size=bb.size, layers=list(layers), mid_layers=list(mid),
                      iterations=cfg.iterations, noise_weights=noise_w)
    settings = [("no blur", cfg)] + ([] if ctx.quick else [("blur", cfg.updated(**blur_settings(bb.size)))])
    models = [("untrained", "untrained"), (f"trained ({bb.dataset})", bb.trained), ("noise-trained", noise_w)]
    rows: list[dict[str, Any]] = []
    shown: dict[tuple[str, str, str], tuple[torch.Tensor, str]] = {}
    for setting, run_cfg in settings:
        for label, weights in models:
            for layer in layers:
                enc = build_encoder(bb.model, layer, weights, seed=ctx.seed, input_size=bb.size, device=ctx.device)
                res = invert(enc, targets.to(ctx.device), run_cfg)
                hf = high_frequency_share(res.images[:, 0])
                for t in range(len(targets)):
                    rows.append({"setting": setting, "model": label, "layer": layer, "target": names[t], "m_g": float(res.m_g[t, 0]),
                                 "m_s": float(res.m_s[t]), "m_i": float(res.m_i[t, 0]), "ssim": float(res.ssim[t, 0]),
                                 "hf_share": float(hf[t]), "below_ms": bool(res.m_g[t, 0] < res.m_s[t])})
                    shown[(setting, label, layer, names[t])] = (res.images[t, 0], caption(float(res.m_g[t, 0]), float(res.m_s[t]), float(res.m_i[t, 0])) + f" hf {float(hf[t]):.2f}")
    ctx.save_csv(rows, "noise_trained.csv")
    _figure(ctx, bb, targets, names, layers, settings, models, shown)
    return _verdict(ctx, bb, rows, mid, settings, models, targets, noise_info, noise_w)


def _figure(ctx, bb, targets, names, layers, settings, models, shown) -> None:
    from invert.analysis.plots import image_grid

    for setting, _ in settings:
        grid, labels, caps = [], [], []
        for t, name in enumerate(names):
            for label, _w in models:
                grid.append([targets[t]] + [shown[(setting, label, l, name)][0] for l in layers])
                caps.append([name] + [shown[(setting, label, l, name)][1] for l in layers])
                labels.append(f"{label}")
        fig = image_grid(grid, labels, ["target"] + list(layers), caps,
                         title=f"{bb.model}, {setting}: untrained / naturally trained / noise-trained (hf = high-frequency energy share)")
        ctx.save_figure(fig, f"noise_trained_{setting.replace(' ', '_')}.png")


def _verdict(ctx, bb, rows, mid, settings, models, targets, noise_info, noise_w) -> Verdict:
    def mean(key: str, **m: Any) -> float:
        v = [r[key] for r in rows if all(r[k] == x for k, x in m.items())]
        return sum(v) / len(v) if v else math.nan

    ref_hf = {"targets": float(high_frequency_share(targets).mean()),
              "training noise": float(high_frequency_share(torch.randn(8, *targets.shape[1:], generator=torch.Generator().manual_seed(0))).mean())}
    details: dict[str, Any] = {"model": bb.model, "models_note": bb.note, "noise_model": noise_info, "mid_layers": list(mid),
                               "hf_share_reference": ref_hf}
    held, parts = True, []
    for setting, _ in settings:
        stats = {label: {"m_i": sum(mean("m_i", setting=setting, model=label, layer=l) for l in mid) / len(mid),
                         "hf_share": sum(mean("hf_share", setting=setting, model=label, layer=l) for l in mid) / len(mid),
                         "ssim": sum(mean("ssim", setting=setting, model=label, layer=l) for l in mid) / len(mid)}
                 for label, _w in models}
        noise, others = stats["noise-trained"], [stats[label] for label, _w in models if label != "noise-trained"]
        less_clear = all(noise["m_i"] > o["m_i"] for o in others)
        noisier = all(noise["hf_share"] > o["hf_share"] for o in others)
        held &= less_clear and noisier
        details[setting] = {"per_model_mid_layers": stats, "noise_less_clear": less_clear, "noise_more_noise_like": noisier}
        parts.append(f"{setting}, mean over {'/'.join(mid)} and both photographs: "
                     + "; ".join(f"{label} m_i {s['m_i']:.2f}, SSIM {s['ssim']:.2f}, hf {s['hf_share']:.2f}" for label, s in stats.items())
                     + f" → noise-trained {'least' if less_clear else 'NOT least'} clear, {'most' if noisier else 'NOT most'} noise-like")
    below = sum(r["below_ms"] for r in rows)
    acc = noise_info.get("final_train_acc")
    measured = (f"{bb.model} ({bb.note}); noise-trained model {noise_info['source']}"
                + (f", training accuracy {acc:.3f} after {noise_info['epochs']} epochs" if acc is not None else "") + ". "
                + "; ".join(parts) + f". hf share of the targets {ref_hf['targets']:.2f}, of N(0.5, σ) noise {ref_hf['training noise']:.2f}. "
                + f"m_g < m_s in {below}/{len(rows)} inversions.")
    return Verdict(
        claim="A model trained on labelled Gaussian noise maps natural images to noise-like, less clear middle/deep-layer "
              "representations than the untrained or naturally trained model of the same architecture (fig. 10, S4).",
        measured=measured, held=held, details=details,
    )
