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
from invert.encoders.mlp import MLP
from invert.errors import InvertError
from invert.experiments._relu_gd import GD_FULL, GD_QUICK, compare_families, gd_rows, group_stats
from invert.experiments._support import report_image
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


def _width_grid(m: int, p: dict[str, Any]) -> list[int]:
    """Widths m·(1 + step)^k up to max_factor·m: a geometric grid fine enough to resolve a factor of 1 + step."""
    return sorted(
        {
            math.ceil(m * (1 + p["width_step"]) ** k)
            for k in range(int(math.log(p["max_factor"]) / math.log1p(p["width_step"])) + 1)
        }
    )


def _needed_widths(
    ctx: ExperimentContext, p: dict[str, Any], shape: tuple[int, int, int], x: torch.Tensor, grid: list[int]
) -> dict[int, int | None]:
    """Per depth, the smallest grid width with a rank-m Jacobian (None beyond the grid); every width tried is
    written to rank_sweep.csv."""
    rank_rows, need = [], {}
    for d in p["depths"]:
        w, rows = smallest_full_rank_width(shape, x, d, grid, ctx.seed)
        rank_rows += rows
        need[d] = w
    ctx.save_csv(rank_rows, "rank_sweep.csv")
    return need


def _reference_fractions(
    x: torch.Tensor, p: dict[str, Any], shape: tuple[int, int, int], w_ref: int, seed: int
) -> tuple[list[torch.Tensor], MLP, list[float], list[float]]:
    """The zeroed fraction p per layer of the reference net (the deepest, at the largest needed width), at the image
    and over a few real inputs: (the inputs, the net, fractions at the image, fractions over the inputs). The inputs
    are the image and p_inputs − 1 other real images (the image alone when the shared material is absent)."""
    inputs = [x]
    with contextlib.suppress(InvertError):  # shared/ absent: the image alone
        from invert.datasets import sample_images

        more, _ = sample_images("imagenet", limit=p["p_inputs"] - 1, size=max(p["size"], 8))
        inputs += list(downsample(more, p["size"]))
    batch = torch.stack(inputs)
    ref = relu_mlp(shape, w_ref, max(p["depths"]), seed)
    return inputs, ref, zeroed_fractions(ref, x[None]), zeroed_fractions(ref, batch)


def _layer_rows(
    ref: MLP, x: torch.Tensor, w_ref: int, fr_img: list[float], fr_all: list[float]
) -> list[dict[str, Any]]:
    """Per layer of the reference net: whether it is invertible from its own input at the image, and its zeroed
    fraction at the image and over all inputs."""
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
    return layer_rows


def _save_required_width(
    ctx: ExperimentContext,
    p: dict[str, Any],
    need: dict[int, int | None],
    pred_surv: dict[int, float],
    pred_report: dict[int, float],
    p_hat: float,
    m: int,
) -> None:
    """required_width.csv and its plot: the measured width per depth against m/(1−p)ⁿ and the text's m·(1/p)ⁿ."""
    depths = [d for d in p["depths"] if need[d] is not None]
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
        title=f"ReLU MLP on a 3×{p['size']}×{p['size']} image: width for local invertibility",
    )
    ax.set_xticks(p["depths"])
    ax.legend(fontsize=8)
    ctx.save_figure(fig, "required_width.png")


def _rank_part(
    p: dict[str, Any],
    need: dict[int, int | None],
    pred_surv: dict[int, float],
    p_hat: float,
    grid: list[int],
    growth: tuple[bool, float, float],
) -> Verdict:
    """The local-rank part, which decides the verdict: does the width keeping a rank-m Jacobian grow with depth
    at least growth_fraction as fast (in log) as m/(1−p)ⁿ predicts?"""
    held, measured_growth, predicted_growth = growth
    d0, d1 = p["depths"][0], p["depths"][-1]
    return Verdict(
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


def _save_gd_plot(
    ctx: ExperimentContext, p: dict[str, Any], gd: list[dict], smin: dict[tuple[str, int], float]
) -> None:
    """gd_matched_m_i.png: m_i at matched m_g (mean ± sd over seeds) and σ_min of ∂O/∂a, by depth, per family."""
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


def _constant_vs_widening(
    ctx: ExperimentContext, p: dict[str, Any], x: torch.Tensor
) -> tuple[dict[int, dict], int, str]:
    """The document's own measure, reported and not judged: eq. 4 inversions through constant-width (2m) and
    geometrically widening (m·2ⁿ) ReLU nets. Returns the per-depth comparison, the runs that never reached m_s and
    the comparison's text."""
    gd = gd_rows(("constant", "widening"), p["gd_depths"], p["seeds"], x, p, ctx.seed)
    ctx.save_csv(gd, "gd_inversions.csv")
    cmp_ = compare_families(gd, "constant", "widening", [d for d in p["gd_depths"] if d >= 2])
    unmatched = sum(not r["matched"] for r in gd)
    smin = {
        (f, d): sum(r["sigma_min"] for r in gd if r["family"] == f and r["depth"] == d) / p["seeds"]
        for f in ("constant", "widening")
        for d in p["gd_depths"]
    }
    _save_gd_plot(ctx, p, gd, smin)
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
    return cmp_, unmatched, gd_measured


@experiment(
    "relu-width",
    "§4.3, fig. 9: the width a full-rank Jacobian needs with depth; eq. 4 inversions through constant-width vs "
    "widening ReLU MLPs (m_i at matched m_g) as a measurement.",
    "Badger §4.3, fig. 9",
    criterion=CRITERION,
    full=FULL,
    quick=QUICK,
    minutes=31,
)
def run(ctx: ExperimentContext) -> Verdict:
    p = ctx.settings(FULL, QUICK)
    size = p["size"]
    ctx.params.update(p, note="prediction: report m·(1/p)^n; argument's surviving fraction m/(1−p)^n; equal at p = 1/2")
    img, name = small_image(size)
    x = img[0]
    shape = (int(x.shape[0]), int(x.shape[1]), int(x.shape[2]))
    m = x.numel()
    grid = _width_grid(m, p)
    need = _needed_widths(ctx, p, shape, x, grid)

    w_ref = max([w for w in need.values() if w is not None], default=grid[-1])
    inputs, ref, fr_img, fr_all = _reference_fractions(x, p, shape, w_ref, ctx.seed)
    p_hat = sum(fr_all) / len(fr_all)
    layer_rows = _layer_rows(ref, x, w_ref, fr_img, fr_all)
    ctx.save_csv(layer_rows, "layers.csv")
    # layer-wise: one ReLU layer from an input of size m needs this width (the depth-1 answer), ratio vs 1/(1-p)
    need_first = need[p["depths"][0]]
    one_layer_ratio = need_first / m if need_first else float("nan")

    pred_surv = {d: m / (1 - p_hat) ** d for d in p["depths"]}
    pred_report = {d: m * (1 / p_hat) ** d for d in p["depths"]}
    _save_required_width(ctx, p, need, pred_surv, pred_report, p_hat, m)

    # verdict: does the required width grow with depth at least `growth_fraction` as fast (in log) as m/(1−p)ⁿ predicts?
    d0, d1 = p["depths"][0], p["depths"][-1]
    growth = width_growth_held({d: need[d] for d in p["depths"]}, pred_surv, CRITERION["growth_fraction"])
    held, measured_growth, predicted_growth = growth
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
    rank_part = _rank_part(p, need, pred_surv, p_hat, grid, growth)

    # the document's own measure: eq. 4 inversions through constant-width and geometrically widening ReLU nets
    cmp_, unmatched, gd_measured = _constant_vs_widening(ctx, p, x)
    gd_wider_farther = None if not cmp_ else all(c["difference"] > c["spread"] for c in cmp_.values())
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
