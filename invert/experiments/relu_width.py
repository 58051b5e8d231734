"""`relu-width` (§4.3, fig. 9): how wide must ReLU MLP layers be for the image → layer-n map to stay invertible?

The report argues that ReLU zeroes a fraction p of each layer, so layer n needs m·(1/p)ⁿ units (m = input size).
The argument's own logic (only the surviving fraction 1 − p carries information) gives m/(1 − p)ⁿ; the two agree
at p = ½. Two measures: the document's own — eq. 4 inversions through constant-width (2m) and geometrically
widening (m·2ⁿ) ReLU nets, m_i where m_g first falls below m_s, plus the Jacobian's smallest singular value — which
decides the verdict; and local invertibility — the smallest equal width whose image → layer-n Jacobian has full
column rank m (numerical rank of the dense float64 Jacobian), judged as a separate part.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch
from torch.func import jacrev

from invert.analysis.plots import subplots
from invert.encoders import build_encoder
from invert.encoders.mlp import MLP
from invert.errors import InvertError
from invert.experiments._support import (
    matched_inversion,
    report_image,
    smallest_singular_value,
    spread,
)
from invert.experiments.registry import Criterion, ExperimentContext, Verdict, experiment


def downsample(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) → (N, C, size, size) with antialiasing (load_image stops at 8 px;
    the Jacobians want fewer pixels).
    """
    return (
        x
        if x.shape[-1] == size
        else torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)
    )


def small_image(size: int) -> tuple[torch.Tensor, str]:
    """The report's Dalmatian at ``size`` px, also below load_image's 8 px floor."""
    img, name = report_image(max(size, 8))
    return downsample(img, size), name


def relu_mlp(shape: tuple[int, int, int], width: int, depth: int, seed: int) -> MLP:
    """A ``depth``-layer ReLU MLP of constant ``width`` with PyTorch's default init drawn from ``seed`` (float64)."""
    torch.manual_seed(seed)
    return MLP(shape, (width,) * depth, bias=True, activation="relu").double().eval()


def jacobian_rank(net: MLP, x: torch.Tensor) -> tuple[int, float]:
    """Numerical rank of d(output)/d(image) at ``x`` (C, H, W) and the zeroed fraction of the last layer there."""
    flat = x.double().reshape(-1)
    f = lambda v: net(v.reshape(1, *x.shape))[0]  # noqa: E731
    jac = jacrev(f)(flat)
    with torch.no_grad():
        out = f(flat)
    return int(torch.linalg.matrix_rank(jac)), float((out <= 0).double().mean())


def zeroed_fractions(net: MLP, x: torch.Tensor) -> list[float]:
    """Fraction of units ReLU sets to zero in each layer for the batch ``x`` (N, C, H, W)."""
    h, fr = x.double().flatten(1), []
    with torch.no_grad():
        for _, fc in net.linear_layers():
            h = torch.relu(fc(h))
            fr.append(float((h <= 0).double().mean()))
    return fr


def own_input_rank(net: MLP, x: torch.Tensor, layer: int) -> tuple[int, int]:
    """(rank, input size) of the Jacobian of layer ``layer`` w.r.t. its own input at the activation ``x`` produces."""
    h = x.double().reshape(1, -1)
    with torch.no_grad():
        for _, fc in net.linear_layers()[: layer - 1]:
            h = torch.relu(fc(h))
    fc = net.linear_layers()[layer - 1][1]
    jac = jacrev(lambda v: torch.relu(fc(v[None]))[0])(h[0])
    return int(torch.linalg.matrix_rank(jac)), h.shape[1]


def smallest_full_rank_width(
    shape: tuple[int, int, int], x: torch.Tensor, depth: int, widths: list[int], seed: int
) -> tuple[int | None, list[dict]]:
    """The smallest width in ``widths`` whose ``depth``-layer net has a rank-m Jacobian at ``x``,
    and one row per width tried.
    """
    m, rows, found = x.numel(), [], None
    for w in widths:
        rank, p_last = jacobian_rank(relu_mlp(shape, w, depth, seed), x)
        rows.append(
            {
                "depth": depth,
                "width": w,
                "rank": rank,
                "input_size": m,
                "full_rank": rank == m,
                "zeroed_last_layer": p_last,
            }
        )
        if rank == m and found is None:
            found = w
            break
    return found, rows


def family_widths(family: str, m: int, depth: int, factor: float = 2.0) -> list[int]:
    """Layer widths of a ReLU net on an m-element input: ``constant`` factor·m per layer,
    ``widening`` m·factorᵏ at layer k
    (the report's m(1/p)ⁿ at p = 1/factor), ``linear`` the constant widths without ReLU."""
    if family == "widening":
        return [round(m * factor**k) for k in range(1, depth + 1)]
    return [round(factor * m)] * depth


def gd_rows(
    families: tuple[str, ...], depths: list[int], seeds: int, x: torch.Tensor, p: dict, seed0: int
) -> list[dict]:
    """One eq. 4 inversion per family × depth × seed: m_i where m_g first fell below level·m_s,
    and σ_min of ∂O/∂a at the image.
    """
    c, h, w = x.shape
    m, rows = x.numel(), []
    for fam in families:
        for d in depths:
            widths = family_widths(fam, m, d, p["width_factor"])
            for s in range(seed0, seed0 + seeds):
                enc = build_encoder(
                    f"mlp-{','.join(map(str, widths))}-{'linear' if fam == 'linear' else 'relu'}-in{c}x{h}x{w}",
                    "output",
                    seed=s,
                )
                r = matched_inversion(
                    enc,
                    x[None],
                    iterations=p["gd_iterations"],
                    seed=s,
                    level=p["match_level"],
                    trials=p["lr_trials"],
                    trial_iterations=p["lr_trial_iterations"],
                )
                rows.append(
                    {
                        "family": fam,
                        "depth": d,
                        "seed": s,
                        "widths": "x".join(map(str, widths)),
                        "input_size": m,
                        **r,
                        "sigma_min": smallest_singular_value(enc, x[None]),
                    }
                )
    return rows


def group_stats(rows: list[dict], family: str, depth: int) -> dict | None:
    """Mean and spread of m_i at matched m_g over seeds for one family and depth; None unless every seed got there."""
    g = [r for r in rows if r["family"] == family and r["depth"] == depth]
    if not g or not all(r["matched"] for r in g):
        return None
    v = [r["m_i_matched"] for r in g]
    return {"mean": sum(v) / len(v), "spread": spread(v), "n": len(v)}


def compare_families(rows: list[dict], a: str, b: str, depths: list[int]) -> dict[int, dict]:
    """Per depth where every run of both families reached the match: m_i(a) − m_i(b)
    and the larger spread of the two.
    """
    out = {}
    for d in depths:
        sa, sb = group_stats(rows, a, d), group_stats(rows, b, d)
        if sa and sb:
            out[d] = {
                a: sa["mean"],
                b: sb["mean"],
                "difference": sa["mean"] - sb["mean"],
                "spread": max(sa["spread"], sb["spread"]),
            }
    return out


#: The eq. 4 inversions' settings (:func:`gd_rows`), shared with ``relu-vs-linear``.
GD_FULL: dict[str, Any] = {
    "seeds": 5,
    "gd_iterations": 3000,
    "width_factor": 2.0,
    "match_level": 1.0,
    "lr_trials": 8,
    "lr_trial_iterations": 100,
}
GD_QUICK: dict[str, Any] = {"seeds": 2, "gd_iterations": 400, "lr_trials": 4, "lr_trial_iterations": 30}

FULL: dict[str, Any] = {
    "size": 12,
    "depths": [1, 2, 3, 4, 5, 6],
    "max_factor": 40,
    "width_step": 0.05,
    "p_inputs": 4,
    "gd_depths": [2, 3, 4],
    **GD_FULL,
}
QUICK: dict[str, Any] = {"size": 6, "depths": [1, 2, 3, 4], "max_factor": 24, "width_step": 0.1, **GD_QUICK}


CRITERION = Criterion(
    claim="ReLU zeroes a fraction p of each layer, so the width needed to keep the input recoverable grows "
    "geometrically with depth: m(1/p)ⁿ in the text (m/(1−p)ⁿ by its own argument), i.e. doubling per layer at p = ½.",
    measure="the smallest equal width whose image → layer-n Jacobian has full column rank m (numerical rank of the "
    "dense float64 Jacobian), depth by depth, against m/(1−p)ⁿ with p measured; the eq. 4 comparison of "
    "constant-width (2m) and widening (m·2ⁿ) nets is reported as a measurement, not judged (2m-wide nets are "
    "rank-deficient, so any wider net wins it)",
    rule="HELD iff the needed width grows from the first to the last depth by ≥ growth_fraction of the predicted "
    "log-growth log(m/(1−p)ⁿ¹) − log(m/(1−p)ⁿ⁰); NOT REPRODUCED otherwise",
    inconclusive="never by design: the rank is computed exactly; a depth whose width exceeds the grid counts as "
    "growing beyond it",
    thresholds={"growth_fraction": 0.5},
)


def width_growth_held(
    need: dict[int, int | None], predicted: dict[int, float], growth_fraction: float
) -> tuple[bool, float, float]:
    """(held, measured log-growth, predicted log-growth) of the needed width from the first to the last depth;
    a depth not invertible within the grid (None) counts as unbounded growth."""
    d0, d1 = min(need), max(need)
    n0, n1 = need[d0], need[d1]
    measured = math.log(n1 / n0) if n0 and n1 and all(need.values()) else math.inf
    expected = math.log(predicted[d1] / predicted[d0])
    return measured >= growth_fraction * expected, measured, expected


@experiment(
    "relu-width",
    "§4.3, fig. 9: the width a full-rank Jacobian needs with depth; eq. 4 inversions through constant-width vs "
    "widening ReLU MLPs (m_i at matched m_g) as a measurement.",
    "Badger §4.3, fig. 9",
    criterion=CRITERION,
    full=FULL,
    quick=QUICK,
)
def run(ctx: ExperimentContext) -> Verdict:
    p = ctx.settings(FULL, QUICK)
    size = p["size"]
    ctx.params.update(p, note="prediction: report m·(1/p)^n; argument's surviving fraction m/(1−p)^n; equal at p = 1/2")
    img, name = small_image(size)
    x = img[0]
    shape = (int(x.shape[0]), int(x.shape[1]), int(x.shape[2]))
    m = x.numel()
    # widths m·(1 + step)^k: a geometric grid fine enough to resolve a factor of 1.05
    grid = sorted(
        {
            math.ceil(m * (1 + p["width_step"]) ** k)
            for k in range(int(math.log(p["max_factor"]) / math.log1p(p["width_step"])) + 1)
        }
    )
    rank_rows, need = [], {}
    for d in p["depths"]:
        w, rows = smallest_full_rank_width(shape, x, d, grid, ctx.seed)
        rank_rows += rows
        need[d] = w
    ctx.save_csv(rank_rows, "rank_sweep.csv")

    # zeroed fraction p per layer, at the image and at a few other real inputs,
    # in the deepest net at the largest needed width
    inputs = [x]
    with contextlib.suppress(InvertError):  # shared/ absent: the image alone
        from invert.datasets import sample_images

        more, _ = sample_images("imagenet", limit=p["p_inputs"] - 1, size=max(size, 8))
        inputs += list(downsample(more, size))
    batch = torch.stack(inputs)
    w_ref = max([w for w in need.values() if w is not None], default=grid[-1])
    ref = relu_mlp(shape, w_ref, max(p["depths"]), ctx.seed)
    fr_img = zeroed_fractions(ref, x[None])
    fr_all = zeroed_fractions(ref, batch)
    p_hat = sum(fr_all) / len(fr_all)
    layer_rows = []
    for k in range(1, ref.depth + 1):
        r, d_in = own_input_rank(ref, x, k)
        layer_rows.append(
            {
                "layer": k,
                "width": w_ref,
                "input_size": d_in,
                "own_input_rank": r,
                "invertible_from_own_input": r == d_in,
                "zeroed_fraction_image": fr_img[k - 1],
                "zeroed_fraction_inputs": fr_all[k - 1],
            }
        )
    ctx.save_csv(layer_rows, "layers.csv")
    # layer-wise: one ReLU layer from an input of size m needs this width (the depth-1 answer), ratio vs 1/(1-p)
    need_first = need[p["depths"][0]]
    one_layer_ratio = need_first / m if need_first else float("nan")

    depths = [d for d in p["depths"] if need[d] is not None]
    pred_surv = {d: m / (1 - p_hat) ** d for d in p["depths"]}
    pred_report = {d: m * (1 / p_hat) ** d for d in p["depths"]}
    rows = [
        {
            "depth": d,
            "required_width": need[d] if need[d] is not None else "",
            "input_size": m,
            "p": p_hat,
            "predicted_surviving_m_over_1mp_n": pred_surv[d],
            "predicted_report_m_over_p_n": pred_report[d],
        }
        for d in p["depths"]
    ]
    ctx.save_csv(rows, "required_width.csv")

    fig, ax = subplots(figsize=(6.5, 4), layout="constrained")
    ax.plot(depths, [need[d] for d in depths], "o-", label="measured: smallest width with rank-m Jacobian")
    ax.plot(p["depths"], [pred_surv[d] for d in p["depths"]], "--", label=f"m/(1−p)ⁿ, p = {p_hat:.2f}")
    ax.plot(p["depths"], [pred_report[d] for d in p["depths"]], ":", label="m·(1/p)ⁿ (report's text)")
    ax.axhline(m, color="gray", lw=1, label=f"m = {m} (input size)")
    ax.set(
        yscale="log",
        xlabel="depth n (ReLU layers, all of equal width)",
        ylabel="width (units per layer)",
        title=f"ReLU MLP on a 3×{size}×{size} image: width for local invertibility",
    )
    ax.set_xticks(p["depths"])
    ax.legend(fontsize=8)
    ctx.save_figure(fig, "required_width.png")

    # verdict: does the required width grow with depth at least `growth_fraction` as fast (in log) as m/(1−p)ⁿ predicts?
    d0, d1 = p["depths"][0], p["depths"][-1]
    held, measured_growth, predicted_growth = width_growth_held(
        {d: need[d] for d in p["depths"]}, pred_surv, CRITERION["growth_fraction"]
    )
    ctx.save_json(
        {
            "required_width": need,
            "p": p_hat,
            "p_by_layer_image": fr_img,
            "p_by_layer_inputs": fr_all,
            "input_size": m,
            "measured_log_growth": measured_growth,
            "predicted_log_growth": predicted_growth,
            "one_layer_width_ratio": one_layer_ratio,
            "image": name,
            "inputs": len(inputs),
        },
        "metrics.json",
    )
    rank_part = Verdict(
        claim="local rank: the width keeping a full-rank (locally invertible) image → layer-n map grows like m/(1−p)ⁿ",
        criterion=(
            f"the smallest equal width with a rank-m Jacobian grows from depth {d0} to {d1} by ≥ "
            f"{CRITERION['growth_fraction']:.0%} of the predicted log-growth"
        ),
        measured=(
            f"p = {p_hat:.3f}; smallest width "
            + ", ".join(f"depth {d}: {need[d] if need[d] else f'>{grid[-1]}'}" for d in p["depths"])
            + " (predicted "
            + ", ".join(f"{pred_surv[d]:.0f}" for d in p["depths"])
            + f"); log-growth {measured_growth:.2f} vs {predicted_growth:.2f}"
        ),
        held=held,
    )

    # the document's own measure: eq. 4 inversions through constant-width and geometrically widening ReLU nets
    gd = gd_rows(("constant", "widening"), p["gd_depths"], p["seeds"], x, p, ctx.seed)
    ctx.save_csv(gd, "gd_inversions.csv")
    cmp_ = compare_families(gd, "constant", "widening", [d for d in p["gd_depths"] if d >= 2])
    unmatched = sum(not r["matched"] for r in gd)
    gd_wider_farther = None if not cmp_ else all(c["difference"] > c["spread"] for c in cmp_.values())
    smin = {
        (f, d): sum(r["sigma_min"] for r in gd if r["family"] == f and r["depth"] == d) / p["seeds"]
        for f in ("constant", "widening")
        for d in p["gd_depths"]
    }
    fig, axes = subplots(1, 2, figsize=(11, 4), layout="constrained")
    for f, mk in (("constant", "o-"), ("widening", "s-")):
        st = [group_stats(gd, f, d) for d in p["gd_depths"]]
        ds = [d for d, g in zip(p["gd_depths"], st, strict=True) if g]
        axes[0].errorbar(
            ds,
            [g["mean"] for g in st if g],
            yerr=[g["spread"] for g in st if g],
            fmt=mk,
            capsize=3,
            label=f"{f} ({'2m per layer' if f == 'constant' else 'm·2ⁿ at layer n'})",
        )
        axes[1].plot(p["gd_depths"], [max(smin[f, d], 1e-12) for d in p["gd_depths"]], mk, label=f)
    axes[0].set(
        xlabel="depth n (ReLU layers)",
        ylabel="m_i where m_g first < m_s (mean ± sd over seeds)",
        title="eq. 4 inversion: input distance at matched m_g",
    )
    axes[1].set(
        yscale="log",
        xlabel="depth n",
        ylabel="σ_min of ∂O/∂a at the image (mean over seeds)",
        title="Jacobian's smallest singular value",
    )
    for ax in axes:
        ax.set_xticks(p["gd_depths"])
        ax.legend(fontsize=8)
    ctx.save_figure(fig, "gd_matched_m_i.png")
    gd_measured = (
        "; ".join(
            f"depth {d}: {c['constant']:.3g} vs {c['widening']:.3g} (diff {c['difference']:+.3g}, "
            f"spread {c['spread']:.2g})"
            for d, c in cmp_.items()
        )
        + f"; {unmatched} of {len(gd)} runs never reached m_s; σ_min constant "
        + ", ".join(f"{smin['constant', d]:.2g}" for d in p["gd_depths"])
        + ", widening "
        + ", ".join(f"{smin['widening', d]:.2g}" for d in p["gd_depths"])
    )
    return Verdict(
        claim=CRITERION.claim,
        criterion="the outcome is the local-rank part's (the document's width argument); the eq. 4 comparison of "
        "constant-width and widening nets is reported as a measurement, not judged",
        measured=(
            f"zeroed fraction p = {p_hat:.3f} (mean over {ref.depth} layers and {len(inputs)} inputs; "
            "by layer at the image "
            + ", ".join(f"{v:.2f}" for v in fr_img)
            + f"). Smallest equal width with a rank-{m} Jacobian: "
            + ", ".join(f"depth {d}: {need[d] if need[d] else f'>{grid[-1]}'}" for d in p["depths"])
            + " (m/(1−p)ⁿ predicts "
            + ", ".join(f"{pred_surv[d]:.0f}" for d in p["depths"])
            + f"). One layer needs {one_layer_ratio:.2f}·m ≈ 1/(1−p) = {1 / (1 - p_hat):.2f}; "
            f"at width {w_ref} layers ≥2 are invertible from their own input: "
            f"{[r['invertible_from_own_input'] for r in layer_rows]}. Measured, not judged — eq. 4, m_i at "
            "m_g < m_s, constant 2m vs widening: " + gd_measured + "."
        ),
        held=held,
        details={
            "required_width": need,
            "p": p_hat,
            "measured_log_growth": measured_growth,
            "predicted_log_growth": predicted_growth,
            "gd": {str(d): c for d, c in cmp_.items()},
            "gd_unmatched": unmatched,
            "gd_constant_farther": gd_wider_farther,
        },
        parts=[rank_part],
        key_figure=f"full-rank width {need[d0]} → {need[d1]} at depth {d0} → {d1} vs m/(1−p)ⁿ "
        f"{pred_surv[d0]:.0f} → {pred_surv[d1]:.0f}",
    )
