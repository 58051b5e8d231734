"""Training decoders: MSE (thesis eq. 13), optionally + c·cross-entropy (eq. 14) and feature consistency.

:func:`train_decoder` fits one decoder with Adam, early-stops on a validation split carved from the
*training* images (the thesis validated on the test set; we keep the test set for evaluation), and
checkpoints every epoch so an interrupted run resumes exactly. :func:`train_decoders` trains the
checkpoints in order, warm-starting each decoder from the previous one (thesis §3.2).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from invert.analysis.metrics import flat_l2
from invert.decoder.architecture import ResNetDecoder, build_decoder, warm_start
from invert.encoders import Encoder, build_encoder
from invert.encoders.registry import get_spec
from invert.errors import Interrupted, InvertError
from invert.io import atomic_path, write_json
from invert.progress import ProgressBar
from invert.settings import updated
from invert.training import distributed
from invert.training.classifier import split_indices
from invert.training.scaffold import TrainingRun, batch_count


@dataclass(frozen=True)
class DecoderTrainConfig:
    """Decoder training settings; defaults follow the thesis (Adam lr 1e-3, batch 10, patience 10, ≤30 epochs).

    ``target`` is what the decoder predicts and eq. 13's MSE is taken on: ``"normalized"`` — the image
    normalised per channel with the model's mean/std, as the thesis's text (§3.2) and code do — or
    ``"pixels"``, raw [0, 1] images (slow to learn: see :class:`~invert.decoder.architecture.ResNetDecoder`).
    Reported MSE (``mse``, ``val_mse``) is always on [0, 1] pixels. ``ce_weight`` is c in eq. 14
    (cross-entropy of the classifier on the reconstruction against the true label, added to the MSE in
    ``target`` units); ``feature_weight`` weighs ‖O(x̂) − O(a)‖₂ / ‖O(a)‖₂ (relative, so one weight suits
    every layer). ``val_fraction`` of the training images is held out for early stopping.
    """

    epochs: int = 30
    batch_size: int = 10
    lr: float = 1e-3
    patience: int = 10
    val_fraction: float = 0.1
    ce_weight: float = 0.0
    feature_weight: float = 0.0
    seed: int = 0
    target: str = "normalized"

    def __post_init__(self) -> None:
        from invert.decoder.architecture import TARGETS

        if self.target not in TARGETS:
            raise InvertError(f"decoder target {self.target!r}: use one of {', '.join(TARGETS)}")
        if self.epochs < 1:
            raise InvertError(f"epochs {self.epochs} < 1: train for at least one epoch")
        if self.batch_size < 2:
            raise InvertError(
                f"batch size {self.batch_size} < 2: the decoder's BatchNorm needs at least 2 images per batch"
            )
        if not self.lr > 0:
            raise InvertError(f"learning rate {self.lr} must be positive (thesis: 1e-3)")
        if self.patience < 1:
            raise InvertError(f"patience {self.patience} < 1: early stopping needs at least one epoch of patience")
        if not 0.0 < self.val_fraction < 1.0:
            raise InvertError(
                f"val fraction {self.val_fraction} must be in (0, 1): early stopping needs a validation split, e.g. 0.1"
            )
        if self.ce_weight < 0 or self.feature_weight < 0:
            raise InvertError("loss weights (--ce-weight, --feature-weight) must be ≥ 0")

    def updated(self, **changes: Any) -> DecoderTrainConfig:
        """A copy with ``changes`` applied (``None`` keeps the current value)."""
        return updated(self, "decoder", **changes)

    def run_key(self) -> dict[str, Any]:
        """The settings that define the run (a resumed run must match them; ``epochs`` may grow)."""
        d = asdict(self)
        d.pop("epochs")
        return d


QUICK = DecoderTrainConfig(epochs=4, batch_size=32, lr=3e-3, patience=2, val_fraction=0.1)
"""The ``--quick`` setting (with 2000 training images): four epochs, batch 32 — minutes on two CPU cores."""


class TrainingInterrupted(Interrupted):
    """Ctrl-C during training: the last completed epoch is on disk and the same call resumes from it."""


@dataclass
class DecoderTrainResult:
    """One decoder's training record: per-epoch history, best epoch and its validation MSE, time spent."""

    layer: str
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_mse: float = math.nan
    seconds: float = 0.0
    stopped_early: bool = False
    warm_started: int = 0


def decoder_loss(
    decoder: ResNetDecoder,
    encoder: Encoder,
    images: torch.Tensor,
    acts: torch.Tensor,
    labels: torch.Tensor | None,
    config: DecoderTrainConfig,
    classifier: Encoder | None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of one batch and its parts: MSE (eq. 13, in the decoder's target units) + c·ce (eq. 14) + w·relative
    feature distance; ``parts['mse']`` is the MSE on [0, 1] pixels whatever the target."""
    out = decoder(acts)
    mse = F.mse_loss(out, images)
    scale = getattr(decoder, "module", decoder).pixel_scale()  # under DDP the decoder is wrapped
    loss = mse if config.target == "pixels" else ((out - images) / scale).pow(2).mean()
    parts = {"mse": float(mse.detach())}
    if config.ce_weight > 0:
        if classifier is None or labels is None:
            raise InvertError("--ce-weight needs labels and the classifier of the same model")
        ce = F.cross_entropy(classifier(out), labels)
        loss = loss + config.ce_weight * ce
        parts["ce"] = float(ce.detach())
    if config.feature_weight > 0:
        rel = (flat_l2(encoder(out), acts) / flat_l2(acts, torch.zeros_like(acts)).clamp_min(1e-8)).mean()
        loss = loss + config.feature_weight * rel
        parts["feature"] = float(rel.detach())
    return loss, parts


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch * 7_919 + 4_242) % (2**63 - 1))


@torch.no_grad()
def validation_loss(
    decoder: ResNetDecoder,
    encoder: Encoder,
    images: torch.Tensor,
    labels: torch.Tensor | None,
    config: DecoderTrainConfig,
    classifier: Encoder | None,
    batch_size: int = 256,
) -> dict[str, float]:
    """Mean loss and MSE (eq. 13, raw output) over ``images`` in eval mode."""
    was = decoder.training
    decoder.eval()
    dev = encoder.device
    tot = {"loss": 0.0, "mse": 0.0}
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size].to(dev)
        y = labels[i : i + batch_size].to(dev) if labels is not None else None
        loss, parts = decoder_loss(decoder, encoder, x, encoder(x), y, config, classifier)
        tot["loss"] += float(loss) * len(x)
        tot["mse"] += parts["mse"] * len(x)
    decoder.train(was)
    return {k: v / len(images) for k, v in tot.items()}


def train_decoder(
    decoder: ResNetDecoder,
    encoder: Encoder,
    images: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    config: DecoderTrainConfig = DecoderTrainConfig(),
    folder: str | Path,
    classifier: Encoder | None = None,
    resume: bool = True,
    progress: bool = True,
) -> DecoderTrainResult:
    """Fit ``decoder`` to map ``encoder(images)`` back to ``images`` ([0, 1]); in place, best epoch loaded at the end.

    Every epoch writes ``folder/last.pt`` (and ``best.pt`` when validation loss improves); with
    ``resume`` a second call continues from there and ends with the same weights as an uninterrupted
    run. Stops early after ``patience`` epochs without improvement. Writes ``folder/decoder.pt``.
    """
    if config.target != decoder.target:
        raise InvertError(f"the decoder predicts {decoder.target!r}, the training settings say {config.target!r}")
    if images.dim() != 4 or tuple(images.shape[1:]) != tuple(decoder.image_shape):
        raise InvertError(
            f"training images have shape {tuple(images.shape[1:])}, the decoder expects {tuple(decoder.image_shape)}"
        )
    if labels is not None and len(labels) != len(images):
        raise InvertError(f"{len(images)} images but {len(labels)} labels: pass one label per image")
    if len(images) < 4:
        raise InvertError(f"only {len(images)} training images: a decoder needs at least a few (use --limit ≥ 100)")
    folder = Path(folder)
    run = {**config.run_key(), "n": len(images), "layer": decoder.layer, "model": decoder.model_name}
    tr = TrainingRun(
        decoder,
        name="decoder",
        folder=folder,
        run=run,
        device=encoder.device,
        batch_size=config.batch_size,
        lr=config.lr,
        resume=resume,
        restart_hint="choose another --out, or pass --overwrite to start over",
    )
    train_idx, val_idx = split_indices(len(images), config.val_fraction, config.seed)
    xv, yv = images[val_idx], labels[val_idx] if labels is not None else None
    state = {"best": math.inf, "best_epoch": -1, "bad": 0, "seconds": 0.0, **tr.extra}
    state.pop("run", None)
    batches = batch_count(len(train_idx), config.batch_size)
    try:
        with tr.progress(f"decoder {decoder.layer}", config.epochs, batches, progress) as bar:
            for epoch in range(tr.start, config.epochs):
                if state["bad"] >= config.patience:
                    break
                t0 = time.perf_counter()
                sums = _decoder_epoch(tr, encoder, images, labels, train_idx, config, classifier, epoch, bar)
                val = validation_loss(decoder, encoder, xv, yv, config, classifier)
                state["seconds"] += time.perf_counter() - t0
                row = {"epoch": epoch + 1, **sums, "val_loss": val["loss"], "val_mse": val["mse"]}
                row["seconds"] = state["seconds"]
                improved = val["loss"] < state["best"]
                if improved:
                    state.update(best=val["loss"], best_epoch=epoch + 1, bad=0)
                else:
                    state["bad"] += 1
                tr.end_epoch(epoch, row, improved, state, f"decoder_{decoder.layer}")  # one TensorBoard set per layer
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"decoder training for {decoder.layer} interrupted after {len(tr.history)} epoch(s): "
            f"run the same command again to resume from {folder / 'last.pt'}"
        ) from None
    finally:
        tr.close()
    history, best_epoch, seconds = tr.history, state["best_epoch"], state["seconds"]
    tr.checkpoints.load_best_into("decoder", decoder)
    decoder.eval()
    if distributed.is_main():
        save_decoder(decoder, folder / "decoder.pt", {"history": history, "config": asdict(config)})
    distributed.barrier()  # decoder.pt exists before any rank reads it
    best_mse = next((h["val_mse"] for h in history if h["epoch"] == best_epoch), math.nan)
    stopped = state["bad"] >= config.patience or len(history) < config.epochs  # the rule fired, if only at the cap
    return DecoderTrainResult(decoder.layer, history, best_epoch, best_mse, seconds, stopped)


def _decoder_epoch(
    tr: TrainingRun,
    encoder: Encoder,
    images: torch.Tensor,
    labels: torch.Tensor | None,
    train_idx: torch.Tensor,
    config: DecoderTrainConfig,
    classifier: Encoder | None,
    epoch: int,
    bar: ProgressBar,
) -> dict[str, float]:
    """One epoch over the training images in the epoch's seeded order: mean training loss and MSE over all ranks."""
    tr.net.train()
    order = train_idx[torch.randperm(len(train_idx), generator=_epoch_generator(config.seed, epoch))]
    sums = {"loss": 0.0, "mse": 0.0}
    seen = 0
    for b in range(batch_count(len(order), config.batch_size)):
        batch = order[b * config.batch_size : (b + 1) * config.batch_size]
        idx = tr.slice(batch)  # under torchrun: this rank's slice
        x = images[idx].to(tr.device)
        y = labels[idx].to(tr.device) if labels is not None else None
        with torch.no_grad():
            a = encoder(x)
        loss, parts = decoder_loss(tr.net, encoder, x, a, y, config, classifier)  # type: ignore[arg-type]
        hint = f"decoder training diverged at epoch {epoch + 1}: lower --lr (was {config.lr:g})"
        tr.step(loss, len(idx), len(batch), hint)
        sums["loss"] += float(loss.detach()) * len(x)
        sums["mse"] += parts["mse"] * len(x)
        seen += len(x)
        bar.advance(description=f"decoder {tr.module.layer} epoch {epoch + 1}/{config.epochs} mse {parts['mse']:.4f}")
    loss_sum, mse_sum, n_seen = distributed.all_sum(sums["loss"], sums["mse"], seen)  # over ranks
    return {"train_loss": loss_sum / n_seen, "train_mse": mse_sum / n_seen}


def save_decoder(decoder: ResNetDecoder, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the decoder's weights and what it decodes (model, layer, shapes) atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"meta": decoder.meta(), "state_dict": decoder.state_dict(), "extra": extra or {}}, tmp)
    return path


def load_decoder(path: str | Path, device: torch.device | str = "cpu") -> ResNetDecoder:
    """Rebuild a decoder saved by :func:`save_decoder` (architecture from its model and layer) and load its weights."""
    path = Path(path)
    if not path.is_file():
        raise InvertError(f"decoder file not found: {path} — train one with `invert decoder train`")
    from invert.training.checkpoint import load_checkpoint

    blob = load_checkpoint(path)  # weights_only: a decoder file from elsewhere cannot run code
    try:
        meta = blob["meta"]
    except (KeyError, TypeError) as exc:
        raise InvertError(f"{path} is not a decoder file written by invert ({exc.__class__.__name__})") from None
    dec = build_decoder(
        meta["model"],
        meta["layer"],
        input_size=meta["image_shape"][-1],
        learn_unpool=meta.get("learn_unpool", True),
        target=meta.get("target", "pixels"),  # files from before the target was recorded predicted pixels
    )
    dec.load_state_dict(blob["state_dict"])
    return dec.to(device).eval()


def classifier_for(model: str, weights: str, device: torch.device | str = "cpu") -> Encoder:
    """The whole network as an encoder (its last graph node = the logits): the thesis's judge of reconstructions."""
    from invert.encoders.registry import build_model, graph_nodes

    net, spec = build_model(model, "untrained")
    return build_encoder(model, "node:" + graph_nodes(net)[-1], weights, device=device)


def train_decoders(
    model: str,
    layers: Sequence[str],
    images: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    weights: str = "trained",
    config: DecoderTrainConfig = DecoderTrainConfig(),
    folder: str | Path,
    warm: bool = True,
    resume: bool = True,
    device: torch.device | str = "cpu",
    progress: bool = True,
    on_trained: Callable[[str, ResNetDecoder, DecoderTrainResult], None] | None = None,
    learn_unpool: bool = True,
) -> dict[str, tuple[ResNetDecoder, DecoderTrainResult]]:
    """Train one decoder per layer in order into ``folder/<layer>/``, each warm-started from the previous.

    ``learn_unpool=False`` reproduces the thesis code's frozen unpooling multiplier.
    A layer whose ``decoder.pt`` and ``result.json`` already exist (a finished earlier run) is loaded,
    not retrained, so re-running an interrupted sweep continues where it stopped.
    """
    get_spec(model)
    folder = Path(folder)
    classifier = classifier_for(model, weights, device) if config.ce_weight > 0 else None
    out: dict[str, tuple[ResNetDecoder, DecoderTrainResult]] = {}
    prev: ResNetDecoder | None = None
    for layer in layers:
        sub = folder / layer.replace("/", "_")
        encoder = build_encoder(model, layer, weights, device=device)
        done = sub / "result.json"
        if resume and done.is_file() and (sub / "decoder.pt").is_file():
            dec = load_decoder(sub / "decoder.pt", device)
            res = DecoderTrainResult(**json.loads(done.read_text()))
        else:
            dec = build_decoder(
                model,
                layer,
                seed=config.seed,
                learn_unpool=learn_unpool,
                input_size=images.shape[-1],
                target=config.target,
            ).to(device)
            # warm-start even when resuming this layer: last.pt then overwrites every weight, and the count
            # recorded (warm_started) is the uninterrupted run's
            copied = warm_start(dec, prev) if (warm and prev is not None) else []
            res = train_decoder(
                dec,
                encoder,
                images,
                labels,
                config=config,
                folder=sub,
                classifier=classifier,
                resume=resume,
                progress=progress,
            )
            res.warm_started = len(copied)
            if distributed.is_main():
                write_json(done, asdict(res))
        out[layer] = (dec, res)
        if on_trained is not None:
            on_trained(layer, dec, res)
        prev = dec
    return out
