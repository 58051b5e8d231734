"""Decoder run folders: train a sweep, evaluate it, compare it with optimisation (what the CLI and experiments call).

A training run folder holds ``config.json`` (the manifest every command writes: command line, seed, ``--out``,
versions, device, ``world_size`` and backend, and under ``settings`` the model, weights, layers, training settings
and data), ``metrics.json`` (results only: per layer the best epoch and its validation MSE, epochs run, seconds),
one sub-folder per layer (``last.pt``/``best.pt`` checkpoints, ``decoder.pt``, ``result.json``), ``training.csv`` and
``loss_curves.png`` (thesis fig. 11). Folders written before config.json was the manifest hold ``run.json`` instead;
they are still read.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import torch

from invert.datasets import load_cifar10
from invert.decoder.architecture import checkpoint_layers
from invert.decoder.compare import Comparison, compare_inverters, comparison_grid, cost_quality_figure
from invert.decoder.evaluation import (
    Reconstruction,
    artificial_logits_figure,
    class_mixing_figure,
    error_figure,
    evaluate_decoder,
    mean_image_baseline,
    reconstruction_grid,
)
from invert.decoder.training import DecoderTrainConfig, DecoderTrainResult, classifier_for, load_decoder, train_decoders
from invert.encoders import Encoder, build_encoder
from invert.encoders.registry import get_spec
from invert.errors import InvertError
from invert.inversion import InversionConfig
from invert.io import environment_info, folder_contents, save_figure, write_config, write_csv, write_json, write_text
from invert.training import distributed
from invert.training.cifar import train_cifar_classifier  # noqa: F401 - moved to invert.training; importable here as before

_save_fig = save_figure


def prepare_run_folder(out: Path, spec: dict[str, Any], overwrite: bool) -> bool:
    """Decide whether ``out`` resumes an earlier run of the same settings; returns ``resume``.

    Refuses a folder holding other results, or a run with different settings, unless ``overwrite``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InvertError(f"--out {out} is a file, not a folder — choose another path")
    try:
        old = read_run(out) if _manifest(out) is not None else None
    except InvertError:  # another command's config.json: other results, refused below unless --overwrite
        old = None
    if old is not None:
        if old == spec:
            return not overwrite
        if not overwrite:
            diff = sorted(k for k in set(old) | set(spec) if old.get(k) != spec.get(k))
            raise InvertError(
                f"{out} holds a decoder run with different settings ({', '.join(diff)}): "
                f"choose another --out, or pass --overwrite to start over"
            )
        return False
    if out.exists() and folder_contents(out) and not overwrite:
        raise InvertError(
            f"output folder {out} already holds other results — pass --overwrite, or choose another --out"
        )
    return False


def load_data(
    split: str, limit: int | None, data: str | None = None, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 images/labels: ``data`` (torchvision folder or .npz), else the shared arrays, else a download."""
    return load_cifar10(split, limit, root=data, download=download)


def train_run(
    out: str | Path,
    *,
    model: str = "cifar_resnet20",
    weights: str = "trained",
    layers: Sequence[str] | None = None,
    config: DecoderTrainConfig = DecoderTrainConfig(),
    limit: int | None = None,
    data: str | None = None,
    download: bool = False,
    warm: bool = True,
    learn_unpool: bool = True,
    overwrite: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> dict[str, tuple[Any, DecoderTrainResult]]:
    """Train decoders for ``layers`` (default: the thesis checkpoints of ``model``) into ``out``; resumes same settings.

    Writes ``config.json`` (status ``running``, then ``complete``, or ``interrupted`` on Ctrl-C) and, when done,
    ``metrics.json``, ``training.csv`` and ``loss_curves.png``; under torchrun rank 0 alone writes.
    """
    layers = list(layers or checkpoint_layers(model))
    get_spec(model)
    spec = {
        "model": model,
        "weights": weights,
        "layers": layers,
        "config": asdict(config),
        "limit": limit,
        "data": data,
        "warm_start": warm,
        "learn_unpool": learn_unpool,
    }
    out = Path(out)
    device = distributed.setup(device)  # under torchrun: join the group; rank 0 alone writes files
    resume = prepare_run_folder(out, spec, overwrite)
    distributed.barrier()  # every rank has decided whether to resume before rank 0 writes config.json
    main = distributed.is_main()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    def manifest(status: str) -> None:  # rank 0 alone writes (write_config skips the others)
        write_config(out, "decoder train", seed=config.seed, device=device, status=status, settings=spec)

    manifest("running")
    images, labels = load_data("train", limit, data, download)
    try:
        result = train_decoders(
            model,
            layers,
            images,
            labels,
            weights=weights,
            config=config,
            folder=out,
            warm=warm,
            resume=resume,
            device=device,
            progress=progress,
            learn_unpool=learn_unpool,
        )
    except KeyboardInterrupt:  # TrainingInterrupted included: the finished epochs are on disk, the same call resumes
        if main:
            manifest("interrupted")
        raise
    if not main:
        return result
    _write_training_results(out, result, len(images), time.perf_counter() - t0)
    manifest("complete")
    return result


def _write_training_results(
    out: Path, result: dict[str, tuple[Any, DecoderTrainResult]], train_images: int, seconds: float
) -> None:
    """``training.csv`` (one row per layer), ``loss_curves.png`` and ``metrics.json`` of a finished training run."""
    rows = [
        {
            "layer": l,
            "best_epoch": r.best_epoch,
            "best_val_mse": r.best_val_mse,
            "epochs_run": len(r.history),
            "seconds": r.seconds,
            "stopped_early": r.stopped_early,
            "warm_started_tensors": r.warm_started,
        }
        for l, (_, r) in result.items()
    ]
    write_csv(out / "training.csv", rows)
    _save_fig(loss_curves_figure({l: r for l, (_, r) in result.items()}), out / "loss_curves.png")
    write_json(
        out / "metrics.json", {"layers": rows, "train_images": train_images, "seconds_this_call": round(seconds, 2)}
    )


def loss_curves_figure(results: dict[str, DecoderTrainResult]):
    """Thesis fig. 11: training and validation MSE per epoch for each checkpoint's decoder (log y)."""
    import matplotlib

    from invert.analysis.plots import subplots

    fig, ax = subplots(figsize=(7, 4), layout="constrained")
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (layer, r) in enumerate(results.items()):
        ep = [h["epoch"] for h in r.history]
        c = colors[k % len(colors)]
        ax.plot(ep, [h["train_mse"] for h in r.history], color=c, ls="-", label=f"{layer} train")
        ax.plot(ep, [h["val_mse"] for h in r.history], color=c, ls="--", label=f"{layer} validation")
    ax.set(yscale="log", xlabel="epoch", ylabel="MSE per pixel", title="decoder training (fig. 11)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return fig


def _manifest(run: Path) -> Path | None:
    """The file that says ``run`` is a decoder training run: its ``config.json``, or an older folder's ``run.json``."""
    config = run / "config.json"
    if config.is_file():
        return config
    return run / "run.json" if (run / "run.json").is_file() else None


def read_run(run: str | Path) -> dict[str, Any]:
    """The settings of a decoder training run folder (model, weights, layers, ...); a one-line error when it is not one.

    Read from ``config.json`` (``settings``), or from ``run.json`` (``spec``) in a folder written before
    config.json was the manifest.
    """
    run = Path(run)
    meta = _manifest(run)
    try:
        record = json.loads(meta.read_text()) if meta is not None else {}
    except (OSError, ValueError):
        record = {}
    if meta is not None and meta.name == "run.json":
        spec = record.get("spec")
    else:
        spec = record.get("settings") if record.get("command") == "invert decoder train" else None
    if not isinstance(spec, dict) or "layers" not in spec:
        what = f"its {meta.name} is not a decoder run's" if meta is not None else "no config.json"
        raise InvertError(
            f"{run} is not a decoder run folder ({what}): train one with `invert decoder train --out {run}`"
        )
    return spec


def trained_layers(run: str | Path) -> list[str]:
    spec = read_run(run)
    return [l for l in spec["layers"] if (Path(run) / l / "decoder.pt").is_file()]


def evaluate_run(
    run: str | Path,
    out: str | Path,
    *,
    limit: int | None = 1000,
    data: str | None = None,
    download: bool = False,
    seed: int = 0,
    device: str | torch.device = "cpu",
    grid_images: int = 6,
) -> list[dict[str, Any]]:
    """Evaluate every trained decoder of ``run`` on the test set; write metrics and the thesis's figures to ``out``."""
    spec = read_run(run)
    layers = trained_layers(run)
    if not layers:
        raise InvertError(f"{run} has no trained decoder yet: finish `invert decoder train --out {run}` first")
    out = Path(out)
    model, weights = spec["model"], spec["weights"]
    x, y = load_data("test", limit, data, download)
    xtr, _ = load_data("train", spec.get("limit"), spec.get("data"), download)
    base = mean_image_baseline(xtr, x)
    clf = classifier_for(model, weights, device)
    decoders = {l: load_decoder(Path(run) / l / "decoder.pt", device) for l in layers}
    recs: dict[str, Reconstruction] = {}
    rows = []
    for layer in layers:
        enc = build_encoder(model, layer, weights, device=device)
        rec = evaluate_decoder(decoders[layer], enc, clf, x, y, seed=seed)
        recs[layer] = rec
        s = rec.summary()
        rows.append(
            {
                "layer": layer,
                "images": len(x),
                **s,
                "baseline_mse": base["mse"],
                "beats_baseline": s["mse"] < base["mse"],
            }
        )
    write_csv(out / "metrics.csv", rows)
    write_json(
        out / "metrics.json",
        {
            "model": model,
            "weights": weights,
            "run": str(run),
            "baseline": base,
            "rows": rows,
            "environment": environment_info(device),
            "seed": seed,
        },
    )
    _save_fig(
        error_figure(rows, base, f"{model} ({weights}) decoders, {len(x)} test images"),
        out / "error_per_checkpoint.png",
    )
    _grid_figures(out, x, y, recs, recs[layers[0]], grid_images)
    _mixing_figures(out, x, y, model, weights, layers, decoders, clf, device)
    return rows


def _grid_figures(
    out: Path, x: torch.Tensor, y: torch.Tensor, recs: dict[str, Reconstruction], first: Reconstruction, n: int
) -> None:
    """Thesis figs. 14–15: reconstructions of the first ``n`` originals the classifier gets right, and wrong."""
    correct = [i for i in range(len(x)) if int(first.pred_original[i]) == int(y[i])][:n]
    wrong = [i for i in range(len(x)) if int(first.pred_original[i]) != int(y[i])][:n]
    if correct:
        _save_fig(
            reconstruction_grid(x, recs, correct, y, title="correctly classified originals (fig. 14)"),
            out / "grid_correct.png",
        )
    if wrong:
        _save_fig(
            reconstruction_grid(x, recs, wrong, y, title="misclassified originals (fig. 15)"),
            out / "grid_incorrect.png",
        )


def _mixing_figures(
    out: Path, x: torch.Tensor, y: torch.Tensor, model: str, weights: str, layers: list[str], decoders: dict[str, Any],
    clf: Encoder, device: str | torch.device,
) -> None:  # fmt: skip
    """Thesis figs. 17–18: artificial logits and class mixing at the logit decoder, and class mixing through
    class-mean representations at the deepest spatial checkpoint."""
    n_classes = _num_classes(model)
    logit_layers = [l for l in layers if decoders[l].input_shape == (n_classes,)]
    if logit_layers:  # thesis fig. 17 and class mixing between confident logit vectors
        dec = decoders[logit_layers[-1]]
        fig, _ = artificial_logits_figure(dec, clf)
        _save_fig(fig, out / "artificial_logits.png")
        reps = torch.eye(n_classes) * 8.0  # softmax ≈ 0.997: confident, still inside the data (thesis fig. 18)
        pairs = [(i, (i + 1) % n_classes) for i in range(0, min(n_classes, 10), 2)]
        _save_fig(class_mixing_figure(dec, clf, pairs, reps, what="8·e"), out / "class_mixing_logits.png")
    spatial = [l for l in layers if l not in logit_layers]
    if spatial:  # class mixing through class-mean representations at the deepest non-logit checkpoint
        last = spatial[-1]
        enc = build_encoder(model, last, weights, device=device)
        with torch.no_grad():
            acts = torch.cat([enc(x[i : i + 256].to(device)).cpu() for i in range(0, len(x), 256)])
        classes = [c for c in range(n_classes) if (y == c).any()]
        means = torch.stack([acts[y == c].mean(0) if (y == c).any() else acts.mean(0) for c in range(n_classes)])
        pairs = [(classes[i], classes[i + 1]) for i in range(0, len(classes) - 1, 2)]
        if pairs:
            _save_fig(
                class_mixing_figure(decoders[last], clf, pairs, means, what=f"mean {last}"),
                out / f"class_mixing_{last}.png",
            )


def _num_classes(model: str) -> int:
    from invert.encoders.registry import build_model

    net, _ = build_model(model)
    fc = getattr(net, "fc", None) or getattr(net, "linear", None)  # torchvision ResNets / the CIFAR ResNets
    if not isinstance(fc, torch.nn.Linear):
        raise InvertError(f"{model} has no linear classifier (fc or linear) to count its classes")
    return fc.out_features


def compare_run(
    run: str | Path,
    out: str | Path,
    *,
    layers: Sequence[str] | None = None,
    count: int = 16,
    config: InversionConfig | None = None,
    amortise_over: int = 10_000,
    data: str | None = None,
    download: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> tuple[list[dict[str, Any]], list[Comparison]]:
    """Decoder vs optimisation vs hybrid on the first ``count`` test images per layer of ``run``: table and figures."""
    spec = read_run(run)
    have = trained_layers(run)
    layers = list(layers or have)
    missing = [l for l in layers if l not in have]
    if missing:
        raise InvertError(
            f"no trained decoder for layer(s) {', '.join(missing)} in {run} (have: {', '.join(have) or 'none'}) — "
            f"train them with `invert decoder train --layer ...`"
        )
    model, weights = spec["model"], spec["weights"]
    x, y = load_data("test", count, data, download)
    clf = classifier_for(model, weights, device)
    config = config or InversionConfig(iterations=100)
    out = Path(out)
    rows, comps = [], []
    for layer in layers:
        res = json.loads((Path(run) / layer / "result.json").read_text())
        enc = build_encoder(model, layer, weights, device=device)
        dec = load_decoder(Path(run) / layer / "decoder.pt", device)
        comp = compare_inverters(
            dec,
            enc,
            clf,
            x,
            y,
            config=config,
            train_seconds=res["seconds"],
            amortise_over=amortise_over,
            progress=progress,
        )
        comps.append(comp)
        rows += comp.rows
    write_csv(out / "comparison.csv", rows)
    write_json(
        out / "comparison.json",
        {
            "model": model,
            "weights": weights,
            "run": str(run),
            "rows": rows,
            "winners": {c.layer: c.winners for c in comps},
            "inversion_config": config.to_dict(),
            "environment": environment_info(device),
        },
    )
    write_text(out / "comparison.md", comparison_markdown(rows, comps))
    _save_fig(comparison_grid(comps, x), out / "side_by_side.png")
    _save_fig(cost_quality_figure(rows), out / "cost_quality.png")
    return rows, comps


def comparison_markdown(rows: Sequence[dict[str, Any]], comps: Sequence[Comparison]) -> str:
    """The comparison table and, per layer, which method wins each metric."""
    cols = [
        "layer",
        "method",
        "mse",
        "psnr",
        "ssim",
        "m_g_over_m_s",
        "below_ms",
        "accuracy",
        "agreement",
        "seconds_per_image",
        "amortised_seconds_per_image",
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
    lines.append("")
    for c in comps:
        lines.append(f"**{c.layer}** — wins: " + ", ".join(f"{k}: {v}" for k, v in c.winners.items()))
    return "\n".join(lines) + "\n"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)
