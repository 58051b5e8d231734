"""The classic methods as jobs: :func:`visualize`, :func:`attribute` and :func:`attack` take what their commands
take, apply the same rules (the model's own input size, the default layer, the API's step defaults) and write the
same files — pictures, ``figure.png``, ``metrics.json`` and the ``config.json`` manifest — into ``out`` (default a
new folder under ``results/methods/``). `invert visualize`, `invert attribute` and `invert attack` parse their
options and call these.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import torch

from invert.encoders import build_encoder, get_spec
from invert.encoders.registry import default_size, graph_nodes
from invert.io import (
    default_image_path,
    load_image,
    prepare_out_dir,
    release_folder,
    resolve_device,
    save_figure,
    save_image,
    write_config,
    write_json,
)
from invert.methods.ascent import ASCENT, DREAM

RESULTS = "results/methods"
ATTRIBUTIONS = ("cam", "grad-cam", "deconvnet", "guided")
ATTACKS = ("fgsm", "pgd")


def layer_and_size(model: str, layer: str | None, size: int | None) -> tuple[str, int]:
    """The layer (default: :func:`~invert.methods.attribution.default_layer`) and input side (default:
    the model's own)."""
    from invert.methods.attribution import default_layer

    return layer or default_layer(model), size or default_size(model)


def load_targets(images: Sequence[str | Path], size: int) -> tuple[torch.Tensor, list[str]]:
    """The images (default: the embedded photograph) as a batch at ``size`` px, and their paths."""
    paths = [Path(p) for p in images] or [default_image_path()]
    return torch.stack([load_image(p, size) for p in paths]), [str(p) for p in paths]


def finish(
    out: Path, command: str, settings: dict[str, Any], metrics: dict[str, Any], figure: Any, device: Any, t0: float
) -> dict[str, Any]:
    """figure.png, metrics.json (with the seconds since ``t0``) and the config.json manifest; the folder is
    released. Returns the metrics written."""
    metrics = {**metrics, "seconds": round(time.perf_counter() - t0, 3)}
    try:
        save_figure(figure, out / "figure.png", tight=False)
        write_json(out / "metrics.json", metrics)
        write_config(out, command, seed=settings.get("seed"), device=device, settings=settings)
    finally:
        release_folder(out)
    return metrics


def visualize(
    model: str = "resnet50",
    layer: str | None = None,
    weights: str = "untrained",
    channels: Sequence[int] = (),
    *,
    neuron: bool = False,
    dream: str | Path | None = None,
    size: int | None = None,
    iterations: int | None = None,
    lr: float | None = None,
    optimizer: str | None = None,
    jitter: int | None = None,
    blur: float = 0.0,
    tv: float = 0.0,
    octaves: int = DREAM.octaves,
    seed: int = 0,
    device: str = "auto",
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> tuple[dict[str, Any], Path]:
    """Activation maximisation (or deep dream from ``dream``): one image per channel in ``channels`` (none: the
    layer's energy), pixels clamped to [0, 1]. Unset steps take the API's defaults (:data:`ASCENT`, :data:`DREAM`).
    Writes ``visualization_K.png`` per score; returns the metrics and the folder (status ``interrupted`` after
    Ctrl-C, with what there is)."""
    defaults = DREAM if dream is not None else ASCENT  # the API's defaults, one source
    steps = dict(
        iterations=iterations if iterations is not None else defaults.iterations,
        lr=lr if lr is not None else defaults.lr,
        optimizer=optimizer or defaults.optimizer,
        jitter=jitter if jitter is not None else defaults.jitter,
    )
    layer, size = layer_and_size(model, layer, size)
    dev = resolve_device(device)
    enc = build_encoder(model, layer, weights, seed=seed, input_size=size, device=dev)
    folder = prepare_out_dir(out, RESULTS, f"visualize-{model}-{layer}", overwrite)
    t0 = time.perf_counter()
    results = _ascend_each(enc, channels, neuron, dream, size, blur, tv, octaves, seed, progress, steps)
    rows = _score_rows(model, enc, size, channels, results, folder)
    figure = _visualize_figure(results, rows, f"{model} {layer} ({weights})" + (" — deep dream" if dream else ""))
    settings = dict(
        model=model,
        layer=layer,
        weights=weights,
        channel=list(channels),
        neuron=neuron,
        dream=str(dream) if dream else None,
        size=size,
        **steps,
        blur=blur,
        tv=tv,
        octaves=octaves,
        seed=seed,
    )
    interrupted = any(r.interrupted for _, r in results)
    metrics = {"model": model, "layer": layer, "weights": weights, "scores": rows}
    metrics["status"] = "interrupted" if interrupted else "complete"
    return finish(folder, "visualize", settings, metrics, figure, dev, t0), folder


def _ascend_each(
    enc: Any,
    channels: Sequence[int],
    neuron: bool,
    dream: str | Path | None,
    size: int,
    blur: float,
    tv: float,
    octaves: int,
    seed: int,
    progress: bool,
    steps: dict[str, Any],
) -> list[tuple[Any, Any]]:
    """(score, result) per channel (or the layer's energy); Ctrl-C keeps what there is and starts no further score."""
    from invert.inversion.schedules import Schedule
    from invert.inversion.steps import Blur, Clamp
    from invert.methods import ascend, deep_dream, layer_energy
    from invert.methods import channel as channel_score
    from invert.methods import neuron as neuron_score
    from invert.priors import tv_prior

    scores = [(neuron_score(c) if neuron else channel_score(c)) for c in channels] or [layer_energy()]
    start = load_image(dream, size)[None] if dream is not None else None
    pixel_steps = ([Blur(Schedule("constant", blur))] if blur > 0 else []) + [Clamp()]
    priors = [tv_prior(tv)] if tv > 0 else []
    results = []
    for s in scores:
        if start is not None:
            r = deep_dream(enc, start, s, octaves=octaves, seed=seed, progress=progress, **steps)
        else:
            r = ascend(enc, s, size=size, priors=priors, steps=pixel_steps, seed=seed, progress=progress, **steps)
        results.append((s, r))
        if r.interrupted:
            break
    return results


def _score_rows(
    model: str, enc: Any, size: int, channels: Sequence[int], results: list[tuple[Any, Any]], folder: Path
) -> list[dict[str, Any]]:
    """Save each visualisation; one row per score (its name, start and final score, and class name for logits)."""
    rows = []
    names = unit_names(model, enc, size)  # a logits layer's units are classes
    for k, (s, r) in enumerate(results):
        save_image(r.images[0], folder / f"visualization_{k}.png")
        rows.append({"score": s.name, "final": float(r.score[0]), "start": r.history[0]["score"]})
        if names is not None and k < len(channels):
            rows[-1]["class"] = names[channels[k]] if 0 <= channels[k] < len(names) else None
    return rows


def _visualize_figure(results: list[tuple[Any, Any]], rows: list[dict[str, Any]], title: str) -> Any:
    from invert.analysis.plots import image_grid

    labels = [
        s.name + (f" ({row['class']})" if row.get("class") else "") for (s, _), row in zip(results, rows, strict=True)
    ]
    return image_grid(
        [[r.images[0] for _, r in results]],
        col_labels=labels,
        captions=[[f"{row['start']:.3g} → {row['final']:.3g}" for row in rows]],
        title=title,
    )


def attribute(
    model: str = "resnet50",
    layer: str | None = None,
    weights: str = "untrained",
    method: str = "grad-cam",
    images: Sequence[str | Path] = (),
    *,
    target: int | None = None,
    size: int | None = None,
    seed: int = 0,
    device: str = "auto",
    out: str | Path | None = None,
    overwrite: bool = False,
) -> tuple[dict[str, Any], Path]:
    """CAM / Grad-CAM heatmaps of class ``target`` (default: the predicted one), or deconvnet / guided-backprop
    projections of channel ``target`` (default: the most active). Writes ``METHOD_I.png``, ``METHOD_map_I.png``
    and ``maps.pt``; returns the metrics and the folder."""
    if method not in ATTRIBUTIONS:
        from invert.errors import InvertError

        raise InvertError(f"unknown attribution method {method!r}: choose from {', '.join(ATTRIBUTIONS)}")
    layer, size = layer_and_size(model, layer, size)
    dev = resolve_device(device)
    x, paths = load_targets(images, size)
    x = x.to(dev)
    folder = prepare_out_dir(out, RESULTS, f"attribute-{method}-{model}-{layer}", overwrite)
    t0 = time.perf_counter()
    res, overlays, names = _attribution(model, layer, weights, method, x, target, size, seed, dev)
    for i in range(len(x)):
        save_image(overlays[i], folder / f"{method}_{i}.png")
        save_image(res.maps[i].cpu().expand(3, -1, -1), folder / f"{method}_map_{i}.png")
    torch.save({"maps": res.maps.cpu(), "raw": res.raw.cpu(), "classes": res.classes.cpu()}, folder / "maps.pt")
    label = "class" if method in ("cam", "grad-cam") else "channel"
    figure = _attribution_figure(x, res, overlays, names, paths, method, f"{model} {layer} ({weights}) — {method}")
    metrics = {
        "model": model,
        "layer": layer,
        "weights": weights,
        "method": method,
        "images": paths,
        "size": size,
        "explained": label,
        "indices": res.classes.tolist(),
        "scores": res.scores.tolist(),
    }
    if label == "class":
        metrics["class_names"] = [names[int(c)] for c in res.classes] if names is not None else None
    settings = dict(
        model=model, layer=layer, weights=weights, method=method, images=paths, target=target, size=size, seed=seed
    )
    return finish(folder, "attribute", settings, metrics, figure, dev, t0), folder


def _attribution(
    model: str,
    layer: str,
    weights: str,
    method: str,
    x: torch.Tensor,
    target: int | None,
    size: int,
    seed: int,
    dev: torch.device,
) -> tuple[Any, list[torch.Tensor], Sequence[str] | None]:
    """The attribution, the pictures to save (heat over image, or the signed projection) and the class names
    (CAM / Grad-CAM only)."""
    from invert.classes import class_names
    from invert.methods import GradCamModel, cam, deconvnet, grad_cam

    if method in ("cam", "grad-cam"):
        cm = GradCamModel.build(model, layer, weights, seed=seed).to(dev)
        res = (cam if method == "cam" else grad_cam)(cm, x, target)
        with torch.no_grad():
            names = class_names(model, int(cm(x[:1])[1].shape[1]))
        return res, [0.5 * x[i].cpu() + 0.5 * heat(res.maps[i].cpu()) for i in range(len(x))], names
    enc = build_encoder(model, layer, weights, seed=seed, input_size=size, device=dev)
    res = deconvnet(enc, x, target, rule=method)
    return res, [signed(res.raw[i].cpu()) for i in range(len(x))], None


def _attribution_figure(
    x: torch.Tensor,
    res: Any,
    overlays: list[torch.Tensor],
    names: Sequence[str] | None,
    paths: list[str],
    method: str,
    title: str,
) -> Any:
    from invert.analysis.plots import attribution_figure, image_grid
    from invert.classes import labels as class_labels

    if method in ("cam", "grad-cam"):
        shown = class_labels(res.classes.tolist(), names)
        captions = [f"{Path(p).name}: {c}" for p, c in zip(paths, shown, strict=True)]
        return attribution_figure(x.cpu(), res.maps.cpu(), captions, title, method)
    return image_grid(
        [[x[i].cpu() for i in range(len(x))], overlays],
        row_labels=["image", method],
        captions=[[Path(p).name for p in paths], [f"channel {int(c)}" for c in res.classes]],
        title=title,
    )


def heat(m: torch.Tensor) -> torch.Tensor:
    """A [0, 1] map as an RGB heat colour (matplotlib's inferno)."""
    import matplotlib

    return torch.from_numpy(matplotlib.colormaps["inferno"](m.numpy())[..., :3]).permute(2, 0, 1).float()


def signed(p: torch.Tensor) -> torch.Tensor:
    """A signed projection (C, H, W) shown around grey: 0.5 + p / (2 max|p|)."""
    return 0.5 + p / (2 * p.abs().max().clamp_min(1e-12))


def attack(
    model: str = "resnet50",
    weights: str = "untrained",
    images: Sequence[str | Path] = (),
    *,
    method: str | None = None,
    eps: float | None = None,
    steps: int | None = None,
    step_size: float | None = None,
    target: int | None = None,
    size: int | None = None,
    seed: int | None = None,
    device: str = "auto",
    out: str | Path | None = None,
    overwrite: bool = False,
) -> tuple[dict[str, Any], Path]:
    """The smallest L∞ change (FGSM or PGD) that flips the classifier's logits, or forces class ``target``.
    Unset ``method``, ``eps``, ``steps`` and ``seed`` take :func:`invert.methods.attack`'s defaults. Writes
    ``adversarial_I.png``; returns the metrics and the folder."""
    from invert.classes import class_names
    from invert.methods import attack as run_attack

    method = method or ATTACK_DEFAULTS["method"]
    eps = eps if eps is not None else ATTACK_DEFAULTS["eps"]
    steps = steps if steps is not None else ATTACK_DEFAULTS["steps"]
    seed = seed if seed is not None else ATTACK_DEFAULTS["seed"]
    size = size or default_size(model)
    dev = resolve_device(device)
    x, paths = load_targets(images, size)
    x = x.to(dev)
    logits_layer = "fc" if "fc" in get_spec(model).aliases else "node:" + last_node(model)
    clf = build_encoder(model, logits_layer, weights, seed=seed, input_size=size, device=dev)
    folder = prepare_out_dir(out, RESULTS, f"attack-{method}-{model}", overwrite)
    t0 = time.perf_counter()
    res = run_attack(clf, x, method=method, eps=eps, steps=steps, step_size=step_size, target=target, seed=seed)
    with torch.no_grad():
        names = class_names(model, int(clf(x[:1]).reshape(1, -1).shape[1]))
    for i in range(len(x)):
        save_image(res.images[i], folder / f"adversarial_{i}.png")
    title = f"{model} ({weights}) — {method.upper()} ε={eps:.4g}" + (f", target {target}" if target is not None else "")
    figure = _attack_figure(x, res, names, title)
    settings = dict(
        model=model,
        weights=weights,
        images=paths,
        method=method,
        eps=eps,
        steps=steps,
        step_size=step_size,
        target=target,
        size=size,
        seed=seed,
    )
    named = {}
    if names is not None:
        named["clean_name"] = [names[int(c)] for c in res.clean_class]
        named["adversarial_name"] = [names[int(c)] for c in res.adversarial_class]
    metrics = {"model": model, "weights": weights, "images": paths, "size": size, **res.summary(), **named}
    return finish(folder, "attack", settings, metrics, figure, dev, t0), folder


def _attack_figure(x: torch.Tensor, res: Any, names: Sequence[str] | None, title: str) -> Any:
    from invert.analysis.plots import image_grid
    from invert.classes import label

    diffs = [signed(res.images[i] - x[i].cpu()) for i in range(len(x))]
    return image_grid(
        [[x[i].cpu() for i in range(len(x))], list(res.images), diffs],
        row_labels=["image", "adversarial", "change (scaled)"],
        captions=[
            [label(int(c), names) for c in res.clean_class],
            [
                f"{label(int(c), names)} {float(p):.2f}"
                for c, p in zip(res.adversarial_class, res.confidence, strict=True)
            ],
            [f"L∞ {float(v):.4f}" for v in res.linf],
        ],
        title=title,
    )


def last_node(model: str) -> str:
    """The last graph node of ``model`` (its logits, for models without an ``fc`` alias)."""
    return graph_nodes(get_spec(model).build().eval())[-1]


def unit_names(model: str, enc: Any, size: int) -> Any:
    """Class names of the encoder's units when its layer is the logits (a flat output as wide as a known class list)."""
    from invert.classes import class_names

    with torch.no_grad():
        out = enc(torch.zeros(1, *enc.input_shape[:1], size, size, device=enc.device, dtype=enc.dtype))
    return class_names(model, out.shape[1]) if out.dim() == 2 else None


def _attack_defaults() -> dict[str, Any]:
    import inspect

    from invert.methods.adversarial import attack as api_attack

    return {k: p.default for k, p in inspect.signature(api_attack).parameters.items()}


#: :func:`invert.methods.attack`'s defaults (method, eps, steps, seed …), read not copied.
ATTACK_DEFAULTS = _attack_defaults()
