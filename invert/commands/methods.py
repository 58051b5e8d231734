"""`invert visualize`, `invert attribute`, `invert attack`: the classic methods from the command line.

Each writes its pictures, a figure, ``metrics.json`` and ``config.json`` (settings, versions,
device) into ``--out`` (default a new folder under ``results/methods/``) and never overwrites
results without ``--overwrite``. Style reconstruction is ``invert run --objective gram``.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional, TypeAlias

import typer

from invert.commands import options
from invert.methods.adversarial import attack as _api_attack
from invert.methods.ascent import ASCENT, ASCENT_OPTIMIZERS, DREAM

_OUT = "a new folder under results/methods/"
_ATTACK = {
    k: p.default for k, p in inspect.signature(_api_attack).parameters.items()
}  # the API's defaults, read not copied
if TYPE_CHECKING:  # str Enums built from the registries at run time: to the type checker their members are str
    AscentRule: TypeAlias = str
    AttributionMethod: TypeAlias = str
    AttackMethod: TypeAlias = str
else:
    AscentRule = options.choices("AscentRule", ASCENT_OPTIMIZERS)
    AttributionMethod = options.choices(
        "AttributionMethod", ("cam", "grad-cam", "deconvnet", "guided"), noun="attribution method"
    )
    AttackMethod = options.choices("AttackMethod", ("fgsm", "pgd"), noun="attack method")


def _targets(images: Optional[List[Path]], size: int) -> tuple[Any, list[str]]:
    import torch

    from invert.io import default_image_path, load_image

    paths = [Path(p) for p in images or []] or [default_image_path()]
    return torch.stack([load_image(p, size) for p in paths]), [str(p) for p in paths]


def _finish(
    out: Path, command: str, settings: dict[str, Any], metrics: dict[str, Any], figure: Any, device: Any, seconds: float
) -> None:
    """figure.png, metrics.json and the config.json manifest, then say where they are."""
    from rich.console import Console

    from invert.io import release_folder, save_figure, write_config, write_json

    save_figure(figure, out / "figure.png", tight=False)
    write_json(out / "metrics.json", {**metrics, "seconds": round(seconds, 3)})
    write_config(out, command, seed=settings.get("seed"), device=device, settings=settings)
    release_folder(out)
    Console().print(f"results in [bold]{options.escape(str(out))}[/bold]")


def visualize(
    model: str = typer.Option("resnet50", help="Model name (`invert models`)."),
    layer: Optional[str] = typer.Option(
        None,
        help="Layer alias or graph node (`invert layers MODEL`; default: the last with spatial maps, "
        "by its alias where it has one).",
    ),
    weights: str = typer.Option("untrained", help="untrained | imagenet/trained | state-dict path."),
    channel: List[int] = typer.Option(
        [], "--channel", help="Channel (unit, logit) to maximise; repeatable, one image each. None: the layer's energy."
    ),
    neuron: bool = typer.Option(False, help="Maximise only the centre position of each --channel, not its mean."),
    dream: Optional[Path] = typer.Option(
        None, help="Deep dream: start from this image and enhance (multi-octave, normalised steps)."
    ),
    size: Optional[int] = options.size(
        None, "Image side in pixels (default: the model's own — 32 for CIFAR ResNets, 224 for ImageNet models)"
    ),
    iterations: Optional[int] = typer.Option(
        None, help=f"Ascent steps (default {ASCENT.iterations}; per octave for --dream, default {DREAM.iterations})."
    ),
    lr: Optional[float] = typer.Option(
        None, parser=options.positive, help=f"Step size (default {ASCENT.lr:g}; --dream {DREAM.lr:g})."
    ),
    optimizer: Optional[AscentRule] = typer.Option(
        None,
        help=(
            f"Update rule: gd is x += η∇, normalized x += η∇/mean|∇| (default {ASCENT.optimizer}; "
            f"--dream {DREAM.optimizer})."
        ),
    ),
    jitter: Optional[int] = typer.Option(
        None,
        min=0,
        help=(
            f"Roll the image by up to this many pixels before each step (default {ASCENT.jitter}; "
            f"--dream {DREAM.jitter})."
        ),
    ),
    blur: float = typer.Option(0.0, parser=options.non_negative, help="Gaussian blur σ after each step (0 = off)."),
    tv: float = typer.Option(
        0.0, parser=options.non_negative, help="Weight of the TV prior (subtracted from the score)."
    ),
    octaves: int = typer.Option(DREAM.octaves, min=1, help="Deep dream octaves."),
    seed: int = options.seed(0, "the untrained weights, the start images and the jitter"),
    device: str = options.device(),
    out: Optional[Path] = options.out(_OUT),
    overwrite: bool = options.overwrite(),
    quiet: bool = options.quiet(),
) -> None:
    """Activation maximisation / deep dream: ascend on the image until the layer's channel (or energy) is high."""
    from invert.analysis.plots import image_grid
    from invert.encoders import build_encoder
    from invert.inversion.schedules import Schedule
    from invert.inversion.steps import Blur, Clamp
    from invert.io import load_image, prepare_out_dir, resolve_device, save_image
    from invert.methods import ascend, deep_dream, layer_energy
    from invert.methods import channel as channel_score
    from invert.methods import neuron as neuron_score
    from invert.priors import tv_prior

    defaults = DREAM if dream is not None else ASCENT  # the API's defaults, one source
    iterations = iterations if iterations is not None else defaults.iterations
    lr = lr if lr is not None else defaults.lr
    optimizer = options.value(optimizer) or defaults.optimizer
    jitter = jitter if jitter is not None else defaults.jitter
    layer, size = _layer_and_size(model, layer, size)
    dev = resolve_device(device)
    enc = build_encoder(model, layer, weights, seed=seed, input_size=size, device=dev)
    scores = [(neuron_score(c) if neuron else channel_score(c)) for c in channel] or [layer_energy()]
    out = prepare_out_dir(out, "results/methods", f"visualize-{model}-{layer}", overwrite)
    t0 = time.perf_counter()
    results = []
    if dream is not None:
        start = load_image(dream, size)[None]
        for s in scores:
            results.append(
                (
                    s,
                    deep_dream(
                        enc,
                        start,
                        s,
                        octaves=octaves,
                        iterations=iterations,
                        lr=lr,
                        optimizer=optimizer,
                        jitter=jitter,
                        seed=seed,
                        progress=not quiet,
                    ),
                )
            )
            if results[-1][1].interrupted:  # Ctrl-C: keep what there is, start no further score
                break
    else:
        steps = ([Blur(Schedule("constant", blur))] if blur > 0 else []) + [Clamp()]
        priors = [tv_prior(tv)] if tv > 0 else []
        for s in scores:
            results.append(
                (
                    s,
                    ascend(
                        enc,
                        s,
                        size=size,
                        iterations=iterations,
                        lr=lr,
                        optimizer=optimizer,
                        priors=priors,
                        steps=steps,
                        jitter=jitter,
                        seed=seed,
                        progress=not quiet,
                    ),
                )
            )
            if results[-1][1].interrupted:  # Ctrl-C: keep what there is, start no further score
                break
    rows = []
    names = _unit_names(model, enc, size)  # a logits layer's units are classes
    for k, (s, r) in enumerate(results):
        save_image(r.images[0], out / f"visualization_{k}.png")
        rows.append({"score": s.name, "final": float(r.score[0]), "start": r.history[0]["score"]})
        if names is not None and k < len(channel):
            rows[-1]["class"] = names[channel[k]] if 0 <= channel[k] < len(names) else None
    labels_ = [
        s.name + (f" ({row['class']})" if row.get("class") else "") for (s, _), row in zip(results, rows, strict=True)
    ]
    figure = image_grid(
        [[r.images[0] for _, r in results]],
        col_labels=labels_,
        captions=[[f"{row['start']:.3g} → {row['final']:.3g}" for row in rows]],
        title=f"{model} {layer} ({weights})" + (" — deep dream" if dream else ""),
    )
    settings = dict(
        model=model,
        layer=layer,
        weights=weights,
        channel=list(channel),
        neuron=neuron,
        dream=str(dream) if dream else None,
        size=size,
        iterations=iterations,
        lr=lr,
        optimizer=optimizer,
        jitter=jitter,
        blur=blur,
        tv=tv,
        octaves=octaves,
        seed=seed,
    )
    interrupted = any(r.interrupted for _, r in results)
    _finish(
        out,
        "invert visualize",
        settings,
        {
            "model": model,
            "layer": layer,
            "weights": weights,
            "scores": rows,
            "status": "interrupted" if interrupted else "complete",
        },
        figure,
        dev,
        time.perf_counter() - t0,
    )
    if interrupted:
        from invert.errors import Interrupted

        raise Interrupted(f"interrupted — partial results in {out} (status: interrupted)")


def attribute(
    model: str = typer.Option("resnet50", help="Model name (`invert models`)."),
    layer: Optional[str] = typer.Option(
        None,
        help="Layer: for cam/grad-cam the block to explain, for deconvnet/guided the layer to project "
        "from (default: the last with spatial maps, by its alias where it has one).",
    ),
    weights: str = typer.Option("untrained", help="untrained | imagenet/trained | state-dict path."),
    method: AttributionMethod = typer.Option(
        AttributionMethod("grad-cam"), help="CAM, Grad-CAM, deconvnet or guided backprop."
    ),
    image: Optional[List[Path]] = typer.Option(
        None, "--image", help="Image (repeatable). Default: the embedded photograph."
    ),
    target: Optional[int] = typer.Option(
        None,
        "--class",
        help=(
            "Class to explain (cam/grad-cam; default: the predicted one) or channel to project (deconvnet/guided; "
            "default: the most active)."
        ),
    ),
    size: Optional[int] = options.size(
        None, "Image side in pixels (default: the model's own — 32 for CIFAR ResNets, 224 for ImageNet models)"
    ),
    seed: int = options.seed(0, "the untrained weights"),
    device: str = options.device(),
    out: Optional[Path] = options.out(_OUT),
    overwrite: bool = options.overwrite(),
    quiet: bool = options.quiet(),
) -> None:
    """Where is the evidence? CAM / Grad-CAM heatmaps, or deconvnet / guided-backprop projections."""
    import torch

    from invert.analysis.plots import attribution_figure, image_grid
    from invert.classes import class_names
    from invert.classes import labels as class_labels
    from invert.encoders import build_encoder
    from invert.io import prepare_out_dir, resolve_device, save_image
    from invert.methods import GradCamModel, cam, deconvnet, grad_cam

    method = str(options.value(method))
    layer, size = _layer_and_size(model, layer, size)
    dev = resolve_device(device)
    x, paths = _targets(image, size)
    x = x.to(dev)
    out = prepare_out_dir(out, "results/methods", f"attribute-{method}-{model}-{layer}", overwrite)
    t0 = time.perf_counter()
    if method in ("cam", "grad-cam"):
        cm = GradCamModel.build(model, layer, weights, seed=seed).to(dev)
        res = (cam if method == "cam" else grad_cam)(cm, x, target)
        overlays = [0.5 * x[i].cpu() + 0.5 * _heat(res.maps[i].cpu()) for i in range(len(x))]
    else:
        enc = build_encoder(model, layer, weights, seed=seed, input_size=size, device=dev)
        res = deconvnet(enc, x, target, rule=method)
        overlays = [_signed(res.raw[i].cpu()) for i in range(len(x))]
    for i in range(len(x)):
        save_image(overlays[i], out / f"{method}_{i}.png")
        save_image(res.maps[i].cpu().expand(3, -1, -1), out / f"{method}_map_{i}.png")
    torch.save({"maps": res.maps.cpu(), "raw": res.raw.cpu(), "classes": res.classes.cpu()}, out / "maps.pt")
    label = "class" if method in ("cam", "grad-cam") else "channel"
    title = f"{model} {layer} ({weights}) — {method}"
    names = None
    if label == "class":
        with torch.no_grad():
            names = class_names(model, int(cm(x[:1])[1].shape[1]))
        shown = class_labels(res.classes.tolist(), names)
        figure = attribution_figure(
            x.cpu(), res.maps.cpu(), [f"{Path(p).name}: {c}" for p, c in zip(paths, shown, strict=True)], title, method
        )
    else:
        figure = image_grid(
            [[x[i].cpu() for i in range(len(x))], overlays],
            row_labels=["image", method],
            captions=[[Path(p).name for p in paths], [f"{label} {int(c)}" for c in res.classes]],
            title=title,
        )
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
    _finish(out, "invert attribute", settings, metrics, figure, dev, time.perf_counter() - t0)


def _heat(m: Any) -> Any:
    """A [0, 1] map as an RGB heat colour (matplotlib's inferno)."""
    import matplotlib
    import torch

    return torch.from_numpy(matplotlib.colormaps["inferno"](m.numpy())[..., :3]).permute(2, 0, 1).float()


def _signed(p: Any) -> Any:
    """A signed projection (C, H, W) shown around grey: 0.5 + p / (2 max|p|)."""
    return 0.5 + p / (2 * p.abs().max().clamp_min(1e-12))


def attack(
    model: str = typer.Option("resnet50", help="Classifier (`invert models`); attacked through its logits."),
    weights: str = typer.Option("untrained", help="untrained | imagenet/trained | state-dict path."),
    image: Optional[List[Path]] = typer.Option(
        None, "--image", help="Image (repeatable). Default: the embedded photograph."
    ),
    method: AttackMethod = typer.Option(
        AttackMethod(_ATTACK["method"]), help="FGSM (one signed step) or PGD (projected, repeated)."
    ),
    eps: float = typer.Option(
        _ATTACK["eps"],
        parser=options.fraction,
        help=(
            f"L∞ budget in pixel units, in (0, 1] (the API's default {_ATTACK['eps'] * 255:g}/255 ≈ "
            f"{_ATTACK['eps']:.4f})."
        ),
    ),
    steps: int = typer.Option(_ATTACK["steps"], min=1, help="PGD steps."),
    step_size: Optional[float] = typer.Option(None, parser=options.positive, help="PGD step (default 2.5·ε/steps)."),
    target: Optional[int] = typer.Option(None, help="Targeted attack: the class to force (default: untargeted)."),
    size: Optional[int] = options.size(
        None, "Image side in pixels (default: the model's own — 32 for CIFAR ResNets, 224 for ImageNet models)"
    ),
    seed: int = options.seed(_ATTACK["seed"], "the untrained weights and PGD's random start"),
    device: str = options.device(),
    out: Optional[Path] = options.out(_OUT),
    overwrite: bool = options.overwrite(),
    quiet: bool = options.quiet(),
) -> None:
    """Adversarial examples: the smallest L∞ change (FGSM or PGD) that flips the classifier."""
    import torch

    from invert.analysis.plots import image_grid
    from invert.classes import class_names, label
    from invert.encoders import build_encoder, get_spec
    from invert.encoders.registry import default_size
    from invert.io import prepare_out_dir, resolve_device, save_image
    from invert.methods import attack as run_attack

    method = str(options.value(method))
    size = size or default_size(model)
    dev = resolve_device(device)
    x, paths = _targets(image, size)
    x = x.to(dev)
    logits_layer = "fc" if "fc" in get_spec(model).aliases else "node:" + _last_node(model)
    clf = build_encoder(model, logits_layer, weights, seed=seed, input_size=size, device=dev)
    out = prepare_out_dir(out, "results/methods", f"attack-{method}-{model}", overwrite)
    t0 = time.perf_counter()
    res = run_attack(clf, x, method=method, eps=eps, steps=steps, step_size=step_size, target=target, seed=seed)
    diffs = [_signed(res.images[i] - x[i].cpu()) for i in range(len(x))]
    with torch.no_grad():
        names = class_names(model, int(clf(x[:1]).reshape(1, -1).shape[1]))
    for i in range(len(x)):
        save_image(res.images[i], out / f"adversarial_{i}.png")
    figure = image_grid(
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
        title=f"{model} ({weights}) — {method.upper()} ε={eps:.4g}"
        + (f", target {target}" if target is not None else ""),
    )
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
    named = (
        {}
        if names is None
        else {
            "clean_name": [names[int(c)] for c in res.clean_class],
            "adversarial_name": [names[int(c)] for c in res.adversarial_class],
        }
    )
    _finish(
        out,
        "invert attack",
        settings,
        {"model": model, "weights": weights, "images": paths, "size": size, **res.summary(), **named},
        figure,
        dev,
        time.perf_counter() - t0,
    )


def _layer_and_size(model: str, layer: str | None, size: int | None) -> tuple[str, int]:
    """The layer (default: :func:`~invert.methods.attribution.default_layer`) and input side (default:
    the model's own).
    """
    from invert.encoders.registry import default_size
    from invert.methods.attribution import default_layer

    return layer or default_layer(model), size or default_size(model)


def _unit_names(model: str, enc: Any, size: int) -> Any:
    """Class names of the encoder's units when its layer is the logits (a flat output as wide as a known class list)."""
    import torch

    from invert.classes import class_names

    with torch.no_grad():
        out = enc(torch.zeros(1, *enc.input_shape[:1], size, size, device=enc.device, dtype=enc.dtype))
    return class_names(model, out.shape[1]) if out.dim() == 2 else None


def _last_node(model: str) -> str:
    from invert.encoders import get_spec
    from invert.encoders.registry import graph_nodes

    return graph_nodes(get_spec(model).build().eval())[-1]
