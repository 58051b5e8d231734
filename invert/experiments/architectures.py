"""``architectures``: untrained ResNet-18/50/152 inverted at their deepest blocks (report §3, fig. 3).

Claims, judged separately: (a) every inversion reaches an embedding closer to the target's than
the shifted input's (m_g < m_s) whatever its visual quality; (b) the deeper network gives a worse
conv5 picture — ResNet-152 worse than ResNet-50 — measured at matched m_g < m_s by the Pearson
correlation r of a_g with a (lower r = worse) and m_i. Procedure: eq. 4 with a line-searched ε
(``_matched``). Untrained models, as in fig. 3, so no weights are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from invert.experiments._matched import PROCEDURE, invert_matched, paired_judgement, run_tasks
from invert.experiments._support import report_image
from invert.experiments.registry import Criterion, ExperimentContext, Verdict, experiment, joint_verdict

MODELS = ("resnet18", "resnet50", "resnet152")


@dataclass(frozen=True)
class ArchitectureSettings:
    """Sizes of one ``architectures`` run: image size, layers, iterations, line search and seeds
    (the spread of part b).
    """

    size: int
    layers: tuple[str, ...]
    iterations: int
    trials: int
    trial_iterations: int
    seeds: int


QUICK = ArchitectureSettings(32, ("conv5",), 100, 3, 8, 1)
FULL = ArchitectureSettings(224, ("conv4", "conv5"), 500, 6, 30, 3)


CRITERION = Criterion(
    claim="Untrained ResNet-18/50/152 at their deepest layers all reach m_g < m_s whatever the picture, and "
    "ResNet-152's conv5 picture is worse than ResNet-50's (fig. 3).",
    measure="(a) m_g < m_s reached by eq. 4 with ε line-searched on a log scale over [10⁻³/s, 1/s], s = the layer's "
    "mean |activation| (the appendix's random search); (b) Pearson r of a_g with the target (a second measure, "
    "not the optimised m_g), ResNet-50 minus ResNet-152 at the deepest layer, paired by seed",
    rule="(a) HELD iff every inversion reaches m_g < m_s; (b) HELD iff mean r(50) − r(152) > its std over seeds, "
    "NOT REPRODUCED iff < −std; both parts must hold",
    inconclusive="(b) with fewer than min_pairs seeds where both converged, or |mean| ≤ std (not significant)",
    thresholds={"min_pairs": 2},
    min_samples=2,
)


@experiment(
    "architectures",
    "Untrained ResNet-18/50/152 at conv5: m_g < m_s for each; ResNet-152 worse than ResNet-50 (fig. 3).",
    "report §3, fig. 3",
    criterion=CRITERION,
    full=FULL,
    quick=QUICK,
    minutes=23,
)
def architectures(ctx: ExperimentContext) -> Verdict:
    s = ctx.settings(FULL, QUICK)
    target, name = report_image(s.size)
    ctx.params.update(
        models=list(MODELS),
        size=s.size,
        layers=list(s.layers),
        target=name,
        iterations=s.iterations,
        seed_values=list(range(ctx.seed, ctx.seed + s.seeds)),
        weights="untrained",
        procedure=PROCEDURE,
    )
    tasks = [
        {
            "model": m,
            "weights": "untrained",
            "layer": layer,
            "size": s.size,
            "blur": False,
            "iterations": s.iterations,
            "seed": seed,
            "device": str(ctx.device),
            "targets": target,
            "names": [name],
            "trials": s.trials,
            "trial_iterations": s.trial_iterations,
            "tag": {"model": m},
        }
        for m in MODELS
        for layer in s.layers
        for seed in range(ctx.seed, ctx.seed + s.seeds)
    ]
    results = run_tasks(invert_matched, tasks, ctx.params, "architectures: inversions")
    rows = [r for res in results for r in res["rows"]]
    ctx.save_csv(rows, "architectures.csv")
    _figure(ctx, s, target, name, tasks, results)
    return _verdict(rows, s)


def _figure(
    ctx: ExperimentContext, s: ArchitectureSettings, target: Any, name: str, tasks: list[dict], results: list[dict]
) -> None:
    from invert.analysis.plots import image_grid

    grid, caps, labels = [], [], []
    for task, res in zip(tasks, results, strict=True):
        if task["seed"] != ctx.seed:
            continue
        r = res["rows"][0]
        grid.append([target[0], res["images"][0]])
        caps.append([name, f"m_g {r['m_g']:.3g}  m_s {r['m_s']:.3g}\nm_i {r['m_i']:.3g}  r {r['pearson']:.2f}"])
        labels.append(f"{task['model']} {task['layer']}")
    fig = image_grid(
        grid,
        labels,
        ["target", "a_g (untrained)"],
        caps,
        title=f"Untrained ResNets at depth, {s.size} px, eq. 4 with line-searched ε, stopped at m_g < m_s",
    )
    ctx.save_figure(fig, "architectures_grid.png")


def _verdict(rows: list[dict[str, Any]], s: ArchitectureSettings) -> Verdict:
    below = {m: sum(r["converged"] for r in rows if r["model"] == m) for m in MODELS}
    count = {m: sum(r["model"] == m for r in rows) for m in MODELS}
    ratio = {m: max(r["m_g"] / r["m_s"] for r in rows if r["model"] == m) for m in MODELS}
    all_below = all(below[m] == count[m] for m in MODELS)
    part_a = Verdict(
        "Each untrained ResNet-18/50/152 inversion at the deepest layers reaches m_g < m_s regardless of visual "
        "quality (fig. 3).",
        "m_g < m_s reached in "
        + ", ".join(f"{m} {below[m]}/{count[m]}" for m in MODELS)
        + f" inversions within {s.iterations} iterations (largest final m_g/m_s: "
        + ", ".join(f"{m} {ratio[m]:.2f}" for m in MODELS)
        + ")",
        all_below,
        {"reached": below, "inversions": count, "max_final_mg_over_ms": ratio},
        criterion=(
            f"every inversion (3 models × {len(s.layers)} layer(s) × {s.seeds} seeds) "
            f"reaches m_g < m_s within {s.iterations} iterations"
        ),
    )
    deepest = s.layers[-1]

    def by_seed(model: str, key: str) -> dict[int, float]:
        return {r["seed"]: r[key] for r in rows if r["model"] == model and r["layer"] == deepest and r["converged"]}

    r50, r152 = by_seed("resnet50", "pearson"), by_seed("resnet152", "pearson")
    common = sorted(set(r50) & set(r152))
    held, mean, spread, why = paired_judgement([r50[k] - r152[k] for k in common], CRITERION["min_pairs"])
    mi = {m: sum(by_seed(m, "m_i").values()) / max(1, len(by_seed(m, "m_i"))) for m in MODELS}
    rr = {m: sum(by_seed(m, "pearson").values()) / max(1, len(by_seed(m, "pearson"))) for m in MODELS}
    part_b = Verdict(
        "ResNet-152's conv5 representation is a worse picture of the input than ResNet-50's (fig. 3).",
        f"{deepest} at m_g < m_s, mean over seeds: r "
        + ", ".join(f"{m} {rr[m]:.3f}" for m in MODELS)
        + "; m_i "
        + ", ".join(f"{m} {mi[m]:.2f}" for m in MODELS)
        + f"; r(ResNet-50) − r(ResNet-152) {mean:+.3f} vs spread {spread:.3f} over {len(common)} seed(s)"
        + (f" — INCONCLUSIVE: {why}" if why else ""),
        held,
        {"pearson": rr, "m_i": mi, "r50_minus_r152": mean, "spread": spread, "pairs": len(common)},
        criterion=f"at {deepest}, over seeds where both converged: mean of r(ResNet-50) − r(ResNet-152) "
        "exceeds its std (NOT REPRODUCED below −std); fewer than 2 seeds or not significant → INCONCLUSIVE",
    )
    verdict = joint_verdict(
        CRITERION.claim,
        f"{PROCEDURE}; ε range from each layer's activation scale; {s.size} px, the report's Dalmatian "
        "(or the embedded photograph).",
        [part_a, part_b],
        details={
            "below_ms": part_a.details,
            "deeper_is_worse": part_b.details,
            "size": s.size,
            "layers": list(s.layers),
            "iterations": s.iterations,
            "weights": "untrained (PyTorch default init, seeded)",
        },
    )
    verdict.key_figure = (
        "m_g < m_s: "
        + ", ".join(f"{m} {below[m]}/{count[m]}" for m in MODELS)
        + (f"; largest final m_g/m_s {max(ratio.values()):.2g}")
    )
    return verdict
