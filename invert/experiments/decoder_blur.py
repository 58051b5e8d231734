"""``decoder-blur-step`` (Björklund 2024, §3.3, figs. 14–15), criterion declared first: "We also note a sudden change
between checkpoint 4 and 5, with the reconstructions becoming blurry after this in both figures."

In the thesis's ResNet-18, checkpoint 4 is the last residual stage (512×4×4) and checkpoint 5 the average pooling
(512×1×1); on the quick setting's ResNet-20 (three stages) the same step is conv4 (64×8×8) → avgpool (64×1×1). The
decoders are the ``decoder-checkpoints`` run's (one cached run, :func:`~invert.experiments._decoders.decoder_run`).
Blur is judged by a measure the decoders did not optimise (they minimise MSE): each reconstruction's *sharpness* — the
mean squared difference between neighbouring pixels, relative to the original image's — compared between consecutive
checkpoints on a log scale (a blur removes a *share* of the fine detail).
"""

from __future__ import annotations

import json

import torch

from invert.experiments._decoders import FULL_RUN, QUICK_RUN, THESIS, decoder_run, settings
from invert.experiments._matched import paired_judgement
from invert.experiments.registry import Criterion, ExperimentContext, Verdict, experiment

CRITERION = Criterion(
    claim="Decoded reconstructions change suddenly between checkpoint 4 (the last residual stage) and checkpoint 5 "
    "(average pooling), becoming blurry after it (thesis figs. 14–15).",
    measure="per held-out test image and checkpoint: sharpness = mean squared neighbouring-pixel difference of the "
    "reconstruction ÷ the original's (1 = as sharp, → 0 = blurred; the decoders minimise MSE, not this); the step "
    "between consecutive checkpoints k → k+1 is log sharpness(k) − log sharpness(k+1) per image",
    rule="the step 4 → 5 (last stage → avgpool) against the largest of the other consecutive steps (by mean): their "
    "per-image difference has a mean above its std → HELD (the biggest loss of sharpness is at 4 → 5); below −std → "
    "NOT REPRODUCED (another step is the sudden one)",
    inconclusive="a decoder at either compared step still improving at its last epoch (not early-stopped), a "
    "decoder no better than the mean training image (MSE), fewer than min_images test images, or a difference "
    "within its std",
    thresholds={"min_images": 20},
    min_samples=20,
)


def sharpness(images: torch.Tensor, originals: torch.Tensor) -> torch.Tensor:
    """Per image (N, C, H, W): mean squared neighbouring-pixel difference of ``images`` ÷ that of ``originals``."""

    def energy(x: torch.Tensor) -> torch.Tensor:
        x = x.double()
        dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2).flatten(1).mean(1)
        dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2).flatten(1).mean(1)
        return dx + dy

    return energy(images) / energy(originals).clamp_min(1e-12)


def judge(
    layers: list[str],
    sharp: dict[str, torch.Tensor],
    saturated: set[str],
    learnt: dict[str, bool],
    transition: tuple[str, str],
) -> Verdict:
    """The declared criterion on per-image sharpness by checkpoint (``layers`` in order)."""
    logs = {l: sharp[l].clamp_min(1e-12).log() for l in layers}
    steps = {(a, b): logs[a] - logs[b] for a, b in zip(layers, layers[1:], strict=False)}
    means = {k: float(v.mean()) for k, v in steps.items()}
    others = {k: m for k, m in means.items() if k != transition}
    rival = max(others, key=others.__getitem__)
    diffs = (steps[transition] - steps[rival]).tolist()
    held, mean, spread, why = paired_judgement(diffs, CRITERION["min_images"])
    gates = [
        f"{l} still improving at its last epoch" for l in dict.fromkeys([*transition, *rival]) if l not in saturated
    ] + [f"{l}'s decoder no better than the mean image" for l in layers if not learnt[l]]
    if gates:
        held, why = None, "; ".join(gates + ([why] if why else []))
    name = {k: f"{k[0]}→{k[1]}" for k in steps}
    measured = (
        "median sharpness "
        + ", ".join(f"{l} {float(sharp[l].median()):.3g}" for l in layers)
        + "; mean log step "
        + ", ".join(f"{name[k]} {m:.2f}" for k, m in means.items())
        + f"; {name[transition]} − {name[rival]} {mean:+.2f} (spread {spread:.2f}, {len(diffs)} images)"
        + (f" — INCONCLUSIVE: {why}" if held is None and why else "")
    )
    return Verdict(
        claim=CRITERION.claim,
        criterion=f"per image, log-sharpness step {name[transition]} minus the largest other step ({name[rival]}): "
        "mean above its std → HELD, below −std → NOT REPRODUCED; an unsaturated decoder at either step, or one no "
        "better than the mean image → INCONCLUSIVE",
        measured=measured,
        held=held,
        key_figure="median sharpness " + " / ".join(f"{float(sharp[l].median()):.2g}" for l in layers),
        details={
            "median_sharpness": {l: float(sharp[l].median()) for l in layers},
            "mean_log_step": {name[k]: m for k, m in means.items()},
            "transition": name[transition],
            "rival": name[rival],
            "difference": mean,
            "spread": spread,
            "images": len(diffs),
            "saturated": sorted(saturated),
            "inconclusive": why if held is None else "",
        },
    )


@experiment(
    "decoder-blur-step",
    "Decoders per checkpoint: the biggest loss of sharpness is between checkpoint 4 and 5 (thesis figs. 14–15).",
    THESIS + ", §3.3, figs. 14–15",
    criterion=CRITERION,
    full=FULL_RUN,
    quick=QUICK_RUN,
    minutes=85,
)
def decoder_blur_step(ctx: ExperimentContext) -> Verdict:
    from invert.datasets import load_cifar10
    from invert.decoder.evaluation import _batched, mean_image_baseline
    from invert.decoder.runs import read_run, trained_layers
    from invert.decoder.training import load_decoder
    from invert.encoders import build_encoder

    s = settings(ctx, QUICK_RUN, FULL_RUN)
    run = decoder_run(ctx, s)
    spec = read_run(run)
    layers = trained_layers(run)
    stages = [l for l in layers if l not in ("avgpool", "fc")]
    transition = (stages[-1], "avgpool")
    x, _ = load_cifar10("test", s["test"])
    xtr, _ = load_cifar10("train", s["train"])
    base = mean_image_baseline(xtr, x)["mse"]
    sharp, learnt, saturated, colour, mse = {}, {}, set(), {}, {}
    recs = {}
    for l in layers:
        enc = build_encoder(spec["model"], l, spec["weights"], device=ctx.device)
        dec = load_decoder(run / l / "decoder.pt", ctx.device)
        with torch.no_grad():
            rec = dec.decode(_batched(enc, x, ctx.device).to(ctx.device)).clamp(0, 1).cpu()
        recs[l] = rec
        sharp[l] = sharpness(rec, x)
        mse[l] = float((rec - x).pow(2).mean())
        learnt[l] = mse[l] < base
        colour[l] = float((rec.mean((-2, -1)) - x.mean((-2, -1))).abs().mean())
        if json.loads((run / l / "result.json").read_text()).get("stopped_early"):
            saturated.add(l)
    ctx.save_csv(
        [
            {
                "layer": l,
                "median_sharpness": float(sharp[l].median()),
                "mean_sharpness": float(sharp[l].mean()),
                "mse": mse[l],
                "mean_image_mse": base,
                "colour_error": colour[l],
                "saturated": l in saturated,
            }
            for l in layers
        ],  # fmt: skip
        "sharpness.csv",
    )
    _figure(ctx, x, recs, layers)
    v = judge(layers, sharp, saturated, learnt, transition)
    v.measured = (
        f"{spec['model']} decoders ({ctx.params.get('decoder_cache', {}).get('decoders', {}).get('folder', run)}), "
        f"{len(x)} test images; thesis checkpoint 4 → 5 = {transition[0]} → {transition[1]}. "
        + v.measured
        + "; mean colour error (|mean RGB of reconstruction − original|) "
        + ", ".join(f"{l} {colour[l]:.3f}" for l in layers)
        + " (reported, not judged)"
    )
    v.details.update(colour_error=colour, mse=mse, mean_image_mse=base)
    return v


def _figure(ctx: ExperimentContext, x: torch.Tensor, recs: dict[str, torch.Tensor], layers: list[str]) -> None:
    from invert.analysis.plots import image_grid

    rows = [[x[i], *(recs[l][i] for l in layers)] for i in range(min(4, len(x)))]
    caps = [[""] + [f"sharpness {float(sharpness(recs[l][i : i + 1], x[i : i + 1])):.2f}" for l in layers] for i in
            range(len(rows))]  # fmt: skip
    fig = image_grid(rows, [f"test #{i}" for i in range(len(rows))], ["original", *layers], caps,
                     title="decoded reconstructions by checkpoint (sharpness relative to the original)")  # fmt: skip
    ctx.save_figure(fig, "reconstructions.png")
