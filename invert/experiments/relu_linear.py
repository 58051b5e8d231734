"""`relu-vs-linear` (§4.3): at the same widths, ReLU MLPs leave gradient descent farther from the input at a given m_g
than linear ones.
"""

from __future__ import annotations

from typing import Any

from invert.analysis.plots import subplots
from invert.experiments._support import spread
from invert.experiments.registry import Criterion, ExperimentContext, Verdict, experiment
from invert.experiments.relu_width import (
    GD_FULL,
    GD_QUICK,
    compare_families,
    gd_rows,
    group_stats,
    small_image,
)

FULL: dict[str, Any] = {"size": 12, "depths": [1, 2, 3, 4], **GD_FULL}
QUICK: dict[str, Any] = {"size": 6, "depths": [1, 2, 3], **GD_QUICK}


CRITERION = Criterion(
    claim="ReLU makes inversion harder: at a given m_g, ReLU MLPs leave the input farther away (larger m_i) than "
    "linear MLPs of the same widths (§4.3).",
    measure="m_i (input distance, not the optimised m_g) at the first iteration where m_g < m_s — the same match in "
    "each net's own units — eq. 4 with line-searched ε, over seeds, every layer 2m wide",
    rule="at every depth where all runs of both families got below m_s: HELD iff mean m_i(ReLU) − mean m_i(linear) "
    "> the larger sd over seeds at every such depth; NOT REPRODUCED iff below −sd at some depth",
    inconclusive="no depth where all runs matched, or a difference within ± the sd (not significant)",
    min_samples=2,
)


@experiment(
    "relu-vs-linear",
    "§4.3: ReLU raises m_i at a given m_g — linear vs ReLU MLPs of the same widths, eq. 4 inversions over seeds.",
    "Badger §4.3",
    criterion=CRITERION,
    full=FULL,
    quick=QUICK,
    minutes=22,
)
def run(ctx: ExperimentContext) -> Verdict:
    p = ctx.settings(FULL, QUICK)
    ctx.params.update(
        p,
        note=(
            "both families: every layer 2m wide (m = 3·size²); ReLU after every layer vs none; ε line-searched per net"
        ),
    )
    img, name = small_image(p["size"])
    x = img[0]
    rows = gd_rows(("constant", "linear"), p["depths"], p["seeds"], x, p, ctx.seed)
    ctx.save_csv([{**r, "family": "relu" if r["family"] == "constant" else "linear"} for r in rows], "inversions.csv")
    cmp_ = compare_families(rows, "constant", "linear", p["depths"])
    unmatched = sum(not r["matched"] for r in rows)

    fig, ax = subplots(figsize=(6.5, 4), layout="constrained")
    for fam, label, mk in (("constant", "ReLU", "o-"), ("linear", "linear", "s-")):
        st = [(d, group_stats(rows, fam, d)) for d in p["depths"]]
        ax.errorbar(
            [d for d, g in st if g],
            [g["mean"] for d, g in st if g],
            yerr=[g["spread"] for d, g in st if g],
            fmt=mk,
            capsize=3,
            label=label,
        )
    ax.set(
        xlabel="depth (layers, each 2m wide)",
        ylabel="m_i where m_g first < m_s (mean ± sd over seeds)",
        title=f"eq. 4 inversion of a 3×{p['size']}×{p['size']} {name}: ReLU vs linear MLP",
    )
    ax.set_xticks(p["depths"])
    ax.legend()
    ctx.save_figure(fig, "m_i_at_matched_m_g.png")

    held = relu_judgement(cmp_)
    diffs = [c["difference"] for c in cmp_.values()]
    ctx.save_json(
        {
            "by_depth": {str(d): c for d, c in cmp_.items()},
            "unmatched_runs": unmatched,
            "difference_spread_over_depths": spread(diffs),
        },
        "metrics.json",
    )
    return Verdict(
        claim="Including ReLU activations after each layer leads to a substantial drop in representation accuracy: "
        "‖a − a_g‖ is larger for a given output distance than without them.",
        criterion=(
            "m_i at the first iteration where m_g < m_s (the same match in each net's own units), "
            f"{p['seeds']} seeds per net; at every depth where all runs of both families got there, mean m_i(ReLU) "
            "− mean m_i(linear) > the larger sd over seeds; INCONCLUSIVE if no depth qualifies"
        ),
        measured=(
            "; ".join(
                f"depth {d}: ReLU {c['constant']:.3g} vs linear {c['linear']:.3g} (diff {c['difference']:+.3g}, "
                f"spread {c['spread']:.2g})"
                for d, c in cmp_.items()
            )
            + f"; {unmatched} of {len(rows)} runs never reached m_s."
        ),
        held=held,
        details={"by_depth": {str(d): c for d, c in cmp_.items()}, "unmatched": unmatched},
    )


def relu_judgement(cmp_: dict) -> bool | None:
    """HELD if every compared depth's difference exceeds its spread, NOT REPRODUCED if one is below −spread,
    else INCONCLUSIVE (none compared, or not significant)."""
    if not cmp_:
        return None
    if any(c["difference"] < -c["spread"] for c in cmp_.values()):
        return False
    return True if all(c["difference"] > c["spread"] for c in cmp_.values()) else None
