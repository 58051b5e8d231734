"""One profile cell = one model × weights × layer, every image inverted in one batched run of the default procedure.

The run is exactly `invert run`'s (same encoder, config and seed; the images batched as `invert run --image A
--image B` does), watched on the way: each image is kept as it was when first evaluated below m_s — the
evaluated image, or the running average where a `--stop-below-ms` run would take it — without holding it there,
so one run gives the figures of `invert run --stop-below-ms` (iterations to m_g < m_s; m_i, PSNR, SSIM there)
and of `invert run` after the whole budget. :func:`run_profile_cell` is what the executors' workers run; its
result travels back as bytes and :func:`invert.sweep.cells.write_cell` writes it, as for a sweep cell.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from invert.errors import Interrupted, InvertError


@dataclass(frozen=True)
class ProfileTask:
    """What a worker needs for one cell: the `invert run` job and config, and the layer's place in the profile."""

    id: str
    settings: dict[str, Any]
    job: Any  # invert.job.JobSpec
    config: Any  # invert.inversion.InversionConfig
    layer: dict[str, Any] = field(default_factory=dict)  # ProfileLayer.to_dict()
    decoder: dict[str, Any] | None = None  # {"epochs", "images", "folder"}: also train (or reuse) a decoder


def cell_id(settings: dict[str, Any]) -> str:
    """12 hex digits of the SHA-256 of the settings' canonical JSON: the same profile maps to the same folders."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_profile_cell(task: ProfileTask) -> dict[str, Any]:
    """Run the cell in a temporary folder; return status, error, seconds and ``files`` {name: bytes}.

    Any error becomes ``status: failed`` with its one-line message; Ctrl-C is re-raised so the profile stops
    and the cell stays unfinished.
    """
    t0 = time.perf_counter()
    status, error = "complete", None
    with tempfile.TemporaryDirectory(prefix=f"invert-profile-{task.id}-") as tmp:
        try:
            invert_layer(task, Path(tmp))
        except (Interrupted, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        except InvertError as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - a failed layer records its error and the profile goes on
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        files = {p.name: p.read_bytes() for p in sorted(Path(tmp).iterdir()) if p.is_file()}
    return {
        "id": task.id,
        "settings": task.settings,
        "status": status,
        "error": error,
        "cell_seconds": round(time.perf_counter() - t0, 3),
        "host": platform.node(),
        "pid": os.getpid(),
        "files": files,
    }


def _watch(inverter: Any) -> dict[str, Any]:
    """Make ``inverter`` keep each image as it was when first below m_s (in ``watch["problem"].held``) without
    holding it there: the run goes on to the budget. Call its ``run`` with ``stop_below_ms=True``."""
    watch: dict[str, Any] = {}
    make_problem = inverter._problem

    def problem(*args: Any, **kwargs: Any) -> Any:
        p = make_problem(*args, **kwargs)
        p.m_g_at = p.m_s.new_full(p.m_s.shape, math.nan)
        candidates = p.candidates

        def lean_candidates(state: Any) -> Any:  # once every image got there, the running average is not needed
            if bool((p.below_at >= 0).all()):
                return state.evaluated, state.measure
            return candidates(state)

        def observe(state: Any) -> bool:
            first, m_g = p.count_first_below(state)
            p.m_g_at[first] = m_g[first]
            return False

        p.candidates, p.observe, p.returned = lean_candidates, observe, lambda x: x
        watch["problem"] = p
        return p

    inverter._problem = problem
    return watch


def invert_layer(task: ProfileTask, out: Path) -> dict[str, Any]:
    """Invert the task's images at its layer; write target_K.png, at_ms_K.png (when below m_s), final_K.png,
    metrics.json, history.csv and config.json into ``out``; return the metrics."""
    import torch

    from invert.encoders import build_encoder
    from invert.inversion import InversionDiverged, build_inverter, resolved_for
    from invert.io import default_image_path, load_image, resolve_device, resolve_dtype, save_image, write_csv
    from invert.job import write_job_config

    job, config = task.job, task.config
    device, dtype = resolve_device(job.device), resolve_dtype(job.dtype)
    paths = [Path(p) for p in job.images] or [default_image_path()]
    encoder = build_encoder(
        job.model,
        job.layer,
        job.weights,
        seed=config.seed,
        normalize=config.normalize,
        input_size=config.size,
        device=device,
        dtype=dtype,
    )
    targets = torch.stack([load_image(p, config.size, config.resize, job.max_pixels) for p in paths])
    config = resolved_for(config, encoder)
    write_job_config(out, job, config, str(device), "running")
    inverter = build_inverter(encoder, config)
    watch = _watch(inverter)
    try:
        result = inverter.run(
            targets,
            config.iterations,
            restarts=1,
            seed=config.seed,
            record_every=config.record_every,
            stop_below_ms=True,  # watched, not held (see _watch): the budget is always run
            progress=False,
        )
    except InversionDiverged as exc:
        raise InvertError(f"{exc}") from None
    if result.interrupted:
        raise KeyboardInterrupt
    n = len(targets)
    below_at, held, image_norm, at_ms = _at_ms(watch["problem"], n)
    summary = result.summary()
    for i in range(n):
        save_image(result.targets[i], out / f"target_{i}.png")
        save_image(result.images[i, 0], out / f"final_{i}.png")
        if below_at[i] >= 0 and held is not None:
            save_image(held[i].cpu(), out / f"at_ms_{i}.png")
    metrics: dict[str, Any] = {
        "model": job.model,
        "layer": job.layer,
        "node": encoder.node,
        "weights": job.weights,
        "images": [str(p) for p in paths],
        "restarts": 1,
        "device": str(device),
        "dtype": job.dtype,
        "embedding_shape": task.layer.get("shape"),
        "status": "complete",
        **summary,
        "image_norm": image_norm,
        "at_ms": {"below_ms_at": below_at, **at_ms},
        "profile_layer": task.layer,
    }
    if task.decoder:
        metrics["decoder"] = decode_layer(task, encoder, targets, out)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_json_default) + "\n")
    write_csv(
        out / "history.csv",
        result.history,
        ["iteration", "target", "restart", "loss", "m_g", "m_i", "m_s", "lr", "sigma", "smooth"],
    )
    write_job_config(out, job, config, str(device), "complete")
    return metrics


def _at_ms(p: Any, n: int) -> tuple[list[int], Any, list[float], dict[str, list[float]]]:
    """From the watched problem: the iteration each image first got below m_s (-1: never), the images held there,
    each target's norm, and m_g, m_i, PSNR and SSIM at that moment (NaN where it never got there)."""
    import torch

    from invert.analysis.metrics import flat_l2, psnr, ssim

    below_at = [int(v) for v in p.below_at.cpu()]
    held = p.held.detach() if p.held is not None else None
    tg = p.targets.detach()
    image_norm = [float(v) for v in flat_l2(tg, torch.zeros_like(tg)).cpu()]
    at_ms: dict[str, list[float]] = {"m_g": [], "m_i": [], "psnr": [], "ssim": []}
    if held is not None:
        with torch.no_grad():
            mi, ps, ss = flat_l2(held, tg).cpu(), psnr(held, tg).cpu(), ssim(held, tg).cpu()
    for i in range(n):
        ok = below_at[i] >= 0 and held is not None
        at_ms["m_g"].append(float(p.m_g_at[i]) if ok else math.nan)
        at_ms["m_i"].append(float(mi[i]) if ok else math.nan)
        at_ms["psnr"].append(float(ps[i]) if ok else math.nan)
        at_ms["ssim"].append(float(ss[i]) if ok else math.nan)
    return below_at, held, image_norm, at_ms


def _json_default(value: Any) -> Any:
    return asdict(value) if hasattr(value, "__dataclass_fields__") else str(value)


def decode_layer(task: ProfileTask, encoder: Any, targets: Any, out: Path) -> dict[str, Any]:
    """A decoder for the layer (trained quickly on CIFAR-10 training images, or reused from ``folder`` when one
    was trained there before), and its PSNR/SSIM on the cell's images; writes decoded_K.png."""
    import torch

    from invert.datasets import load_cifar10
    from invert.decoder import build_decoder
    from invert.decoder.evaluation import evaluate_decoder
    from invert.decoder.training import DecoderTrainConfig, load_decoder, train_decoder
    from invert.io import resize_image, save_image

    spec = task.decoder or {}
    job, config = task.job, task.config
    folder = Path(spec["folder"]) / f"{job.model}-{Path(str(job.weights)).stem}-{job.layer}-{config.size}px"
    path = folder / "decoder.pt"
    t0 = time.perf_counter()
    if path.is_file():
        decoder, reused = load_decoder(path, encoder.device), True
    else:
        images, _ = load_cifar10("train", int(spec.get("images", 512)))
        if images.shape[-1] != config.size:
            images = torch.stack([resize_image(im, config.size) for im in images])
        decoder = build_decoder(job.model, job.layer, input_size=config.size, seed=config.seed)
        train_decoder(
            decoder,
            encoder,
            images,
            config=DecoderTrainConfig(epochs=int(spec.get("epochs", 3)), batch_size=32, patience=100),
            folder=folder,
            progress=False,
        )  # writes folder/decoder.pt: the next profile reuses it
        reused = False
    rec = evaluate_decoder(decoder, encoder, None, targets)
    for i in range(len(targets)):
        save_image(rec.images[i], out / f"decoded_{i}.png")
    return {
        "psnr": [float(v) for v in rec.psnr],
        "ssim": [float(v) for v in rec.ssim],
        "m_g": [float(v) for v in rec.m_g],
        "reused": reused,
        "path": str(path),
        "seconds": round(time.perf_counter() - t0, 2),
    }
