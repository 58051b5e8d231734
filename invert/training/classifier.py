"""A generic, resumable image-classifier trainer (Adam, cross-entropy) whose result is a weights file.

:func:`fit_classifier` trains any ``nn.Module`` mapping ``(B, C, H, W)`` images to class logits.
Every epoch is checkpointed into ``folder`` (:class:`~invert.training.checkpoint.Checkpointer`);
each epoch's shuffling and augmentation are drawn from a generator seeded by ``(seed, epoch)``,
so a run resumed after an interruption gives the same weights as one that never stopped.
The final weights go to ``folder/model.pt`` as a plain state dict, loadable by ``--weights``.

Encoders built from a weights *file* normalise their input with the model's mean/std
(:class:`~invert.encoders.registry.ModelSpec`), so train on images passed through
:func:`normalize_images` when the weights are meant for ``--weights``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import torch
from torch import nn

from invert.encoders.base import Normalize
from invert.errors import InvertError
from invert.io import atomic_path
from invert.progress import ProgressBar
from invert.training import distributed
from invert.training.scaffold import TrainingRun, batch_count, epoch_seed, one_cycle

Augment = Callable[[torch.Tensor], torch.Tensor]


class ImageSource(Protocol):
    """What ``fit_classifier`` needs from ``images``: a length and batch indexing by a LongTensor."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor: ...


def normalize_images(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(x - mean) / std`` per channel: the input an encoder built with ``--weights FILE`` feeds the model."""
    return Normalize(mean, std).to(images)(images)


def flip_crop(pad: int = 4) -> Augment:
    """Random horizontal flip and ``pad``-pixel random crop (the standard CIFAR augmentation), per image.

    Uses the global torch RNG, which :func:`fit_classifier` seeds per epoch (so it is reproducible).
    """

    def augment(x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        flip = torch.rand(b, device=x.device) < 0.5
        x = torch.where(flip.view(b, 1, 1, 1), x.flip(-1), x)
        if pad <= 0:
            return x
        padded = nn.functional.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (b,)).tolist()
        dx = torch.randint(0, 2 * pad + 1, (b,)).tolist()
        return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)])

    return augment


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded train/validation split of ``range(n)``: (train indices, validation indices)."""
    if not 0.0 <= val_fraction < 1.0:
        raise InvertError(
            f"val_fraction {val_fraction} is outside [0, 1): pass e.g. 0.1 for a 10% validation split, or 0"
        )
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n_val == 0:
        n_val = 1
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: ImageSource | torch.Tensor,
    labels: torch.Tensor,
    index: torch.Tensor,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
) -> float:
    """Accuracy of ``model`` (eval mode) on ``images[index]``; NaN for an empty index."""
    if len(index) == 0:
        return float("nan")
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(index), batch_size):
        idx = index[start : start + batch_size]
        x = images[idx].to(device)
        correct += int((model(x).argmax(1).cpu() == labels[idx]).sum())
    model.train(was_training)
    return correct / len(index)


def _check_inputs(images: Any, labels: torch.Tensor, epochs: int, batch_size: int, lr: float) -> None:
    if not hasattr(images, "__len__") or not hasattr(images, "__getitem__"):
        raise InvertError("images must be a tensor (N, C, H, W) or an object with __len__ and batch __getitem__")
    if len(images) != len(labels):
        raise InvertError(f"{len(images)} images but {len(labels)} labels: pass one label per image")
    if len(images) < 2:
        raise InvertError("need at least 2 training images")
    if epochs < 1:
        raise InvertError(f"epochs {epochs} < 1: train for at least one epoch")
    if batch_size < 2:
        raise InvertError(f"batch size {batch_size} < 2: BatchNorm needs at least 2 images per batch")
    if not lr > 0:
        raise InvertError(f"learning rate {lr} must be positive")


def fit_classifier(
    model: nn.Module,
    images: torch.Tensor | ImageSource,
    labels: torch.Tensor,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    folder: str | Path,
    resume: bool = True,
    val_fraction: float = 0.0,
    seed: int = 0,
    device: torch.device | str = "cpu",
    augment: Augment | None = None,
    progress: bool = True,
    optimizer: str = "adam",
    schedule: str = "constant",
    label_smoothing: float = 0.0,
    weight_decay: float = 0.0,
    channels_last: bool = False,
) -> list[dict[str, Any]]:
    """Train ``model`` in place on cross-entropy (Adam at a constant ``lr`` by default); return one history row per
    epoch.

    Rows: ``epoch`` (1-based), ``loss`` (mean training loss), ``train_acc`` (on the batches as
    trained), ``val_acc`` (held-out ``val_fraction``, if any), ``seconds``. ``images`` is a tensor
    or any object with ``len()`` and ``images[LongTensor] -> (B, C, H, W)`` (e.g. a generated dataset).
    ``augment`` maps a batch to a batch using the global torch RNG (seeded per epoch).
    ``resume=True`` continues from ``folder/last.pt``; ``resume=False`` starts over in ``folder``.
    A fully frozen model (as ``build_model`` returns it) is unfrozen; otherwise only trainable parameters move.

    The fast-training recipe: ``optimizer="sgd"`` (Nesterov momentum 0.9), ``schedule="onecycle"`` (``lr`` is the
    peak: a linear rise over the first quarter of the steps, then a linear fall to 0, computed from the step so a
    resumed run continues it), ``label_smoothing`` (e.g. 0.1), ``weight_decay`` (weights only) and
    ``channels_last`` (NHWC memory layout, faster convolutions on CPU).
    """
    _check_inputs(images, labels, epochs, batch_size, lr)
    _check_recipe(schedule, label_smoothing)
    labels = torch.as_tensor(labels).long().cpu()
    if not any(p.requires_grad for p in model.parameters()):
        model.requires_grad_(True)  # fully frozen, as build_model returns it: train everything
    run = {
        "n": len(labels),
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "val_fraction": val_fraction,
        "augment": augment is not None,
    }
    run.update(_recipe_record(optimizer, schedule, label_smoothing, weight_decay, epochs))
    if channels_last:
        model.to(memory_format=torch.channels_last)
    train_idx, val_idx = split_indices(len(labels), val_fraction, seed)
    tr = TrainingRun(
        model,
        name="model",
        folder=folder,
        run=run,
        device=device,
        batch_size=batch_size,
        lr=lr,
        resume=resume,
        optimizer=optimizer,
        weight_decay=weight_decay,
    )
    steps = batch_count(len(train_idx), batch_size)
    lr_at = (lambda step: one_cycle(step, epochs * steps, lr)) if schedule == "onecycle" else None
    fmt = torch.channels_last if channels_last else None
    _train_epochs(
        tr, images, labels, train_idx, val_idx, epochs, batch_size, augment, progress, label_smoothing, lr_at, fmt, seed
    )
    model.eval()
    tr.close()
    if distributed.is_main():
        save_state_dict(model, Path(folder) / "model.pt")
    distributed.barrier()  # model.pt exists before any rank goes on to read it
    return tr.history


def _check_recipe(schedule: str, label_smoothing: float) -> None:
    """Refuse a schedule other than constant/onecycle and a label smoothing outside [0, 1)."""
    if schedule not in ("constant", "onecycle"):
        raise InvertError(f"unknown schedule {schedule!r}: use 'constant' or 'onecycle'")
    if not 0.0 <= label_smoothing < 1.0:
        raise InvertError(f"label smoothing {label_smoothing} is outside [0, 1)")


def _recipe_record(
    optimizer: str, schedule: str, label_smoothing: float, weight_decay: float, epochs: int
) -> dict[str, Any]:
    """What a recipe other than plain Adam adds to the run's record (a resumed run must match it): the recipe, and
    the epochs too (the schedule spans them). Nothing for plain Adam at a constant lr, so a plain run's record is
    unchanged and its existing checkpoints stay valid."""
    if (optimizer, schedule, label_smoothing, weight_decay) == ("adam", "constant", 0.0, 0.0):
        return {}
    return {
        "optimizer": optimizer,
        "schedule": schedule,
        "label_smoothing": label_smoothing,
        "weight_decay": weight_decay,
        "epochs": epochs,
    }


def _train_epochs(
    tr: TrainingRun,
    images: torch.Tensor | ImageSource,
    labels: torch.Tensor,
    train_idx: torch.Tensor,
    val_idx: torch.Tensor,
    epochs: int,
    batch_size: int,
    augment: Augment | None,
    progress: bool,
    label_smoothing: float,
    lr_at: Callable[[int], float] | None,
    fmt: torch.memory_format | None,
    seed: int,
) -> None:
    """The epochs from where the run stands to ``epochs``: each one's shuffling and augmentation drawn from
    ``(seed, epoch)`` in a forked RNG (the caller's RNG state is left as it was), validation accuracy if there is a
    validation split, then the epoch's row and checkpoint (:meth:`TrainingRun.end_epoch`; "improved" on validation
    accuracy, else training accuracy)."""
    model, device = tr.module, tr.device
    best = max((h.get("val_acc", h["train_acc"]) for h in tr.history), default=-math.inf)
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    with tr.progress("training", epochs, batch_count(len(train_idx), batch_size), progress) as bar:
        for epoch in range(tr.start, epochs):
            t0 = time.perf_counter()
            with torch.random.fork_rng(devices=cuda_devices):
                torch.manual_seed(epoch_seed(seed, epoch))
                row = {
                    "epoch": epoch + 1,
                    **_train_epoch(
                        tr, images, labels, train_idx, batch_size, augment, bar, label_smoothing, lr_at, epoch, fmt
                    ),
                }
            if len(val_idx):
                row["val_acc"] = evaluate(model, images, labels, val_idx, max(batch_size, 256), device)
            row["seconds"] = time.perf_counter() - t0
            score = row.get("val_acc", row["train_acc"])
            tr.end_epoch(epoch, row, improved=score > best)  # --tensorboard: loss and accuracies per epoch
            best = max(best, score)
            bar.describe(_describe(row, epochs))


def _train_epoch(
    tr: TrainingRun,
    images: Any,
    labels: torch.Tensor,
    train_idx: torch.Tensor,
    batch_size: int,
    augment: Augment | None,
    bar: ProgressBar,
    label_smoothing: float = 0.0,
    lr_at: Callable[[int], float] | None = None,
    epoch: int = 0,
    memory_format: torch.memory_format | None = None,
) -> dict[str, float]:
    tr.net.train()
    order = train_idx[torch.randperm(len(train_idx))]
    total_loss, correct, seen = 0.0, 0, 0
    loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    steps = batch_count(len(order), batch_size)
    for b in range(steps):
        if lr_at is not None:
            tr.set_lr(lr_at(epoch * steps + b))
        idx = order[b * batch_size : (b + 1) * batch_size]
        part = tr.slice(torch.arange(len(idx)))  # under torchrun: this rank's slice of the global batch
        if augment is not None:  # augment the whole global batch (same RNG on every rank), then slice
            x = augment(images[idx].to(tr.device))
            x = x[part.to(tr.device)] if len(part) < len(idx) else x
        else:
            x = images[idx[part]].to(tr.device)
        y = labels[idx[part]].to(tr.device)
        if memory_format is not None:
            x = x.contiguous(memory_format=memory_format)
        logits = tr.net(x)
        loss = loss_fn(logits, y)
        tr.step(loss, len(part), len(idx), "training loss is not finite: lower the learning rate (--lr)")
        total_loss += float(loss.detach()) * len(part)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(part)
        bar.advance()
    loss_sum, n_correct, n_seen = distributed.all_sum(total_loss, correct, seen)  # over ranks under torchrun
    return {"loss": loss_sum / n_seen, "train_acc": n_correct / n_seen}


def _describe(row: dict[str, Any], epochs: int) -> str:
    text = f"epoch {row['epoch']}/{epochs} loss {row['loss']:.3f} acc {row['train_acc']:.3f}"
    return text + (f" val {row['val_acc']:.3f}" if "val_acc" in row else "")


def save_state_dict(model: nn.Module, path: str | Path) -> Path:
    """Write ``model``'s weights as a plain CPU state dict, atomically (what ``--weights PATH`` loads)."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def training_figure(history: list[dict[str, Any]], title: str = "", chance: float | None = None):
    """Loss (log scale) and accuracy per epoch, with the chance level dashed: what a training run did."""
    from invert.analysis.plots import subplots

    ep = [h["epoch"] for h in history]
    fig, (a, b) = subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    a.plot(ep, [h["loss"] for h in history], marker=".")
    a.set(yscale="log", xlabel="epoch", ylabel="cross-entropy loss (nats)", title="training loss")
    b.plot(ep, [h["train_acc"] for h in history], marker=".", label="training (train mode)")
    if any("val_acc" in h for h in history):
        b.plot(ep, [h.get("val_acc", float("nan")) for h in history], marker=".", label="validation")
    if chance is not None:
        b.axhline(chance, ls="--", color="gray", lw=1, label=f"chance {chance:.2g}")
    b.set(ylim=(0, 1.02), xlabel="epoch", ylabel="accuracy (fraction)", title="accuracy")
    b.legend(fontsize=8)
    for ax in (a, b):
        ax.grid(True, which="both", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write a matplotlib figure as PNG atomically (:func:`invert.io.save_figure`)."""
    from invert.io import save_figure as save

    return save(fig, path)
