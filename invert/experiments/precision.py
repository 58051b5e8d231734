"""`precision`: exact inversion (eq. 11) of the same linear MLP in float32 and float64."""

from __future__ import annotations

from typing import Any

import torch

from invert.analysis.exact import LinearInverse
from invert.analysis.plots import subplots
from invert.encoders import build_encoder
from invert.experiments._support import report_image
from invert.experiments.registry import Criterion, ExperimentContext, Verdict, experiment

FULL: dict[str, Any] = {
    "size": 29,
    "depths": [1, 2, 3, 4, 5],
    "seeds": 3,
}
QUICK: dict[str, Any] = {"size": 12, "depths": [1, 2, 3, 4], "seeds": 2}
CRITERION = Criterion(
    claim="Exact inversion (eq. 11) of a square linear MLP recovers the input only in float64; in float32 it fails "
    "beyond shallow depths (§4.2).",
    measure="relative input error ‖â − a‖/‖a‖ of the exact inverse, float32 vs float64, same weights, over seeds",
    rule="HELD iff at depth ≥ 3 every float64 error < recovered_below and every float32 error > failed_above; "
    "NOT REPRODUCED otherwise",
    inconclusive="never by design: the inversion is exact and every seed counts",
    thresholds={"recovered_below": 1e-6, "failed_above": 1e-2},
)


@experiment(
    "precision",
    "§4.2: exact inversion of a square linear MLP recovers the input only in float64.",
    "Badger §4.2",
    criterion=CRITERION,
    full=FULL,
    quick=QUICK,
    minutes=3,
)
def run(ctx: ExperimentContext) -> Verdict:
    p = ctx.settings(FULL, QUICK)
    ctx.params.update(p)
    img, _ = report_image(p["size"])
    n = img[0].numel()
    rows = []
    for depth in p["depths"]:
        for s in range(p["seeds"]):
            for dt in (torch.float32, torch.float64):
                enc = build_encoder(
                    f"mlp-{n}x{depth}-in3x{p['size']}x{p['size']}", "output", seed=ctx.seed + s, dtype=dt
                )
                a = img.to(dt)
                with torch.no_grad():
                    rec = LinearInverse(enc)(enc(a))
                err = float((rec.double() - a.double()).norm() / a.double().norm())
                rows.append(
                    {
                        "depth": depth,
                        "seed": ctx.seed + s,
                        "dtype": str(dt).removeprefix("torch."),
                        "relative_error": err,
                    }
                )
    ctx.save_csv(rows, "errors.csv")
    fig, ax = subplots(figsize=(6, 4), layout="constrained")
    for kind, c in (("float32", "C3"), ("float64", "C0")):
        r = [x for x in rows if x["dtype"] == kind]
        ax.plot(
            [x["depth"] for x in r], [max(x["relative_error"], 1e-17) for x in r], "o", color=c, label=kind, alpha=0.8
        )
    ax.axhline(CRITERION["recovered_below"], ls="--", color="gray", lw=1, label="recovered threshold")
    ax.set(
        yscale="log",
        xlabel="depth (square layers of width = input size)",
        ylabel="‖â − a‖ / ‖a‖ (relative)",
        title=f"exact inversion of a {n}-wide linear MLP",
    )
    ax.legend()
    ctx.save_figure(fig, "relative_error.png")
    e32 = [x["relative_error"] for x in rows if x["dtype"] == "float32" and x["depth"] >= 3]
    e64 = [x["relative_error"] for x in rows if x["dtype"] == "float64" and x["depth"] >= 3]
    held = max(e64) < CRITERION["recovered_below"] and min(e32) > CRITERION["failed_above"]
    return Verdict(
        claim=(
            "A three-deep fully connected model can be inverted accurately with eq. 11 only in double (64-bit) "
            "precision."
        ),
        measured=(
            f"depth ≥ 3: float64 relative error ≤ {max(e64):.2g}, float32 ≥ {min(e32):.2g} (recovered: "
            f"< {CRITERION['recovered_below']:g}; failed: > {CRITERION['failed_above']:g})."
        ),
        criterion=(
            f"HELD iff at depth ≥ 3 every float64 relative error ‖â − a‖/‖a‖ < {CRITERION['recovered_below']:g} "
            f"and every float32 one > {CRITERION['failed_above']:g}, over {p['seeds']} seeds"
        ),
        held=held,
        details={"max_float64_error": max(e64), "min_float32_error": min(e32)},
    )
