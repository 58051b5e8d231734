"""The one training scaffold: epochs, checkpoints and resume, DDP slices, TensorBoard, progress.

Classifier training (:func:`~invert.training.classifier.fit_classifier`, and through it noise training) and decoder
training (:func:`~invert.decoder.training.train_decoder`) differ only in what one batch computes and how an epoch
is judged; everything around that lives here, so the two count batches, slice batches over ``torchrun`` ranks,
checkpoint, resume and report alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from invert.errors import InvertError
from invert.progress import ProgressBar
from invert.tensorboard import TRAINING, epoch_done
from invert.training import distributed
from invert.training.checkpoint import Checkpointer


def batch_count(n: int, batch_size: int) -> int:
    """Batches per epoch over ``n`` images: the full ones, and the remainder when it holds at least 2 images (a lone
    last image would break BatchNorm: it waits for the next epoch's shuffle)."""
    full, rest = divmod(n, batch_size)
    return full + (1 if rest >= 2 else 0)


def epoch_seed(seed: int, epoch: int, salt: int = 12_345) -> int:
    """The seed of epoch ``epoch``'s shuffling and augmentation: a resumed run draws what an unbroken one did."""
    return (int(seed) * 1_000_003 + int(epoch) * 7_919 + salt) % (2**63 - 1)


def make_optimizer(
    module: nn.Module, kind: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """Adam (``"adam"``) or SGD with Nesterov momentum (``"sgd"``) over ``module``'s trainable parameters; weight decay
    applies to weights only (not to biases or BatchNorm's scale and shift)."""
    params = [p for p in module.parameters() if p.requires_grad]
    if weight_decay:
        decay = [p for p in params if p.ndim > 1]
        rest = [p for p in params if p.ndim <= 1]
        groups: list[dict[str, Any]] = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": rest, "weight_decay": 0.0},
        ]
    else:
        groups = [{"params": params}]
    if kind == "adam":
        return torch.optim.Adam(groups, lr=lr)
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0)
    raise InvertError(f"unknown optimiser {kind!r}: use 'adam' or 'sgd'")


def one_cycle(step: int, total: int, peak: float, warmup: float = 0.25, start_div: float = 25.0) -> float:
    """The one-cycle learning rate at 0-based ``step`` of ``total``: linear from peak/start_div up to ``peak`` over the
    first ``warmup`` fraction, then linear down to 0 at the last step (Smith & Topin 2019, linear form)."""
    if total <= 1:
        return peak
    up = max(1, round(warmup * total))
    if step < up:
        return peak / start_div + (peak - peak / start_div) * step / up
    return peak * max(0.0, (total - 1 - step) / max(1, total - 1 - up))


class TrainingRun:
    """One resumable training run of ``module`` with Adam, checkpointed into ``folder`` every epoch.

    On construction: join the ``torchrun`` group (a no-op otherwise), move ``module`` to this rank's device, make its
    BatchNorm global under DDP (before the optimiser sees the parameters), build Adam over the trainable parameters,
    and resume from ``folder/last.pt`` (``resume``) when it holds the same ``run`` (a dict of the settings that must
    match). Then per batch :meth:`step`, per epoch :meth:`end_epoch`, and at the end :meth:`close`.
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        name: str,
        folder: str | Path,
        run: Mapping[str, Any],
        device: torch.device | str,
        batch_size: int,
        lr: float,
        resume: bool = True,
        restart_hint: str = "pass resume=False (--no-resume) to start over",
        optimizer: str = "adam",
        momentum: float = 0.9,
        weight_decay: float = 0.0,
    ):
        self.module, self.name, self.folder, self.run = module, name, Path(folder), dict(run)
        self.device = distributed.setup(device)  # under torchrun: join the group, this rank's device
        distributed.check_batch(batch_size)
        module.to(self.device)
        if distributed.active():
            distributed.globalize_batchnorm(module)  # BatchNorm over the global batch; before the optimiser
        self.optimizer = make_optimizer(module, optimizer, lr, momentum, weight_decay)
        self.checkpoints = Checkpointer(self.folder, {name: module, "optimizer": self.optimizer})
        self.start, self.history, self.extra = self._resume(resume, restart_hint)
        self.net = distributed.wrap(module, self.device)  # what the batches go through (DDP under torchrun)

    def _resume(self, resume: bool, hint: str) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
        if not resume:
            return 0, [], {}
        try:
            start, history, extra = self.checkpoints.resume()
        except (RuntimeError, KeyError, ValueError) as exc:
            raise InvertError(
                f"the checkpoint in {self.folder} does not fit this {self.name}/optimiser ({exc.__class__.__name__}): "
                f"use another folder, or {hint}"
            ) from None
        if start and extra.get("run") not in (None, self.run):
            raise InvertError(
                f"{self.folder} holds a checkpoint of a different run ({extra['run']} vs {self.run}): "
                f"use another folder, or {hint}"
            )
        return start, history, extra

    def progress(self, label: str, epochs: int, batches: int, enabled: bool = True) -> ProgressBar:
        """A bar over every batch of the run, the epochs already done counted as done (rank 0 only)."""
        return ProgressBar(
            f"{label} (from epoch {self.start + 1}/{epochs})",
            epochs * batches,
            enabled=enabled and distributed.is_main(),
            completed=self.start * batches,
        )

    def set_lr(self, lr: float) -> None:
        """Every parameter group's learning rate to ``lr`` (a schedule computed from the step, so a resumed run gets
        the rate an unbroken one had without saving scheduler state)."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def slice(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's part of a global batch of indices (all of it outside ``torchrun``)."""
        return batch[distributed.shard(torch.arange(len(batch)))]

    def step(self, loss: torch.Tensor, part: int, whole: int, diverged: str) -> None:
        """One Adam step on ``loss`` of this rank's ``part`` of a ``whole``-image batch (weighted so the ranks' summed
        gradients are the whole batch's); refuses a non-finite loss with ``diverged`` (the hint) in the message."""
        if not torch.isfinite(loss):
            raise InvertError(f"{diverged} (loss {float(loss.detach())})")
        self.optimizer.zero_grad(set_to_none=True)
        (loss * distributed.shard_weight(part, whole)).backward()
        self.optimizer.step()

    def end_epoch(
        self, epoch: int, row: dict[str, Any], improved: bool, extra: Mapping[str, Any] | None = None, tag: str = ""
    ) -> None:
        """Record the finished epoch (0-based ``epoch``): its history ``row``, TensorBoard (under ``tag``), and the
        checkpoint (``best.pt`` too when ``improved``), with ``extra`` state a resumed run needs."""
        self.history.append(row)
        epoch_done(row, tag or TRAINING)
        self.checkpoints.save(epoch, self.history, {"run": self.run, **(extra or {})}, best=improved)

    def close(self) -> None:
        """BatchNorm back to the module's own (after DDP)."""
        distributed.localize_batchnorm(self.module)
