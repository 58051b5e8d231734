"""``noise-blur`` (report §5, fig. S4), criterion declared first: for the model trained on labelled Gaussian noise,
"‖O(a_g, θ) − O(a, θ)‖ does not become arbitrarily small as the number of iterations increases. This is not the case if
Gaussian convolution is omitted" — eq. 5 (blur each step) does not reach small m_g, eq. 4 (no blur) does; fig. S4:
"All representations have a closer embedding distance than the standard shifted input", i.e. m_g < m_s.

The noise-memorising model is trained as ``noise-trained`` trains it (same settings, quick and full); the photographs,
layers and the inversion procedure are ``_matched``'s (ε line-searched, each inversion stopped at its first
m_g < m_s). Reaching m_g < m_s is judged on m_g, the L2 distance the L1 descent does not optimise. A control checks the
regime: the naturally trained twin must reach m_g < m_s *with* blur, or a failure with blur says nothing about noise
training (blur at this size or iteration count would stop any model).
"""

from __future__ import annotations

import math
from typing import Any

from invert.experiments import noise_trained as nt
from invert.experiments._matched import PROCEDURE, invert_matched, matched_figure, matched_task, run_tasks
from invert.experiments._support import report_targets
from invert.experiments.depth import natural_backbone
from invert.experiments.registry import Criterion, ExperimentContext, Verdict, combine, experiment

#: The same sizes as ``noise-trained`` (layers, seeds, iterations, line search, the noise model's training).
NoiseBlurSettings = nt.NoiseTrainedSettings

QUICK = NoiseBlurSettings(("conv2", "conv3", "conv4"), 1, 150, 3, 10, dict(nt.QUICK.noise))
FULL = NoiseBlurSettings(("conv2", "conv3", "conv4"), 3, 500, 6, 30, dict(nt.FULL.noise))

CRITERION = Criterion(
    claim="Inverting the noise-trained model, m_g does not become small with Gaussian convolution each step (eq. 5), "
    "but does without it (eq. 4) (report §5, fig. S4).",
    measure="share of inversions (photos × layers × seeds) reaching m_g < m_s within the iterations (m_g = L2 "
    "distance of embeddings; the descent minimises L1): noise-trained with blur, noise-trained without, and the "
    "naturally trained twin with blur (the regime control)",
    rule="(1) with blur the noise-trained model fails: share ≤ max_reach → HELD, ≥ min_reach → NOT REPRODUCED; (2) "
    "without blur it reaches: share ≥ min_reach → HELD, ≤ max_reach → NOT REPRODUCED; the claim needs both",
    inconclusive="a share between max_reach and min_reach; fewer than min_samples inversions in a group; the naturally "
    "trained twin reaching m_g < m_s with blur in less than min_reach of its inversions (blur stops any model here: "
    "the wrong regime); the noise model below min_train_accuracy on its noise (it did not memorise it)",
    thresholds={"max_reach": 0.25, "min_reach": 0.75, "min_train_accuracy": 0.9},
    min_samples=6,
)


def share_verdict(reached: int, total: int, want_reach: bool) -> tuple[bool | None, str]:
    """(held, reason) for ``reached``/``total`` inversions below m_s when the claim wants them to reach (or not)."""
    if total < CRITERION.min_samples:
        return None, f"only {total} inversions (< {CRITERION.min_samples})"
    share = reached / total
    low, high = CRITERION["max_reach"], CRITERION["min_reach"]
    if share >= high:
        return want_reach, ""
    if share <= low:
        return not want_reach, ""
    return None, f"{reached}/{total} reached m_g < m_s: between {low:.0%} and {high:.0%}"


def judge(rows: list[dict[str, Any]], train_accuracy: float | None, setup: str) -> Verdict:
    """The declared criterion on inversion ``rows`` (group, layer, converged, m_g, m_s per inversion)."""

    def count(group: str) -> tuple[int, int]:
        g = [r for r in rows if r["group"] == group]
        return sum(bool(r["converged"]) for r in g), len(g)

    def per_layer(group: str) -> str:
        layers = dict.fromkeys(r["layer"] for r in rows)
        out = []
        for l in layers:
            g = [r for r in rows if r["group"] == group and r["layer"] == l]
            out.append(f"{l} {sum(bool(r['converged']) for r in g)}/{len(g)}")
        return ", ".join(out)

    def median_ratio(group: str) -> float:
        vals = sorted(r["m_g"] / r["m_s"] for r in rows if r["group"] == group)
        return vals[len(vals) // 2] if vals else math.nan

    blur, plain, control = count("noise-trained eq. 5"), count("noise-trained eq. 4"), count("natural eq. 5")
    fails, why_fail = share_verdict(*blur, want_reach=False)
    reaches, why_reach = share_verdict(*plain, want_reach=True)
    gate = []
    if control[1] < CRITERION.min_samples or control[0] < CRITERION["min_reach"] * control[1]:
        gate.append(
            f"the naturally trained twin reached m_g < m_s with blur in only {control[0]}/{control[1]} (< "
            f"{CRITERION['min_reach']:.0%}): blur stops any model in this setting"
        )
    if train_accuracy is not None and train_accuracy < CRITERION["min_train_accuracy"]:
        gate.append(f"the noise model memorised only {train_accuracy:.0%} of its noise")
    parts = [
        Verdict(
            "With blur (eq. 5) the noise-trained model does not reach m_g < m_s.",
            f"{blur[0]}/{blur[1]} reached ({per_layer('noise-trained eq. 5')}); median final m_g/m_s "
            f"{median_ratio('noise-trained eq. 5'):.2f}" + (f" — INCONCLUSIVE: {why_fail}" if why_fail else ""),
            fails,
            criterion=f"share reaching m_g < m_s ≤ {CRITERION['max_reach']:.0%} → HELD, ≥ "
            f"{CRITERION['min_reach']:.0%} → NOT REPRODUCED, between → INCONCLUSIVE",
        ),
        Verdict(
            "Without blur (eq. 4) it does.",
            f"{plain[0]}/{plain[1]} reached ({per_layer('noise-trained eq. 4')}); median final m_g/m_s "
            f"{median_ratio('noise-trained eq. 4'):.2f}" + (f" — INCONCLUSIVE: {why_reach}" if why_reach else ""),
            reaches,
            criterion=f"share reaching m_g < m_s ≥ {CRITERION['min_reach']:.0%} → HELD, ≤ "
            f"{CRITERION['max_reach']:.0%} → NOT REPRODUCED, between → INCONCLUSIVE",
        ),
    ]
    held = None if gate else combine([p.held for p in parts])
    measured = (
        f"{setup}. Reached m_g < m_s: noise-trained with blur {blur[0]}/{blur[1]}, without {plain[0]}/{plain[1]}; "
        f"naturally trained with blur (control) {control[0]}/{control[1]} ({per_layer('natural eq. 5')}). "
        + " ".join(f"({chr(97 + i)}) {p.measured}." for i, p in enumerate(parts))
        + (" INCONCLUSIVE: " + "; ".join(gate) + "." if gate else "")
    )
    return Verdict(
        claim=CRITERION.claim,
        criterion="both parts must hold; the control (naturally trained twin with blur reaches m_g < m_s in ≥ "
        f"{CRITERION['min_reach']:.0%}) and a memorising noise model are required, else INCONCLUSIVE",
        measured=measured,
        held=held,
        parts=parts,
        key_figure=f"reached m_g < m_s: noise + blur {blur[0]}/{blur[1]}, noise no blur {plain[0]}/{plain[1]}, "
        f"natural + blur {control[0]}/{control[1]}",
        details={
            "reached": {"noise_blur": blur, "noise_no_blur": plain, "natural_blur": control},
            "gate": gate,
            "inconclusive": "; ".join(gate + [w for w in (why_fail, why_reach) if w]),
            "noise_train_accuracy": train_accuracy,
        },
    )


@experiment(
    "noise-blur",
    "The noise-trained model inverted with and without eq. 5's blur: m_g < m_s only without it (§5, fig. S4).",
    "report §5, fig. S4",
    criterion=CRITERION,
    full=FULL,
    quick=QUICK,
    minutes=5,
)
def noise_blur(ctx: ExperimentContext) -> Verdict:
    s = ctx.settings(FULL, QUICK)
    bb = natural_backbone(ctx, cifar_full="cifar_resnet20")
    noise_w, info = nt.noise_trained_weights(ctx, bb, nt.noise_training_config(ctx, bb, s))  # type: ignore[arg-type]
    targets, names = report_targets(bb.size)
    layers = tuple(l for l in s.layers if l in bb.layers)
    seeds = list(range(ctx.seed, ctx.seed + s.seeds))
    ctx.params.update(model=bb.model, size=bb.size, layers=list(layers), seed_values=seeds, iterations=s.iterations,
                      noise_weights=noise_w, procedure=PROCEDURE)  # fmt: skip
    groups = {"noise-trained eq. 4": (noise_w, False), "noise-trained eq. 5": (noise_w, True),
              "natural eq. 5": (bb.trained, True)}  # fmt: skip
    tasks = [
        matched_task(
            bb,
            s,
            ctx.device,
            weights=w,
            layer=layer,
            blur=blur,
            seed=seed,
            targets=targets,
            names=names,
            tag={"group": g},
        )
        for g, (w, blur) in groups.items()
        for layer in layers
        for seed in seeds
    ]
    results = run_tasks(invert_matched, tasks, ctx.params, "noise-blur: inversions")
    rows = [r for res in results for r in res["rows"]]
    ctx.save_csv(rows, "noise_blur.csv")
    title = f"{bb.model}: noise-trained without / with blur (eq. 4 / eq. 5), natural with blur; stopped at m_g < m_s"
    matched_figure(
        ctx, targets, names, layers, list(groups), tasks, results, key="group", title=title, file="noise_blur.png"
    )
    n = s.noise
    setup = (
        f"{bb.model} at {bb.size} px ({bb.note}); noise model {info['source']}, memorising {n['n']} noise images in "
        f"{n['classes']} classes, {n['epochs']} epochs (the report: {nt.REPORT_NOISE})"
        + (f", training accuracy {info['final_train_acc']:.3f}" if "final_train_acc" in info else "")
        + f"; photos {', '.join(names)}, layers {', '.join(layers)}, {len(seeds)} seed(s), up to {s.iterations} "
        f"iterations; {PROCEDURE}"
    )
    return judge(rows, info.get("final_train_acc"), setup)
