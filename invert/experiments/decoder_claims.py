"""Two more of the thesis's decoder claims (Björklund 2024), each judged from the data.

* ``decoder-epochs`` (fig. 11): decoders for later checkpoints need more epochs before their
  validation loss stops improving.
* ``decoder-artificial-logits`` (fig. 17): decoding artificial logit vectors (one class raised)
  gives images the classifier puts into very few classes (thesis: ship or frog), not the raised one.

Both read the cached decoder run that ``decoder-checkpoints`` uses (see :mod:`invert.experiments._decoders`);
``decoder-ce-weight`` (eq. 14) is in :mod:`invert.experiments.decoder_ce`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import torch

from invert.experiments._decoders import (
    FULL_RUN,
    QUICK_RUN,
    THESIS,
    decoder_run,
    settings,
)
from invert.experiments.registry import Criterion, ExperimentContext, Verdict, experiment

if TYPE_CHECKING:
    from invert.decoder.architecture import ResNetDecoder

EPOCHS = Criterion(
    claim="Training a decoder until its loss saturates takes more epochs for later checkpoints (fig. 11).",
    measure="per checkpoint, the epochs its decoder needs: the epoch of its lowest validation loss if it early-stopped "
    "(patience) within the cap, else more than the cap (still improving, censored — kept, not dropped); over every "
    "pair of checkpoints whose order this decides (a censored one needs more than any saturated one that stopped "
    "within the cap; two censored ones are undecided), concordant = the later checkpoint needs more",
    rule="τ = (concordant − discordant) / decided pairs; HELD iff τ ≥ tau_min, NOT REPRODUCED iff τ < tau_min",
    inconclusive="fewer than min_pairs decided pairs (e.g. no decoder saturated within the cap)",
    thresholds={"tau_min": 0.5, "min_pairs": 4},
    min_samples=4,
)
FEW_CLASSES = 3.0
"""'Few classes': the decoded artificial logits' effective number of classes (exp of the entropy of their predicted
classes) is at most this, of 10 (thesis: all ship or frog, so at most 2). The effective number, not the count of
distinct classes: one stray image in a fourth class changes the count (it decided this verdict differently on two
machines) but moves the effective number by less than a tenth."""
RAISED_SHARE = 0.3
"""At most this share of confident artificial logits (z_i ≥ 8) decodes to an image classified as the raised class i."""
CLEARLY_BETTER = 0.75
"""The logit decoder is judged only if its test MSE is at most this share of the mean training image's: a decoder
barely better than the mean image (the quick run: 0.054 vs 0.058) decodes everything to near-mean images, which
makes 'few classes' near-automatic."""
LOGITS = Criterion(
    claim="Images decoded from artificial logits (z_i raised, the rest 0) are classified into very few classes — in "
    "the thesis all as ship or frog — rather than as the raised class (fig. 17).",
    measure="the classifier's predictions on images decoded from one-hot logits z_i = −2…12: their effective number "
    "of classes exp(entropy), and the share classified as the raised class at z_i ≥ 8",
    rule="HELD iff effective number ≤ few_classes AND raised share ≤ raised_share; NOT REPRODUCED iff either fails",
    inconclusive="the logit decoder's test MSE is above clearly_better × the mean training image's (it has not "
    "clearly learnt to decode logits, so few classes say nothing about them)",
    thresholds={"few_classes": FEW_CLASSES, "raised_share": RAISED_SHARE, "clearly_better": CLEARLY_BETTER},
)


def censored_concordance(rows: list[dict[str, Any]]) -> tuple[int, int]:
    """(concordant, discordant) checkpoint pairs for 'later needs more epochs', keeping unsaturated decoders as
    needing more than their epochs run; pairs that cannot be ordered (both unsaturated, or tied) count in neither."""
    c = d = 0
    for i, a in enumerate(rows):
        for b in rows[i + 1 :]:  # b is the later checkpoint
            ea, eb = a["best_epoch"], b["best_epoch"]
            if a["stopped_early"] and b["stopped_early"]:
                c, d = c + (eb > ea), d + (eb < ea)
            elif a["stopped_early"]:  # b still improving: needs more than it ran
                c, d = c + (b["epochs_run"] >= ea), d
            elif b["stopped_early"]:  # a still improving
                c, d = c, d + (a["epochs_run"] >= eb)
    return c, d


def epochs_judgement(rows: list[dict[str, Any]]) -> tuple[bool | None, float, int, int, str]:
    """(held, τ, concordant, discordant, why INCONCLUSIVE) by :data:`EPOCHS`."""
    c, d = censored_concordance(rows)
    if c + d < EPOCHS["min_pairs"]:
        return None, float("nan"), c, d, f"only {c + d} checkpoint pairs can be ordered (< {EPOCHS['min_pairs']})"
    tau = (c - d) / (c + d)
    return tau >= EPOCHS["tau_min"], tau, c, d, ""


def effective_classes(counts: list[int]) -> float:
    """exp(entropy) of a class histogram: the number of equally common classes with the same spread (1 … len)."""
    p = torch.tensor(counts, dtype=torch.float64)
    p = p[p > 0] / p.sum()
    return float(torch.exp(-(p * p.log()).sum()))


def _epochs_figure(ctx: ExperimentContext, res: dict[str, dict[str, Any]]) -> None:
    """Fig. 11's counterpart (val_mse.png): each checkpoint's validation MSE by epoch over its best, the best epoch
    marked — where a curve flattens is when its decoder stopped learning."""
    from invert.analysis.plots import subplots

    fig, ax = subplots(figsize=(6.5, 4), layout="constrained")
    for i, (layer, r) in enumerate(res.items()):
        epochs = [h["epoch"] for h in r["history"]]
        rel = [h["val_mse"] / r["best_val_mse"] for h in r["history"]]
        line = ax.plot(epochs, rel, marker=".", label=f"{i + 1}: {layer} (best epoch {r['best_epoch']})")[0]
        ax.plot([r["best_epoch"]], [1.0], "o", ms=9, mfc="none", color=line.get_color())
    ax.set(yscale="log", xlabel="epoch", ylabel="validation MSE / its best", title="decoder training per checkpoint")
    ax.legend(fontsize=8)
    ctx.save_figure(fig, "val_mse.png")


@experiment(
    "decoder-epochs",
    "Epochs each checkpoint's decoder needs before its validation loss stops improving (thesis fig. 11).",
    THESIS + ", §3.2, fig. 11",
    criterion=EPOCHS,
    full=FULL_RUN,
    quick=QUICK_RUN,
    minutes=85,
)
def decoder_epochs(ctx: ExperimentContext) -> Verdict:
    s = settings(ctx, QUICK_RUN, FULL_RUN)
    run = decoder_run(ctx, s)
    ctx.files += ["decoders/loss_curves.png", "decoders/training.csv"]
    from invert.decoder.runs import read_run

    layers = read_run(run)["layers"]
    res = {l: json.loads((run / l / "result.json").read_text()) for l in layers}
    _epochs_figure(ctx, res)
    rows = [
        {
            "layer": l,
            "checkpoint": i + 1,
            "best_epoch": res[l]["best_epoch"],
            "epochs_run": len(res[l]["history"]),
            "stopped_early": res[l]["stopped_early"],
            "best_val_mse": res[l]["best_val_mse"],
        }
        for i, l in enumerate(layers)
    ]
    ctx.save_csv(rows, "epochs.csv")
    held, tau, c, d, why = epochs_judgement(rows)
    figures = ", ".join(
        f"{r['layer']} {r['best_epoch']}" + ("" if r["stopped_early"] else f" (still improving at {r['epochs_run']})")
        for r in rows
    )
    measured = (
        f"{s['model']}, ≤ {s['epochs']} epochs, patience {s['patience']}, {s['train'] or 'all'} training images: "
        f"epoch of the lowest validation loss per checkpoint {figures}; of the checkpoint pairs that can be ordered, "
        f"{c} need more epochs later, {d} fewer (τ = {tau:.2f})" + (f" — INCONCLUSIVE: {why}" if why else "")
    )
    return Verdict(
        claim=EPOCHS.claim,
        criterion=f"every decoder counts (one still improving at the cap needs more than the cap); τ over orderable "
        f"checkpoint pairs ≥ {EPOCHS['tau_min']:g} HELD, below NOT REPRODUCED; fewer than {EPOCHS['min_pairs']} "
        "orderable pairs INCONCLUSIVE",
        measured=measured,
        held=held,
        details={"rows": rows, "tau": tau, "concordant": c, "discordant": d},
        key_figure=f"epochs needed {figures}; τ = {tau:.2f} ({c} vs {d} pairs)",
    )


def _logits(classifier, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat(
            [classifier(images[i : i + 256].to(classifier.device)).cpu() for i in range(0, len(images), 256)]
        )


def _class_names(cs: list[int]) -> str:
    """CIFAR-10 names of the class indices (the index itself beyond the ten)."""
    from invert.datasets import CIFAR10_CLASSES as names

    return ", ".join(names[c] if c < len(names) else str(c) for c in cs)


def _decoder_mse(dec: ResNetDecoder, s: dict[str, Any], x: torch.Tensor, real: torch.Tensor) -> tuple[float, float]:
    """(the logit decoder's test MSE from the test images' own logits, the mean training image's MSE): the decoder
    must be clearly better than the mean image for its few classes to say anything about the logits."""
    from invert.datasets import load_cifar10
    from invert.decoder.evaluation import mean_image_baseline

    xtr, _ = load_cifar10("train", s["train"])
    base = mean_image_baseline(xtr, x)["mse"]
    mse = float((dec.decode(real) - x).pow(2).mean())
    return mse, base


def _one_hot_parts(
    effective: float, top2: float, one_hot_classes: list[int], raised: float, n: int, n_values: int
) -> list[Verdict]:
    """The two parts (fig. 17): one-hot logits decode into few classes (effective number ≤ FEW_CLASSES), and
    confident one-hot logits do not decode into their own (raised) class (share ≤ RAISED_SHARE)."""
    return [
        Verdict(
            "one-hot logits decode into few classes",
            f"effective number {effective:.2f} of {n}; {len(one_hot_classes)} distinct "
            f"({_class_names(one_hot_classes)}), the commonest two {100 * top2:.0f}%",
            effective <= FEW_CLASSES,
            criterion=f"effective number of predicted classes exp(entropy) ≤ {FEW_CLASSES:g} "
            f"over {n}×{n_values} images",
        ),
        Verdict(
            "confident artificial logits do not decode to their class",
            f"{100 * raised:.0f}% classified as the raised class at z_i ≥ 8",
            raised <= RAISED_SHARE,
            criterion=f"≤ {100 * RAISED_SHARE:.0f}% classified as the raised class",
        ),
    ]


@experiment(
    "decoder-artificial-logits",
    "Decoded artificial logit vectors fall into few classes, not the raised one (thesis fig. 17).",
    THESIS + ", §3.5, fig. 17",
    criterion=LOGITS,
    full={**FULL_RUN, "random": 1000},
    quick={**QUICK_RUN, "random": 200},
    minutes=85,
)
def decoder_artificial_logits(ctx: ExperimentContext) -> Verdict:
    from invert.datasets import load_cifar10
    from invert.decoder.evaluation import artificial_logits_figure
    from invert.decoder.training import classifier_for, load_decoder

    s = settings(ctx, {**QUICK_RUN, "random": 200}, {**FULL_RUN, "random": 1000})
    run = decoder_run(ctx, s)
    weights = s["weights"]
    clf = classifier_for(s["model"], weights, ctx.device)
    dec = load_decoder(run / "fc" / "decoder.pt", ctx.device)
    n = dec.input_shape[0]
    values = list(range(-2, 13))
    fig, imgs = artificial_logits_figure(dec, clf, values)
    ctx.save_figure(fig, "artificial_logits.png")
    pred = _logits(clf, imgs.flatten(0, 1)).argmax(1).reshape(n, len(values))
    one_hot_classes = sorted({int(p) for p in pred.flatten()})
    high = [j for j, v in enumerate(values) if v >= 8]
    raised = float(sum(int(pred[i, j]) == i for i in range(n) for j in high)) / (n * len(high))
    x, y = load_cifar10("test", s["test"])
    real = _logits(clf, x)
    gen = torch.Generator().manual_seed(ctx.seed)
    rand = real.mean(0) + real.std(0) * torch.randn(s["random"], n, generator=gen)
    pred_rand = _logits(clf, dec.decode(rand)).argmax(1)
    pred_real = _logits(clf, dec.decode(real)).argmax(1)
    mse, base = _decoder_mse(dec, s, x, real)
    rand_classes = sorted({int(p) for p in pred_rand})
    real_classes = sorted({int(p) for p in pred_real})
    counts = {
        "one_hot": torch.bincount(pred.flatten(), minlength=n).tolist(),
        "random": torch.bincount(pred_rand, minlength=n).tolist(),
        "real": torch.bincount(pred_real, minlength=n).tolist(),
    }
    ctx.save_json(
        {"values": values, "predictions_one_hot": pred.tolist(), "class_counts": counts}, "artificial_logits.json"
    )

    effective = effective_classes(counts["one_hot"])
    top2 = sum(sorted(counts["one_hot"], reverse=True)[:2]) / pred.numel()
    parts = _one_hot_parts(effective, top2, one_hot_classes, raised, n, len(values))
    learnt = mse <= CLEARLY_BETTER * base
    measured = (
        f"{s['model']} logit decoder (test MSE {mse:.4f}, mean image {base:.4f}): one-hot z "
        f"(z_i = {values[0]}…{values[-1]}) → effective number of classes {effective:.2f} ({len(one_hot_classes)} "
        f"distinct: {_class_names(one_hot_classes)}; the commonest two {100 * top2:.0f}%), "
        f"{100 * raised:.0f}% as the raised class at z_i ≥ 8; random logits (N(mean, std) of the real ones, "
        f"{s['random']} draws) → {len(rand_classes)} classes; the {len(x)} test images' own logits → "
        f"{len(real_classes)} classes, accuracy {100 * float((pred_real == y).float().mean()):.0f}%"
    )
    if not learnt:
        measured += (
            f" — INCONCLUSIVE: the logit decoder's MSE is {mse / base:.2f} of the mean image's, not clearly better "
            f"(≤ {CLEARLY_BETTER:g}), so few classes say nothing about the logits"
        )
        for p in parts:  # reported, not judged
            p.details["would_hold"], p.held = p.held, None
    return Verdict(
        claim=LOGITS.claim,
        criterion=f"judged only when the logit decoder's test MSE ≤ {CLEARLY_BETTER:g} × the mean training image's "
        "(else INCONCLUSIVE); HELD when both parts hold",
        key_figure=f"logit decoder MSE {mse:.3g} vs mean image {base:.3g} ({mse / base:.2f}); effective classes "
        f"{effective:.2f}, raised {100 * raised:.0f}%",
        measured=measured,
        held=all(p.held for p in parts) if learnt else None,
        parts=parts,
        details={
            "test_mse": mse,
            "mean_image_mse": base,
            "one_hot_classes": one_hot_classes,
            "effective_classes": effective,
            "top2_share": top2,
            "random_classes": rand_classes,
            "real_classes": real_classes,
            "raised_share": raised,
            "class_counts": counts,
        },
    )
