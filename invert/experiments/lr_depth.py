"""`lr-by-depth` (appendix): the line-searched step size ε of the badger procedure falls from ~1/2 at conv1 to ~1/1000
at conv5.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from invert.analysis.plots import subplots
from invert.encoders import build_encoder
from invert.experiments._matched import run_tasks
from invert.experiments._support import report_image
from invert.experiments.registry import Criterion, ExperimentContext, Verdict, experiment
from invert.inversion import PRESETS, line_search_lr

LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5"]


FULL: dict[str, Any] = {
    "size": 299,
    "layers": list(LAYERS),
    "trials": 24,
    "trial_iterations": 100,
    "low": 1e-4,
    "high": 10.0,
}
QUICK: dict[str, Any] = {"size": 32, "trials": 10, "trial_iterations": 20}
CLAIMED = {"conv1": 0.5, "conv5": 1e-3}
"""The appendix's ε: approximately 1/2 for conv1 to 1/1000 for conv5."""
CRITERION = Criterion(
    claim="Shallow-layer visualisations need larger learning rates than deep ones, with ε ranging from approximately "
    "1/2 for conv1 to 1/1000 for conv5, found by random line search minimising m_g.",
    measure="the ε the random line search picks per layer of an untrained ResNet-50 (badger procedure), on one "
    "log-uniform grid of trial ε for every layer",
    rule="trend part: HELD iff the chosen ε never increases from conv1 to conv5 and ε(conv1)/ε(conv5) ≥ min_ratio; "
    "the outcome is the trend part's; magnitude part (each end within a factor `within` of the appendix's value) "
    "judged separately",
    inconclusive="images smaller than min_size px (the report works at 299 px; at 32 px conv5 of ResNet-50 is a "
    "single position, a regime the appendix's figures do not address) — the quick setting is INCONCLUSIVE by design",
    thresholds={"min_ratio": 100.0, "within": 5.0, "min_size": 224},
)


def search_layer(task: dict[str, Any]) -> dict[str, Any]:
    """One layer's random line search, an independent task (``--executor``): the badger procedure on the untrained
    ResNet-50 cut at ``task["layer"]``, the report image at ``task["size"]`` px, the same log-uniform trial ε grid
    (``trials`` in [``low``, ``high``], seeded) for every layer. Returns the layer, the chosen ε and every trial."""
    img, _ = report_image(task["size"])
    cfg = PRESETS["badger"].config().updated(size=task["size"], seed=task["seed"], iterations=task["trial_iterations"])
    enc = build_encoder("resnet50", task["layer"], weights="untrained", seed=task["seed"], input_size=task["size"])
    lr, trials = line_search_lr(
        enc,
        img,
        cfg,
        trials=task["trials"],
        trial_iterations=task["trial_iterations"],
        low=task["low"],
        high=task["high"],
        seed=task["seed"],
    )
    return {"layer": task["layer"], "lr": lr, "trials": trials}


@experiment(
    "lr-by-depth",
    "Appendix: the random line search picks ε ≈ 1/2 at conv1 falling to ≈ 1/1000 at conv5 (untrained ResNet-50, "
    "badger procedure).",
    "Badger appendix §8",
    criterion=CRITERION,
    full=FULL,
    quick=QUICK,
    minutes=27,
)
def run(ctx: ExperimentContext) -> Verdict:
    p = ctx.settings(FULL, QUICK)
    ctx.params.update(
        p, note="the same log-uniform trial ε for every layer (one seed), so layers are compared on one grid"
    )
    _, name = report_image(p["size"])
    tasks = [
        {k: p[k] for k in ("size", "trials", "trial_iterations", "low", "high")} | {"layer": layer, "seed": ctx.seed}
        for layer in p["layers"]
    ]
    chosen, rows = {}, []
    for res in run_tasks(search_layer, tasks, ctx.params, "lr-by-depth: line searches"):
        chosen[res["layer"]] = res["lr"]
        rows += [{"layer": res["layer"], **t, "chosen": t["lr"] == res["lr"]} for t in res["trials"]]
    ctx.save_csv(rows, "line_search.csv")

    fig, (ax1, ax2) = subplots(1, 2, figsize=(10, 4), layout="constrained")
    for layer in p["layers"]:
        t = [r for r in rows if r["layer"] == layer and math.isfinite(r["m_g"])]
        ax1.plot([r["lr"] for r in t], [r["m_g"] for r in t], "o-", ms=3, label=layer)
    ax1.set(
        xscale="log",
        yscale="log",
        xlabel="trial ε",
        ylabel=f"m_g after {p['trial_iterations']} steps",
        title="random line search (badger: eq. 5)",
    )
    ax1.legend(fontsize=8)
    ax2.plot(range(len(p["layers"])), [chosen[la] for la in p["layers"]], "o-", label="chosen ε (minimises m_g)")
    ax2.plot(
        [0, len(p["layers"]) - 1],
        [CLAIMED["conv1"], CLAIMED["conv5"]],
        "k:",
        label="the appendix: ≈ 1/2 → 1/1000",
    )
    ax2.set_xticks(range(len(p["layers"])), p["layers"])
    ax2.set(yscale="log", ylabel="ε", title=f"untrained ResNet-50, {name} at {p['size']} px")
    ax2.legend(fontsize=8)
    ctx.save_figure(fig, "chosen_lr.png")

    ctx.save_json({"chosen": chosen}, "metrics.json")
    return lr_verdict(chosen, p)


def lr_verdict(chosen: dict[str, float], p: dict[str, Any]) -> Verdict:
    """The verdict on the chosen ε per layer by :data:`CRITERION` (``p``: the run's settings)."""
    c = CRITERION
    eps = [chosen[la] for la in p["layers"]]
    monotone = all(b <= a for a, b in itertools.pairwise(eps))
    ratio = eps[0] / eps[-1]
    regime = p["size"] >= c["min_size"]
    why = "" if regime else f"{p['size']} px < {c['min_size']} px, a regime the appendix's ε does not address"
    trend = Verdict(
        claim="trend: shallower layers take larger ε, falling by orders of magnitude from the first to the last layer",
        criterion=(
            f"the chosen ε never increases from {p['layers'][0]} to {p['layers'][-1]} and "
            f"ε({p['layers'][0]})/ε({p['layers'][-1]}) ≥ {c['min_ratio']:g}; images ≥ {c['min_size']} px"
        ),
        measured=", ".join(f"{la} {chosen[la]:.3g}" for la in p["layers"])
        + f"; ratio {ratio:.3g}; {'monotone' if monotone else 'NOT monotone'}"
        + (f" — INCONCLUSIVE: {why}" if why else ""),
        held=(monotone and ratio >= c["min_ratio"]) if regime else None,
    )
    ends = {la: v for la, v in CLAIMED.items() if la in chosen}
    near = {la: v / c["within"] <= chosen[la] <= v * c["within"] for la, v in ends.items()}
    magnitude = Verdict(
        claim="magnitude: ε ≈ 1/2 at conv1 and ≈ 1/1000 at conv5",
        criterion=f"each chosen ε within a factor {c['within']:g} of the appendix's value; images ≥ {c['min_size']} px",
        measured=", ".join(
            f"{la} {chosen[la]:.3g} vs {v:g} ({'within' if near[la] else 'outside'})" for la, v in ends.items()
        ),
        held=(all(near.values()) if near else None) if regime else None,
    )
    return Verdict(
        claim=c.claim,
        criterion=f"the outcome is the trend part's (monotone, ratio ≥ {c['min_ratio']:g}); the magnitudes are judged "
        f"separately; INCONCLUSIVE below {c['min_size']} px",
        measured=trend.measured
        + f" ({p['trials']} log-uniform trials in [{p['low']:g}, {p['high']:g}], {p['trial_iterations']} steps each).",
        held=trend.held,
        details={"chosen": chosen, "ratio": ratio, "monotone": monotone},
        parts=[trend, magnitude],
        key_figure=f"ε {eps[0]:.2g} ({p['layers'][0]}) → {eps[-1]:.2g} ({p['layers'][-1]}), ratio {ratio:.3g} "
        f"at {p['size']} px",
    )
