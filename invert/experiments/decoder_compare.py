"""Learned decoders (Björklund 2024) per checkpoint, and the decoder against optimisation on the same images.

``decoder-checkpoints`` tests the thesis's shape (figs. 12, 16): reconstructions from the early
checkpoints are close and classifiable, then MSE rises sharply and accuracy drops to ~20 %.
``decoder-vs-optimisation`` runs the decoder, `invert run`'s optimisation and the hybrid
(optimisation started from the decoder's output) on the same test images and tabulates quality and cost.

Both share one cached decoder run (see :mod:`invert.experiments._decoders`) and take ``ctx.params``
overrides of their settings (``model``, ``weights``, ``layers``, ``train``, ``test``, ``epochs``,
``batch_size``, ``lr``, ``patience``; the comparison also ``images`` and ``iterations``).
"""

from __future__ import annotations

from typing import Any

from invert.experiments._decoders import (
    FULL_RUN,
    QUICK_RUN,
    THESIS,
    decoder_run,
    early_late,
    settings,
)
from invert.experiments.registry import Criterion, ExperimentContext, Verdict, combine, experiment

EARLY_ACCURACY = 0.75
"""'High' accuracy at the early checkpoints: at least this share of the classifier's accuracy on the originals."""
LATE_ACCURACY = 0.35
"""'Around 20 %' at the late checkpoints: at most this accuracy (chance is 10 %)."""
MSE_JUMP = 2.0
"""'A sharp rise': the late checkpoints' mean MSE is at least this many times the early ones'."""


def _pct(v: float) -> str:
    return f"{100 * v:.0f}%"


def gated(held: bool, layers: list[str], saturated: set[str], fails: bool) -> tuple[bool | None, str]:
    """A part judged only on saturated decoders: decided when every one of its ``layers`` early-stopped, or when a
    saturated one already ``fails`` it (more epochs would not rescue it); else INCONCLUSIVE with the reason."""
    if fails or all(l in saturated for l in layers):
        return held, ""
    return None, "still improving at the last epoch: " + ", ".join(l for l in layers if l not in saturated)


def checkpoint_verdict(rows: list[dict[str, Any]], training: dict[str, dict[str, Any]], model: str) -> Verdict:
    """Judge the thesis's per-checkpoint shape from evaluation ``rows`` and each decoder's ``training`` record."""
    layers = [r["layer"] for r in rows]
    by = {r["layer"]: r for r in rows}
    early, late = early_late(layers)
    acc_o = rows[0]["accuracy_original"]
    first = rows[0]
    first_best = all(first["mse"] <= r["mse"] and first["accuracy"] >= r["accuracy"] for r in rows)
    saturated = [l for l in layers if training[l]["stopped_early"]]
    done = set(saturated)
    mse_e = [by[l]["mse"] for l in early]
    mse_l = [by[l]["mse"] for l in late]
    jump = (sum(mse_l) / len(mse_l)) / max(sum(mse_e) / len(mse_e), 1e-12)
    mse_held, mse_why = gated(min(mse_l) > max(mse_e) and jump >= MSE_JUMP, layers, done, False)
    mse_part = Verdict(
        claim="MSE stays low at the early checkpoints and rises sharply after them (fig. 12)",
        criterion=f"every late MSE above every early MSE, and late mean ≥ {MSE_JUMP:g}× early mean; "
        "every decoder saturated, else INCONCLUSIVE",
        measured=f"early ({', '.join(early)}) {', '.join(f'{v:.4f}' for v in mse_e)}; late ({', '.join(late)}) "
        f"{', '.join(f'{v:.4f}' for v in mse_l)}; ratio {jump:.1f}×"
        + (f" — INCONCLUSIVE: {mse_why}" if mse_why else ""),
        held=mse_held,
    )
    acc_e = [by[l]["accuracy"] for l in early]
    acc_l = [by[l]["accuracy"] for l in late]
    low = [l for l in early if by[l]["accuracy"] < EARLY_ACCURACY * acc_o]
    early_held, early_why = gated(not low, early, done, any(l in done for l in low))
    early_part = Verdict(
        claim="the classifier recognises early reconstructions (high accuracy at the early checkpoints, fig. 16)",
        criterion=f"every early accuracy ≥ {EARLY_ACCURACY:g} × the accuracy on the originals ({_pct(acc_o)}); "
        "decided when every early decoder saturated or a saturated one falls short, else INCONCLUSIVE",
        measured=", ".join(f"{l} {_pct(a)}" for l, a in zip(early, acc_e, strict=True))
        + (f" — INCONCLUSIVE: {early_why}" if early_why else ""),
        held=early_held,
    )
    high = [l for l in late if by[l]["accuracy"] > LATE_ACCURACY]
    late_held, late_why = gated(not high, late, done, any(l in done for l in high))
    late_part = Verdict(
        claim="accuracy on late reconstructions drops to around 20 % (fig. 16)",
        criterion=f"every late accuracy ≤ {_pct(LATE_ACCURACY)} (chance 10 %); decided when every late decoder "
        "saturated or a saturated one is above it, else INCONCLUSIVE",
        measured=", ".join(f"{l} {_pct(a)}" for l, a in zip(late, acc_l, strict=True))
        + (f" — INCONCLUSIVE: {late_why}" if late_why else ""),
        held=late_held,
    )
    parts = [mse_part, early_part, late_part]
    held = combine([p.held for p in parts])
    measured = (
        f"{model} on {first['images']} test images: MSE "
        + ", ".join(f"{l} {by[l]['mse']:.4f}" for l in layers)
        + f" (mean image {first['baseline_mse']:.4f}); accuracy on reconstructions "
        + ", ".join(f"{l} {_pct(by[l]['accuracy'])}" for l in layers)
        + f" (originals {_pct(acc_o)}); "
        + f"decoders trained to saturation: {', '.join(saturated) or 'none'}"
    )
    return Verdict(
        claim=CHECKPOINTS.claim,
        criterion="each part judged only on decoders trained to saturation (early-stopped) — every decoder it "
        "involves, or a saturated one that already fails it — else INCONCLUSIVE; early = the residual stages "
        "before the last "
        f"({', '.join(early)}), late = {', '.join(late)}; HELD when all three parts hold, NOT REPRODUCED if one fails",
        key_figure="MSE "
        + " / ".join(f"{by[l]['mse']:.3g}" for l in layers)
        + "; accuracy "
        + " / ".join(_pct(by[l]["accuracy"]) for l in layers)
        + f" (originals {_pct(acc_o)}); saturated: "
        + (", ".join(saturated) or "none"),
        measured=measured,
        held=held,
        parts=parts,
        details={
            "rows": rows,
            "early": early,
            "late": late,
            "first_is_best": first_best,
            "saturated": saturated,
            "mse_jump": jump,
            "accuracy_original": acc_o,
        },
    )


CHECKPOINTS = Criterion(
    claim="Decoders reconstruct the early checkpoints nearly perfectly and recognisably (high classifier accuracy on "
    "checkpoints 1–3); after them MSE rises sharply and the accuracy falls to around 20 % (thesis figs. 12, 16).",
    measure="per checkpoint on held-out test images: the decoder's MSE (against the mean training image's) and the "
    "classifier's accuracy on the reconstructions",
    rule="three parts — MSE: every late MSE above every early one and late mean ≥ mse_jump× early mean; early "
    "accuracy ≥ early_accuracy × the originals' at every early checkpoint; late accuracy ≤ late_accuracy at every "
    "late one; HELD iff all three hold, NOT REPRODUCED iff one fails",
    inconclusive="a part whose decoders did not all saturate (early-stop) within the epoch cap — unless a saturated "
    "decoder already fails it",
    thresholds={"early_accuracy": EARLY_ACCURACY, "late_accuracy": LATE_ACCURACY, "mse_jump": MSE_JUMP},
)


@experiment(
    "decoder-checkpoints",
    "Decoders per ResNet checkpoint: close and classifiable early, a sharp rise in error and ~20 % accuracy late "
    "(thesis figs. 11–17).",
    THESIS + ", §3.3–3.4, figs. 12, 16",
    criterion=CHECKPOINTS,
    full=FULL_RUN,
    quick=QUICK_RUN,
    minutes=85,
)
def decoder_checkpoints(ctx: ExperimentContext) -> Verdict:
    import json

    from invert.decoder.runs import evaluate_run

    s = settings(ctx, QUICK_RUN, FULL_RUN)
    run = decoder_run(ctx, s)
    rows = evaluate_run(run, ctx.out / "eval", limit=s["test"], seed=ctx.seed, device=ctx.device)
    ctx.files += [
        "eval/metrics.csv",
        "eval/error_per_checkpoint.png",
        "eval/grid_correct.png",
        "decoders/loss_curves.png",
    ]
    ctx.save_csv(rows, "metrics.csv")
    training = {r["layer"]: json.loads((run / r["layer"] / "result.json").read_text()) for r in rows}
    return checkpoint_verdict(rows, training, s["model"])


COMPARE_QUICK: dict[str, Any] = {**QUICK_RUN, "compare": ["conv2", "conv4"], "images": 4, "iterations": 60}
COMPARE_FULL: dict[str, Any] = {
    **FULL_RUN,
    "compare": ["conv2", "conv3", "conv4", "avgpool", "fc"],
    "images": 64,
    "iterations": 200,
}
COMPARE = Criterion(
    claim="The decoder is the cheaper inverter per image even with its training amortised over 10,000 images, while "
    "optimisation matches the representation more closely (lower m_g/m_s); optimisation started from the decoder's "
    "output (hybrid) matches it at least as closely as the decoder.",
    measure="on the same held-out test images per layer: seconds per image (the decoder's training amortised over "
    "10,000 images) and the median m_g/m_s; PSNR reported beside them",
    rule="three parts, each at every compared layer — decoder's amortised s/image < optimisation's; optimisation's "
    "median m_g/m_s < the decoder's; the hybrid's ≤ the decoder's; HELD iff all three hold",
    inconclusive="never by design (every image is counted; the comparison is per layer)",
)


@experiment(
    "decoder-vs-optimisation",
    "Learned decoder vs optimisation vs hybrid on the same images and layers: quality and cost.",
    THESIS + " §3.3 + Badger",
    criterion=COMPARE,
    full=COMPARE_FULL,
    quick=COMPARE_QUICK,
    minutes=88,
)
def decoder_vs_optimisation(ctx: ExperimentContext) -> Verdict:
    from invert.decoder.runs import compare_run
    from invert.inversion import InversionConfig

    s = settings(ctx, COMPARE_QUICK, COMPARE_FULL)
    run = decoder_run(ctx, s)
    config = InversionConfig(iterations=s["iterations"], seed=ctx.seed)
    layers = list(s["compare"])
    rows, comps = compare_run(run, ctx.out, layers=layers, count=s["images"], config=config, device=ctx.device)
    ctx.files += [
        "comparison.csv",
        "comparison.json",
        "comparison.md",
        "side_by_side.png",
        "cost_quality.png",
        "decoders/loss_curves.png",
    ]
    by = {(r["layer"], r["method"]): r for r in rows}
    cheaper = all(
        by[(l, "decoder")]["amortised_seconds_per_image"] < by[(l, "optimisation")]["seconds_per_image"] for l in layers
    )
    opt_closer = all(by[(l, "optimisation")]["m_g_over_m_s"] < by[(l, "decoder")]["m_g_over_m_s"] for l in layers)
    hybrid_ok = all(by[(l, "hybrid")]["m_g_over_m_s"] <= by[(l, "decoder")]["m_g_over_m_s"] for l in layers)
    lines = []
    for l in layers:
        d, o, h = by[(l, "decoder")], by[(l, "optimisation")], by[(l, "hybrid")]
        lines.append(
            f"{l}: PSNR dec {d['psnr']:.1f} / opt {o['psnr']:.1f} / hybrid {h['psnr']:.1f} dB, "
            f"m_g/m_s {d['m_g_over_m_s']:.2g} / {o['m_g_over_m_s']:.2g} / {h['m_g_over_m_s']:.2g}, "
            f"s/image {d['seconds_per_image']:.2g} (amortised {d['amortised_seconds_per_image']:.2g}) "
            f"/ {o['seconds_per_image']:.2g}"
        )
    parts = [
        Verdict(
            "the decoder is cheaper per image, training amortised over 10,000 images",
            "; ".join(
                f"{l} {by[(l, 'decoder')]['amortised_seconds_per_image']:.2g} vs "
                f"{by[(l, 'optimisation')]['seconds_per_image']:.2g} s"
                for l in layers
            ),
            cheaper,
            criterion="decoder's amortised s/image < optimisation's s/image at every layer",
        ),
        Verdict(
            "optimisation matches the representation more closely",
            "; ".join(
                f"{l} m_g/m_s {by[(l, 'optimisation')]['m_g_over_m_s']:.2g} vs {by[(l, 'decoder')]['m_g_over_m_s']:.2g}"
                for l in layers
            ),
            opt_closer,
            criterion="optimisation's median m_g/m_s < the decoder's at every layer",
        ),
        Verdict(
            "the hybrid matches it at least as closely as the decoder",
            "; ".join(
                f"{l} m_g/m_s {by[(l, 'hybrid')]['m_g_over_m_s']:.2g} vs {by[(l, 'decoder')]['m_g_over_m_s']:.2g}"
                for l in layers
            ),
            hybrid_ok,
            criterion="hybrid's median m_g/m_s ≤ the decoder's at every layer",
        ),
    ]
    return Verdict(
        claim="The decoder is the cheaper inverter per image even with its training amortised over 10,000 images, "
        "while optimisation matches the representation more closely (lower m_g/m_s); "
        "optimisation started from the decoder's output (hybrid) matches it at least as closely as the decoder.",
        criterion="HELD when all three parts hold at every compared layer",
        measured="; ".join(lines),
        held=cheaper and opt_closer and hybrid_ok,
        parts=parts,
        details={
            "rows": rows,
            "decoder_cheaper": cheaper,
            "optimisation_closer_in_representation": opt_closer,
            "hybrid_not_worse": hybrid_ok,
            "winners": {c.layer: c.winners for c in comps},
        },
    )
