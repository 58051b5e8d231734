"""`mlp-depth` (fig. 8): gradient-descent inversion of square linear MLPs of increasing depth."""

from __future__ import annotations

from typing import Any

from invert.analysis.plots import subplots
from invert.encoders import build_encoder
from invert.experiments.mlp_width import SWEEP_FULL, SWEEP_QUICK, mlp_sweep
from invert.experiments.registry import Criterion, ExperimentContext, Verdict, experiment
from invert.inversion import invert

FULL: dict[str, Any] = {**SWEEP_FULL, "depths": [1, 2, 3, 4, 5, 6]}
QUICK: dict[str, Any] = {**SWEEP_QUICK, "depths": [1, 2, 3, 4]}


CRITERION = Criterion(
    claim="Deeper square linear MLPs are inverted more slowly by gradient descent, but still converge (fig. 8).",
    measure="m_i = ‖a − a_g‖ (the input distance, not the optimised output distance) along plain GD on the output "
    "L2 distance, per depth",
    rule="HELD iff m_i at the early iteration (early_fraction of the budget) is larger for the deepest net than for "
    "depth 1, and at every depth m_i at the end < m_i half-way < m_i at the start; NOT REPRODUCED otherwise",
    inconclusive="never by design (one deterministic run per depth)",
    thresholds={"early_fraction": 0.2},
)


@experiment(
    "mlp-depth",
    "Fig. 8: deeper square linear MLPs are inverted more slowly by gradient descent but still converge.",
    "Badger §4.2, fig. 8",
    criterion=CRITERION,
    full=FULL,
    quick=QUICK,
    minutes=17,
)
def run(ctx: ExperimentContext) -> Verdict:
    p, n, img, _, cfg = mlp_sweep(ctx, FULL, QUICK)
    size = p["size"]
    rows, curves = [], {}
    early_it = CRITERION["early_fraction"] * p["iterations"]
    for d in p["depths"]:
        enc = build_encoder(f"mlp-{n}x{d}-in3x{size}x{size}", "output", seed=ctx.seed)
        res = invert(enc, img, cfg)
        hist = [(h["iteration"], h["m_g"], h["m_i"]) for h in res.history]
        curves[d] = hist
        early = next(m for it, _, m in hist if it >= early_it)
        half = next(m for it, _, m in hist if it >= p["iterations"] / 2)
        rows.append(
            {
                "depth": d,
                "m_i_start": hist[0][2],
                "m_i_early": early,
                "m_i_half": half,
                "m_i": float(res.m_i),
                "m_g": float(res.m_g),
                "m_s": float(res.m_s),
            }
        )
    ctx.save_csv(rows, "depth_sweep.csv")
    ctx.save_csv(
        [{"depth": d, "iteration": it, "m_g": g, "m_i": m} for d, h in curves.items() for it, g, m in h], "history.csv"
    )
    fig, ax = subplots(figsize=(6.5, 4), layout="constrained")
    for d, h in curves.items():
        ax.plot([x[0] for x in h], [x[2] for x in h], label=f"depth {d}")
    ax.set(
        yscale="log",
        xlabel="iteration",
        ylabel="m_i = ‖a − a_g‖₂",
        title=f"linear MLP, width {n} = input size, plain GD",
    )
    ax.legend(fontsize=8)
    ctx.save_figure(fig, "m_i_vs_iteration.png")
    early_mi = [r["m_i_early"] for r in rows]
    slower = early_mi[-1] > early_mi[0]
    converging = all(r["m_i"] < r["m_i_half"] < r["m_i_start"] for r in rows)
    held = slower and converging
    return Verdict(
        claim="More layers give less accurate inputs for a fixed number of iterations, "
        "but with more iterations deeper models still approach the input (fig. 8).",
        measured=(
            f"m_i at iteration {int(early_it)} by depth: "
            + ", ".join(f"{r['depth']}: {r['m_i_early']:.3g}" for r in rows)
            + f" (deepest {'slower' if slower else 'NOT slower'} than depth {rows[0]['depth']}); final m_i "
            + ", ".join(f"{r['depth']}: {r['m_i']:.3g}" for r in rows)
            + f"; m_i still decreasing at every depth: {'yes' if converging else 'no'}."
        ),
        criterion=(
            f"HELD iff m_i at iteration {int(early_it)} is larger for the deepest net than for depth "
            f"{rows[0]['depth']} (slower), and at every depth m_i at the end < m_i half-way < m_i at the start "
            "(still converging)"
        ),
        held=held,
        details={"early": early_mi, "final": [r["m_i"] for r in rows]},
    )
