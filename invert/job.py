"""The main job, `invert run`, as a Python function: images → encoder → inversion → files.

:func:`run` is `invert run` as a function (the command parses its options and calls it): the same options,
the same rules (the model's own input size, ``lr="auto"``) and the same files. :func:`run_job` runs a
:class:`JobSpec` with a finished :class:`InversionConfig` (what a sweep cell runs); :func:`write_outputs` writes
every output file atomically so an interrupted or diverged run still leaves what it has.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Sequence

import torch

from invert.encoders import build_encoder
from invert.encoders.base import Encoder
from invert.errors import Interrupted, InvertError, RunFailed
from invert.inversion import (
    InversionConfig,
    InversionDiverged,
    InversionResult,
    Inverter,
    build_inverter,
    get_preset,
    line_search_lr,
    resolve,
)
from invert.inversion.parts import stride_from_shape
from invert.io import (
    default_image_path,
    load_image,
    prepare_out_dir,
    release_folder,
    resolve_device,
    resolve_dtype,
    save_figure,
    save_image,
    write_config,
    write_csv,
    write_json,
)
from invert.job_spec import JobSpec
from invert.memory import check_fits, estimate_run


def resolve_config(preset: str | None, overrides: dict[str, Any]) -> InversionConfig:
    """Preset (default ``default``) then explicit overrides; ``None`` overrides are ignored."""
    return get_preset(preset or "default").config().updated(**overrides)


def run_config(model: str, preset: str | None = None, **settings: Any) -> InversionConfig:
    """The settings of a run of ``model``: the preset (default ``default``), then ``settings`` (``None`` ignored).
    The input size is the model's own (32 px for CIFAR ResNets, 224 for ImageNet models) unless given or fixed by
    the preset."""
    if settings.get("size") is None and "size" not in get_preset(preset or "default").settings:
        from invert.encoders.registry import default_size

        settings["size"] = default_size(model)
    return resolve_config(preset, settings)


def lr_setting(value: str | float | None) -> tuple[float | None, bool]:
    """``lr`` as given (a number, ``"auto"`` for the line search, or ``None``) → (lr, whether to search)."""
    if value is None or value == "auto":
        return None, value == "auto"
    try:
        lr = float(value)
    except ValueError:
        raise InvertError(f"--lr must be a number or 'auto' (got {value!r})") from None
    if not (lr > 0 and lr != float("inf")):
        raise InvertError(f"learning rate must be positive and finite (got {value}) — try 0.1, or --lr auto")
    return lr, False


def run(
    model: str = JobSpec.model,
    layer: str = JobSpec.layer,
    weights: str = JobSpec.weights,
    images: Sequence[str | Path] = (),
    *,
    preset: str | None = None,
    progress: bool = True,
    console: Any = None,
    warn: bool = True,
    **options: Any,
) -> tuple[InversionResult, Path]:
    """`invert run` as a function: the same options (job ones such as ``restarts``, ``out``, ``init_image``, and
    every :class:`InversionConfig` setting; ``lr="auto"`` searches the lr), the same rules (the model's own size
    unless given) and the same files. Returns the result and the output folder."""
    job_names = {f.name for f in fields(JobSpec)} - {"model", "layer", "weights", "images", "lr_auto"}
    job = {k: options.pop(k) for k in list(options) if k in job_names}
    unknown = set(options) - {f.name for f in fields(InversionConfig)}
    if unknown:
        raise InvertError(f"unknown run setting(s): {', '.join(sorted(unknown))}")
    lr, lr_auto = lr_setting(options.pop("lr", None))
    config = run_config(model, preset, lr=lr, **options)
    for key in ("out", "init_image", "tensorboard"):
        if job.get(key) is not None:
            job[key] = str(job[key])
    spec = JobSpec(model=model, layer=layer, weights=weights, images=[str(p) for p in images], lr_auto=lr_auto, **job)
    return run_job(spec, config, progress=progress, console=console, warn=warn)


def run_job(
    spec: JobSpec, config: InversionConfig, progress: bool = True, console: Any = None, warn: bool = True
) -> tuple[InversionResult, Path]:
    """Run one inversion job and write its files; returns the result and the output folder. A run that ends
    above its start, saturates or starts below m_s records ``warnings`` in its files (and says them when ``warn``)."""
    if spec.restarts < 1:
        raise InvertError(f"--restarts must be at least 1 (got {spec.restarts})")
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype)
    paths = [Path(p) for p in spec.images] or [default_image_path()]
    encoder = _checked_encoder(spec, config, len(paths), device, dtype)  # refused before any image is made
    targets = torch.stack([load_image(p, config.size, config.resize, spec.max_pixels) for p in paths])
    init_image = load_image(spec.init_image, config.size, config.resize, spec.max_pixels) if spec.init_image else None
    if init_image is not None:
        config = config.updated(init="image")
    with torch.no_grad():  # the one forward pass before the run's own: the embedding's shape and the layer's stride
        embedding_shape = list(encoder(targets[:1].to(device, dtype)).shape[1:])
    # the chosen defaults made concrete, once: config.json says what ran
    config = resolve(config, encoder, stride=stride_from_shape(embedding_shape, config.size))
    meta = {
        "model": spec.model,
        "layer": spec.layer,
        "node": encoder.node,
        "weights": spec.weights,
        "images": [str(p) for p in paths],
        "restarts": spec.restarts,
        "device": str(device),
        "dtype": spec.dtype,
        "embedding_shape": embedding_shape,
    }
    out = prepare_out_dir(spec.out, spec.results_root, f"{spec.model}-{spec.layer}", spec.overwrite)
    try:
        write_job_config(out, spec, config, str(device), "running")
        try:
            search_rows: list[dict[str, float]] = []
            if spec.lr_auto:
                lr, search_rows = line_search_lr(encoder, targets, config, seed=config.seed)
                config = config.updated(lr=lr)
                if console is not None:
                    console.print(f"line search picked lr = {lr:.4g} from {len(search_rows)} trials")
            inverter = build_inverter(encoder, config, init_image)
        except KeyboardInterrupt:
            write_job_config(out, spec, config, str(device), "interrupted", note="stopped before the first iteration")
            raise Interrupted(f"interrupted before the first iteration — {out} holds only config.json") from None
        try:
            result = _run_logged(inverter, targets, spec, config, progress)
        except InversionDiverged as exc:
            if exc.result is not None:
                write_outputs(out, exc.result, config, spec, meta, search_rows, status="diverged")
            else:
                write_job_config(out, spec, config, str(device), "diverged", note=str(exc))
            raise RunFailed(f"{exc} — partial results in {out}") from None
        write_outputs(
            out, result, config, spec, meta, search_rows, status="interrupted" if result.interrupted else "complete"
        )
        from invert.health import record_warnings, run_warnings

        record_warnings(out, run_warnings(result), warn=warn)
    finally:
        release_folder(out)
    return result, out


def _checked_encoder(
    spec: JobSpec, config: InversionConfig, n_images: int, device: torch.device, dtype: torch.dtype
) -> Encoder:
    """The job's encoder, once the run is known to fit the device's memory (a dry run, no image needed)."""
    encoder = build_encoder(
        spec.model,
        spec.layer,
        spec.weights,
        seed=config.seed,
        normalize=config.normalize,
        input_size=config.size,
        device=device,
        dtype=dtype,
    )
    check_fits(
        estimate_run(encoder, encoder.input_shape, n_images, spec.restarts, config.chunk, device, dtype),
        device,
        size=config.size,
        n_images=n_images,
        restarts=spec.restarts,
        chunk=config.chunk,
    )
    return encoder


def _run_logged(
    inverter: Inverter, targets: torch.Tensor, spec: JobSpec, config: InversionConfig, progress: bool
) -> InversionResult:
    """The inversion itself, logged to ``spec.tensorboard`` too when given."""
    from invert.tensorboard import InversionLog

    tb = InversionLog.attach(
        inverter, spec.tensorboard, f"{spec.model}-{spec.layer}", targets, spec.restarts, config.record_every
    )
    try:
        result = inverter.run(
            targets,
            config.iterations,
            restarts=spec.restarts,
            seed=config.seed,
            record_every=config.record_every,
            stop_below_ms=config.stop_below_ms,
            progress=progress,
            callback=tb.callback if tb else None,
        )
        if tb:
            tb.finish(result)
    finally:
        if tb:
            tb.close()
    return result


def write_outputs(
    out: Path,
    result: InversionResult,
    config: InversionConfig,
    spec: JobSpec,
    meta: dict[str, Any],
    search_rows: Sequence[dict[str, float]] = (),
    status: str = "complete",
) -> None:
    """target.png, reconstruction*.png, metrics.json, history.csv, distances.png, overview.png, config.json."""
    n, r = result.m_g.shape
    for i in range(n):
        save_image(result.targets[i], out / ("target.png" if n == 1 else f"target_{i}.png"))
        for j in range(r):
            name = "reconstruction" + (f"_{i}" if n > 1 else "") + (f"_r{j}" if r > 1 else "") + ".png"
            save_image(result.images[i, j], out / name)
    # One schema whatever the number of images: per-target lists (best restart), every restart under "runs".
    write_json(out / "metrics.json", {**meta, "status": status, **result.summary()})
    write_csv(
        out / "history.csv",
        result.history,
        ["iteration", "target", "restart", "loss", "m_g", "m_i", "m_s", "lr", "sigma", "smooth"],
    )
    if search_rows:
        write_csv(out / "lr_search.csv", list(search_rows))
    from invert.analysis.plots import distance_figure, overview_figure

    title = f"{meta['model']} {meta['layer']} ({meta['weights']})"
    m_s = [float(v) for v in result.m_s]
    save_figure(distance_figure(result.history, m_s, title), out / "distances.png", tight=False)
    save_figure(
        overview_figure(result.targets, result.images, result.history, m_s, title), out / "overview.png", tight=False
    )
    write_job_config(out, spec, config, meta["device"], status)


def write_job_config(out: Path, spec: JobSpec, config: InversionConfig, device: str, status: str, **extra: Any) -> Path:
    """``config.json``: the manifest (command line, seed, folder), the job and every inversion setting,
    and the status.
    """
    return write_config(
        out,
        "run",
        seed=config.seed,
        device=device,
        status=status,
        job=asdict(spec),
        inversion=config.to_dict(),
        **extra,
    )


def format_table_rows(result: InversionResult) -> list[list[str]]:
    """Rows for the end-of-run summary table (one per target, best restart)."""
    s = result.summary()
    rows = []
    for i in range(len(s["m_g"])):
        ok = s["below_ms"][i]
        rows.append(
            [
                str(i),
                f"{s['m_g'][i]:.4g}",
                f"{s['m_s'][i]:.4g} ± {s['m_s_std'][i]:.2g}",
                "yes" if ok else "no",
                f"{s['m_i'][i]:.4g}",
                f"{s['psnr'][i]:.2f}",
                f"{s['ssim'][i]:.3f}",
            ]
        )
    return rows
