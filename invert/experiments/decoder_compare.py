"""Learned decoders (Björklund 2024) per checkpoint, and the decoder against optimisation on the same images.

``decoder-checkpoints`` reproduces the thesis's figs. 11–17 on the trained He et al. ResNet-20
(the thesis's ResNet-18 weights are not available offline). ``decoder-vs-optimisation`` runs the
decoder, `invert run`'s optimisation and the hybrid (optimisation started from the decoder's output)
on the same test images and layers and tabulates quality and cost.

Both take ``ctx.params`` overrides: ``model``, ``weights``, ``layers``, ``train`` (training images),
``test`` (test images), ``epochs``, ``batch_size``, ``images`` and ``iterations`` (comparison).
"""

from __future__ import annotations

from typing import Any

from invert.decoder.training import QUICK, DecoderTrainConfig
from invert.experiments.registry import ExperimentContext, Verdict, experiment

THESIS = "Björklund 2024, §3.3–3.5"


def _settings(ctx: ExperimentContext, quick: dict[str, Any], full: dict[str, Any]) -> dict[str, Any]:
    s = dict(quick if ctx.quick else full)
    s.update({k: v for k, v in ctx.params.items() if k in s})
    ctx.params.update(s)
    return s


def _config(ctx: ExperimentContext, s: dict[str, Any]) -> DecoderTrainConfig:
    base = QUICK if ctx.quick else DecoderTrainConfig()
    return base.updated(epochs=s["epochs"], batch_size=s["batch_size"], seed=ctx.seed)


@experiment("decoder-checkpoints", "Decoders per ResNet checkpoint: error rises and classifiability falls with depth (thesis figs. 11–17).", THESIS)
def decoder_checkpoints(ctx: ExperimentContext) -> Verdict:
    from invert.decoder.architecture import checkpoint_layers
    from invert.decoder.runs import evaluate_run, train_run

    s = _settings(ctx, dict(model="cifar_resnet20", weights="trained", layers=None, train=2000, test=500, epochs=4, batch_size=32),
                  dict(model="cifar_resnet20", weights="trained", layers=None, train=None, test=None, epochs=30, batch_size=10))
    layers = list(s["layers"] or checkpoint_layers(s["model"]))
    ctx.params["layers"] = layers
    run = ctx.out / "decoders"
    train_run(run, model=s["model"], weights=s["weights"], layers=layers, config=_config(ctx, s), limit=s["train"],
              device=ctx.device, progress=False)
    rows = evaluate_run(run, ctx.out / "eval", limit=s["test"], seed=ctx.seed, device=ctx.device)
    for name in ("eval/metrics.csv", "eval/error_per_checkpoint.png", "eval/grid_correct.png", "decoders/loss_curves.png"):
        ctx.files.append(name)
    ctx.save_csv(rows, "metrics.csv")
    first, last = rows[0], rows[-1]
    early_beats = first["mse"] < first["baseline_mse"]
    rises = last["mse"] > first["mse"]
    falls = last.get("accuracy", 0.0) < first.get("accuracy", 0.0)
    held = early_beats and rises and falls
    measured = (f"{s['model']} on {rows[0]['images']} test images: MSE {first['layer']} {first['mse']:.4f} → {last['layer']} {last['mse']:.4f} "
                f"(mean-image baseline {first['baseline_mse']:.4f}); classifier accuracy on reconstructions "
                f"{100 * first.get('accuracy', float('nan')):.0f}% → {100 * last.get('accuracy', float('nan')):.0f}% "
                f"(originals {100 * first.get('accuracy_original', float('nan')):.0f}%)")
    return Verdict(
        claim="Decoders reconstruct early checkpoints well (better than the mean image) and get worse with depth: MSE rises "
              "and the classifier's accuracy on the reconstructions falls from the first checkpoint to the logits.",
        measured=measured, held=held,
        details={"rows": rows, "early_beats_baseline": early_beats, "mse_rises": rises, "accuracy_falls": falls})


@experiment("decoder-vs-optimisation", "Learned decoder vs optimisation vs hybrid on the same images and layers: quality and cost.", THESIS + " + Badger")
def decoder_vs_optimisation(ctx: ExperimentContext) -> Verdict:
    from invert.decoder.runs import compare_run, train_run
    from invert.inversion import InversionConfig

    s = _settings(ctx, dict(model="cifar_resnet20", weights="trained", layers=["conv2", "conv4"], train=2000, epochs=4, batch_size=32,
                            images=8, iterations=100),
                  dict(model="cifar_resnet20", weights="trained", layers=["conv2", "conv3", "conv4", "avgpool", "fc"], train=None,
                       epochs=30, batch_size=10, images=64, iterations=200))
    run = ctx.out / "decoders"
    train_run(run, model=s["model"], weights=s["weights"], layers=s["layers"], config=_config(ctx, s), limit=s["train"],
              device=ctx.device, progress=False)
    config = InversionConfig(iterations=s["iterations"], seed=ctx.seed)
    rows, comps = compare_run(run, ctx.out, layers=s["layers"], count=s["images"], config=config, device=ctx.device)
    for name in ("comparison.csv", "comparison.json", "comparison.md", "side_by_side.png", "cost_quality.png", "decoders/loss_curves.png"):
        ctx.files.append(name)
    by = {(r["layer"], r["method"]): r for r in rows}
    cheaper = all(by[(l, "decoder")]["amortised_seconds_per_image"] < by[(l, "optimisation")]["seconds_per_image"] for l in s["layers"])
    opt_closer = all(by[(l, "optimisation")]["m_g_over_m_s"] < by[(l, "decoder")]["m_g_over_m_s"] for l in s["layers"])
    hybrid_ok = all(by[(l, "hybrid")]["m_g_over_m_s"] <= by[(l, "decoder")]["m_g_over_m_s"] for l in s["layers"])
    parts = []
    for l in s["layers"]:
        d, o, h = by[(l, "decoder")], by[(l, "optimisation")], by[(l, "hybrid")]
        parts.append(f"{l}: PSNR dec {d['psnr']:.1f} / opt {o['psnr']:.1f} / hybrid {h['psnr']:.1f} dB, m_g/m_s {d['m_g_over_m_s']:.2g} / "
                     f"{o['m_g_over_m_s']:.2g} / {h['m_g_over_m_s']:.2g}, s/image {d['seconds_per_image']:.2g} "
                     f"(amortised {d['amortised_seconds_per_image']:.2g}) / {o['seconds_per_image']:.2g}")
    return Verdict(
        claim="The decoder is the cheaper inverter per image even with its training amortised over 10,000 images, while "
              "optimisation matches the representation more closely (lower m_g/m_s); optimisation started from the "
              "decoder's output (hybrid) matches it at least as closely as the decoder.",
        measured="; ".join(parts), held=cheaper and opt_closer and hybrid_ok,
        details={"decoder_cheaper": cheaper, "optimisation_closer_in_representation": opt_closer, "hybrid_not_worse": hybrid_ok,
                 "winners": {c.layer: c.winners for c in comps}})
