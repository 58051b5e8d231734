"""Inversions by the report's procedure, stopped at matched m_g < m_s, as independent tasks an executor can spread out.

Procedure (Badger eq. 4/5 and appendix): the ``badger`` preset — 0.15·L1, plain gradient descent
x ← x − ε∇, optionally a 3×3 Gaussian blur each step (eq. 5), no clamping, init N(0.7, 1/20) — with
ε chosen by the appendix's random line search. One departure, stated in every summary: ε is
annealed linearly to 0, because at a constant ε the L1 descent oscillates above m_s and never
settles (measured: ResNet-18 conv2 at 64 px, ε 0.1–8, 150 iterations, m_g stays 1.2–35× m_s).
Each target is inverted alone and stops at the first iteration with m_g < m_s, so trained and
untrained models are compared at matched m_g/m_s; an inversion that never gets there is
reported as unconverged and left out of every verdict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch

from invert.inversion import PRESETS, InversionConfig

if TYPE_CHECKING:
    from invert.experiments.registry import ExperimentContext

PROCEDURE = (
    "badger preset (0.15·L1, plain GD eq. 4, ± 3×3 blur eq. 5, no clamp, init N(0.7, 1/20)); "
    "ε by the appendix's random line search, annealed linearly to 0; each target stops at its first m_g < m_s"
)


def blur_settings(size: int) -> dict[str, Any]:
    """Eq. (5)'s 3×3 Gaussian blur each step: the badger preset's σ 2.4→0.4 at 299 px, scaled to ``size``."""
    scale = min(1.0, size / 299 * 3)  # 32 px images get σ 0.8→0.13: 2.4 would wipe out their detail
    return dict(blur=round(2.4 * scale, 3), blur_end=round(0.4 * scale, 3), blur_schedule="linear", blur_kernel=3)


def procedure_config(size: int, iterations: int, blur: bool, seed: int) -> InversionConfig:
    """The badger preset at ``size`` px, eq. 5 (``blur``) or eq. 4, ε annealed to 0, stopping at m_g < m_s."""
    extra = blur_settings(size) if blur else {"blur": 0.0}
    return (
        PRESETS["badger"]
        .config()
        .updated(
            size=size,
            iterations=iterations,
            seed=seed,
            lr_schedule="linear",
            lr_end=0.0,
            stop_below_ms=True,
            record_every=iterations,
            resize="crop",
            **extra,
        )
    )


def pearson(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per image: Pearson correlation of a_g and a over all pixels and channels — blind to brightness and contrast."""
    x = images.double().flatten(1)
    y = targets.double().flatten(1)
    x = x - x.mean(1, keepdim=True)
    y = y - y.mean(1, keepdim=True)
    return (x * y).sum(1) / (x.norm(dim=1) * y.norm(dim=1)).clamp_min(1e-30)


def invert_matched(task: dict[str, Any]) -> dict[str, Any]:
    """One (model, weights, layer, procedure) task: line-search ε on all targets, then invert each target to m_g < m_s.

    ``task`` keys: model, weights, layer, size, blur, iterations, seed, device, targets (N, 3, H, W),
    names, trials, trial_iterations, lr_range (default: :func:`lr_range` from the layer's activation scale), tag
    (copied into every row). Returns rows and images.
    """
    from invert.encoders import build_encoder
    from invert.experiments import _cifar64  # noqa: F401  (registers resnet18_cifar64 in a fresh worker process)
    from invert.inversion import invert, line_search_lr

    cfg = procedure_config(task["size"], task["iterations"], task["blur"], task["seed"])
    device = torch.device(task.get("device", "cpu"))
    enc = build_encoder(
        task["model"], task["layer"], task["weights"], seed=task["seed"], input_size=task["size"], device=device
    )
    targets = task["targets"].to(device)
    low, high = task.get("lr_range") or lr_range(enc, targets)
    lr, trials = line_search_lr(
        enc,
        targets,
        cfg,
        trials=task["trials"],
        trial_iterations=task["trial_iterations"],
        low=low,
        high=high,
        seed=task["seed"],
    )
    rows, images = [], []
    for t in range(len(targets)):
        res = invert(enc, targets[t : t + 1], cfg, lr=lr)
        r = pearson(res.images[:, 0], res.targets)
        converged = bool(res.below_ms_at[0, 0] >= 0)
        rows.append(
            {
                **task.get("tag", {}),
                "layer": task["layer"],
                "target": task["names"][t],
                "seed": task["seed"],
                "lr": lr,
                "lr_low": low,
                "lr_high": high,
                "m_g": float(res.m_g[0, 0]),
                "m_s": float(res.m_s[0]),
                "m_s_std": float(res.m_s_std[0]),
                "m_i": float(res.m_i[0, 0]),
                "pearson": float(r[0]),
                "ssim": float(res.ssim[0, 0]),
                "psnr": float(res.psnr[0, 0]),
                "iterations": res.iterations,
                "below_ms_at": int(res.below_ms_at[0, 0]),
                "converged": converged,
            }
        )
        images.append(res.images[0, 0])
    return {"rows": rows, "images": images, "lr_trials": trials}


def matched_task(
    backbone: Any,
    settings: Any,
    device: Any,
    *,
    weights: str,
    layer: str,
    blur: bool,
    seed: int,
    targets: torch.Tensor,
    names: Sequence[str],
    tag: dict[str, Any],
) -> dict[str, Any]:
    """One :func:`invert_matched` task: ``backbone``'s model and size, ``settings``' iterations and line search
    (``trials``, ``trial_iterations``), and what differs between tasks (weights, layer, blur, seed, tag)."""
    return {
        "model": backbone.model,
        "weights": weights,
        "layer": layer,
        "size": backbone.size,
        "blur": blur,
        "iterations": settings.iterations,
        "seed": seed,
        "device": str(device),
        "targets": targets,
        "names": names,
        "trials": settings.trials,
        "trial_iterations": settings.trial_iterations,
        "tag": tag,
    }


def run_tasks(
    fn: Callable[[dict[str, Any]], dict[str, Any]],
    tasks: Sequence[dict[str, Any]],
    params: dict[str, Any],
    description: str,
) -> list[dict[str, Any]]:
    """Run ``fn`` over ``tasks`` with ``params``' executor (local|ray), ``workers`` (local default 1: this process),
    ``address``.
    """
    from invert.sweep.executors import map_tasks

    executor = params.get("executor") or "local"
    workers = params.get("workers")
    if workers is None and executor == "local":
        workers = 1  # local default: in this process
    return list(
        map_tasks(
            fn,
            list(tasks),
            executor=executor,
            workers=workers,
            address=params.get("address"),
            progress=bool(params.get("progress", False)),
            description=description,
        )
    )


def in_process(params: dict[str, Any]) -> bool:
    """Whether :func:`run_tasks` runs the tasks one by one in this process (local executor, one worker), where a
    task's own progress bar is readable; in worker processes it would interleave."""
    return (params.get("executor") or "local") == "local" and params.get("workers") in (None, 1)


LR_DECADES = (-3.0, 0.0)
"""The line search's ε range in decades around 1/s, s = mean |O(a)| of the layer's activations at the targets:
ε ∈ [10⁻³/s, 1/s], log-uniform. The appendix's ε (≈ 1/2 at conv1 to 1/1000 at conv5) falls with depth as the
activations grow; a fixed range cannot hold an untrained ResNet-152's conv5 (activations ~1e4–1e7)."""


def lr_range(
    enc: torch.nn.Module, targets: torch.Tensor, decades: tuple[float, float] = LR_DECADES
) -> tuple[float, float]:
    """(low, high) for the random line search from the layer's activation scale s = mean |O(a)|:
    [10^decades[0] / s, 10^decades[1] / s]."""
    with torch.no_grad():
        scale = float(enc(targets).abs().mean())
    if not scale > 0 or not torch.isfinite(torch.tensor(scale)):
        scale = 1.0  # a dead layer: the scale says nothing, search around ε = 1
    return 10 ** decades[0] / scale, 10 ** decades[1] / scale


def spread_verdict(diffs: Sequence[float], min_pairs: int = 2) -> tuple[bool | None, float, float]:
    """(held, mean, spread) for paired differences over images × seeds (:func:`paired_judgement` without its reason)."""
    held, mean, spread, _ = paired_judgement(diffs, min_pairs)
    return held, mean, spread


def paired_judgement(diffs: Sequence[float], min_pairs: int = 2) -> tuple[bool | None, float, float, str]:
    """(held, mean, spread, reason) for paired differences (claimed direction positive) over images × seeds.

    HELD if the mean exceeds the spread (their std), NOT REPRODUCED if it is below minus the spread (significant the
    other way); INCONCLUSIVE — with the reason — if fewer than ``min_pairs`` converged pairs or |mean| ≤ spread
    (not significant).
    """
    vals = torch.tensor(list(diffs), dtype=torch.float64)
    if len(vals) < max(2, min_pairs):
        mean = float(vals.mean()) if len(vals) else float("nan")
        return None, mean, float("nan"), f"too few converged pairs ({len(vals)} < {max(2, min_pairs)})"
    mean, spread = float(vals.mean()), float(vals.std())
    if mean > spread:
        return True, mean, spread, ""
    if mean < -spread:
        return False, mean, spread, ""
    return None, mean, spread, f"not significant (|mean| {abs(mean):.3g} ≤ spread {spread:.3g})"


def matched_figure(
    ctx: ExperimentContext,
    targets: torch.Tensor,
    names: list[str],
    layers: tuple[str, ...],
    labels: list[str],
    tasks: list[dict],
    results: list[dict],
    *,
    key: str,
    title: str,
    file: str,
) -> None:
    """A grid of matched inversions (seed ``ctx.seed``): a row per target and label (the tasks' ``tag[key]``), the
    target then a_g at each layer, each captioned with its Pearson r and m_g/m_s."""
    from invert.analysis.plots import image_grid

    grid, row_labels, caps = [], [], []
    for t, name in enumerate(names):
        for label in labels:
            imgs, cap = [targets[t]], [name]
            for layer in layers:
                task, res = next(
                    (k, v)
                    for k, v in zip(tasks, results, strict=True)
                    if k["tag"][key] == label and k["layer"] == layer and k["seed"] == ctx.seed
                )
                r = res["rows"][t]
                imgs.append(res["images"][t])
                cap.append(
                    f"r {r['pearson']:.2f}  m_g/m_s {r['m_g'] / r['m_s']:.2f}"
                    + ("" if r["converged"] else "\n(unconverged)")
                )
            grid.append(imgs)
            caps.append(cap)
            row_labels.append(label)
    ctx.save_figure(image_grid(grid, row_labels, ["target"] + list(layers), caps, title=title), file)
