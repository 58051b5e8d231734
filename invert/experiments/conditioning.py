"""`conditioning`: singular-value spectra of linear MLPs against depth, and of ResNet-50 Jacobians at a real image."""

from __future__ import annotations

import itertools
from typing import Any

import torch

from invert.analysis.conditioning import (
    condition_number,
    jacobian_spectrum,
    mlp_singular_values,
)
from invert.analysis.plots import subplots
from invert.encoders import build_encoder
from invert.experiments._support import report_image
from invert.experiments.registry import Criterion, ExperimentContext, Verdict, experiment

FULL: dict[str, Any] = {
    "mlp_size": 29,
    "depths": [1, 2, 3, 4, 5],
    "resnet_size": 224,
    "layers": ["conv1", "conv2", "conv3", "conv4", "conv5"],
    "k": 6,
    "svds_tol": 0.0,
    "rank": True,
}
QUICK: dict[str, Any] = {
    "mlp_size": 12,
    "depths": [1, 2, 3, 4],
    "resnet_size": 16,
    "layers": ["conv1", "conv2"],
    "k": 2,
    "svds_tol": 1e-3,
    "rank": False,
}


CRITERION = Criterion(
    claim="Linear MLPs grow worse conditioned with depth, so their inversion gets harder (§4, §4.2); ResNet-50 "
    "Jacobian spectra are reported beside them.",
    measure="condition number σ_max/σ_min of square linear MLPs (the report's image size) at each depth, from the "
    "exact singular values (no optimisation involved)",
    rule="HELD iff κ grows strictly with every added layer and exceeds min_kappa at depth 3; NOT REPRODUCED otherwise",
    inconclusive="never by design: κ is exact; the ResNet-50 spectra are a measurement, not judged",
    thresholds={"min_kappa": 1e4},
)


def _mlp_spectra(ctx: ExperimentContext, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Exact singular values of square linear MLPs at each depth: a row (κ, σ_max, σ_min) per depth, the values
    as JSON and their plot. The verdict is judged on these rows."""
    img, _ = report_image(p["mlp_size"])
    n = img[0].numel()
    rows, spectra = [], {}
    for d in p["depths"]:
        enc = build_encoder(
            f"mlp-{n}x{d}-in3x{p['mlp_size']}x{p['mlp_size']}", "output", seed=ctx.seed, dtype=torch.float64
        )
        s = mlp_singular_values(enc)
        spectra[d] = s
        rows.append(
            {
                "depth": d,
                "n": n,
                "sigma_max": float(s[0]),
                "sigma_min": float(s[-1]),
                "condition": condition_number(s, n),
            }
        )
    ctx.save_csv(rows, "mlp_spectra.csv")
    ctx.save_json({str(d): s.tolist() for d, s in spectra.items()}, "mlp_singular_values.json")
    fig, ax = subplots(figsize=(6.5, 4), layout="constrained")
    for d, s in spectra.items():
        ax.plot(torch.arange(1, n + 1), s, label=f"depth {d} (κ = {condition_number(s, n):.2g})")
    ax.set(
        yscale="log",
        xlabel="singular value index",
        ylabel="singular value σ_i of W_d⋯W_1",
        title=f"untrained linear MLP, width {n} = input size (float64 SVD)",
    )
    ax.legend(fontsize=8)
    ctx.save_figure(fig, "mlp_spectra.png")
    return rows


def _resnet_spectra(ctx: ExperimentContext, p: dict[str, Any]) -> list[dict[str, Any]]:
    """ResNet-50 Jacobian spectra at the report image, one row per layer (reported, not judged), with their plot."""
    rimg, name = report_image(p["resnet_size"])
    rrows = []
    for layer in p["layers"]:
        enc = build_encoder("resnet50", layer, seed=ctx.seed, input_size=p["resnet_size"])
        sp = jacobian_spectrum(
            enc, rimg, k=p["k"], dense_limit=0, estimate_rank=p["rank"], seed=ctx.seed, svds_tol=p["svds_tol"]
        )
        rrows.append(
            {"layer": layer, **{k: v for k, v in sp.to_dict().items() if k != "largest"}, "largest": sp.largest}
        )
    ctx.save_csv(rrows, "resnet50_jacobian.csv")
    fig, ax = subplots(figsize=(6.5, 4), layout="constrained")
    for r in rrows:
        ax.plot(
            range(1, len(r["largest"]) + 1),
            r["largest"],
            "o-",
            label=f"{r['layer']} (outputs/inputs = {r['n_out'] / r['n_in']:.2f})",
        )
    ax.set(
        yscale="log",
        xlabel="rank of singular value (largest first)",
        ylabel="σ_i of ∂O/∂a at the image",
        title=f"untrained ResNet-50 Jacobian, {p['resnet_size']} px {name}",
    )
    ax.legend(fontsize=8)
    ctx.save_figure(fig, "resnet50_top_singular_values.png")
    return rrows


@experiment(
    "conditioning",
    "§4: linear MLPs grow worse conditioned with depth; ResNet-50 Jacobian spectra conv1…conv5.",
    "Badger §4, §4.2",
    criterion=CRITERION,
    full=FULL,
    quick=QUICK,
    minutes=14,
)
def run(ctx: ExperimentContext) -> Verdict:
    p = ctx.settings(FULL, QUICK)
    ctx.params.update(p)
    rows = _mlp_spectra(ctx, p)
    rrows = _resnet_spectra(ctx, p)

    conds = [r["condition"] for r in rows]
    grows = all(b > a for a, b in itertools.pairwise(conds))
    k3 = next((r["condition"] for r in rows if r["depth"] == 3), conds[-1])
    held = grows and k3 > CRITERION["min_kappa"]
    deficient = [r["layer"] for r in rrows if r["n_out"] < r["n_in"]]
    return Verdict(
        claim="An invertible (square, linear) MLP is poorly conditioned, and more so the deeper it is: "
        "its end-to-end map stretches input directions at very different scales (approximate non-invertibility).",
        measured=(
            f"condition number by depth {', '.join(f'{c:.3g}' for c in conds)} "
            f"({'grows' if grows else 'does NOT grow'} with depth; depth 3: "
            f"{k3:.3g}). ResNet-50 at {p['resnet_size']} px: σ_max "
            + ", ".join(f"{r['layer']} {r['sigma_max']:.3g}" for r in rrows)
            + (
                f"; fewer outputs than inputs (a null space, exactly non-invertible) at {', '.join(deficient)}"
                if deficient
                else ""
            )
            + (
                ("; SLQ rank/n_in " + ", ".join(f"{r['layer']} {r['rank_fraction']:.2f}" for r in rrows))
                if p["rank"]
                else ""
            )
            + "."
        ),
        criterion=(
            "HELD iff the linear MLP's condition number σ_max/σ_min grows strictly with every added layer and exceeds "
            "1e4 at depth 3"
        ),
        held=held,
        details={"conditions": conds, "resnet": [{k: v for k, v in r.items() if k != "largest"} for r in rrows]},
    )
