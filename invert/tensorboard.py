"""TensorBoard logging (``--tensorboard DIR``): one run folder per job, written through ``torch.utils.tensorboard``.

Inversions log loss, m_g and lr every iteration, and m_i, blur σ and the reconstructions every
``record_every`` iterations, m_s and the targets once; training logs loss and accuracy per epoch.
Only rank 0 writes under torchrun. View with ``tensorboard --logdir DIR``.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch

#: Tag prefixes: one namespace per kind of job, so several kinds share one --tensorboard folder.
INVERSION = "inversion"
TRAINING = "training"


def _is_main_process() -> bool:
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def check_root(root: str | Path | None) -> None:
    """Refuse a ``--tensorboard`` that cannot be a folder (a file, or a file on its path), before any run starts."""
    if root is None:
        return
    from invert.errors import InvertError

    for p in (Path(root), *Path(root).parents):
        if p.exists():
            if not p.is_dir():
                raise InvertError(f"--tensorboard {root}: {p} is a file, not a folder — pass a folder for the logs")
            return


def run_folder(root: str | Path, name: str) -> Path:
    """Make and return ``root/<UTC time>-<name>``, unique (a suffix ``-2``, ``-3`` …): one folder per job, never
    shared, even between parallel jobs (each claims its folder with an exclusive ``mkdir``)."""
    from invert.io import make_folder

    check_root(root)
    safe = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name)
    base = Path(root) / f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{safe}"
    make_folder(base.parent)
    for k in range(1, 10_000):
        folder = base if k == 1 else base.with_name(f"{base.name}-{k}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise RuntimeError(f"no free TensorBoard run folder next to {base}")


class RunLog:
    """One job's TensorBoard event files: scalars and images, finite values only."""

    def __init__(self, folder: str | Path):
        from torch.utils.tensorboard import SummaryWriter

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(log_dir=str(self.folder))

    def scalars(self, values: Mapping[str, float], step: int, prefix: str = "") -> None:
        """Each finite value as ``prefix/name`` at ``step`` (NaN/inf would draw a broken curve)."""
        for name, value in values.items():
            v = float(value)
            if math.isfinite(v):
                self.writer.add_scalar(f"{prefix}/{name}" if prefix else name, v, step)

    def image(self, tag: str, image: torch.Tensor, step: int) -> None:
        """A (C, H, W) image in [0, 1] (clamped) at ``step``."""
        img = image.detach().float().cpu().clamp(0, 1)
        self.writer.add_image(tag, img, step, dataformats="CHW")

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_log(root: str | Path | None, name: str) -> RunLog | None:
    """A :class:`RunLog` in a new run folder under ``root``, or None (no ``--tensorboard``, or not rank 0)."""
    if root is None or not _is_main_process():
        return None
    return RunLog(run_folder(root, name))


class InversionLog:
    """Feeds one inversion's progress to a :class:`RunLog` from inside the optimisation loop.

    :meth:`callback` is the loop's per-iteration callback (loss, m_g, lr); :meth:`step` is a step
    transform appended after blur/clamp that sees each iteration's image and logs, every
    ``record_every`` iterations, the reconstructions (first restart of each target), m_i and blur σ.
    """

    def __init__(
        self,
        log: RunLog,
        targets: torch.Tensor,
        restarts: int,
        record_every: int,
        sigma: Callable[[int, int], float],
        max_images: int = 4,
    ):
        self.log = log
        self.targets = targets
        self.restarts = restarts
        self.record_every = max(1, record_every)
        self.sigma = sigma
        self.max_images = max_images

    @classmethod
    def attach(
        cls, inverter: Any, root: str | Path | None, name: str, targets: torch.Tensor, restarts: int, record_every: int
    ) -> InversionLog | None:
        """Log ``inverter``'s runs under a new folder in ``root`` (None: no logging); logs the targets now."""
        log = open_log(root, name)
        if log is None:
            return None
        tb = cls(log, targets, restarts, record_every, inverter.descent.sigma)
        inverter.steps.append(tb.step)
        for i in range(min(len(targets), tb.max_images)):
            log.image(f"target/image_{i}", targets[i], 0)
        return tb

    def callback(self, step: int, iterations: int, values: Mapping[str, float]) -> None:
        """Per iteration: the loop's loss, m_g (batch means) and learning rate."""
        self.log.scalars(values, step, INVERSION)

    def step(self, x: torch.Tensor, step: int, iterations: int) -> torch.Tensor:
        """A step transform that changes nothing: logs the images after iteration ``step`` every ``record_every``."""
        done = step + 1
        if done % self.record_every == 0 or done == iterations:
            with torch.no_grad():
                targets = self.targets.to(x.device, x.dtype).repeat_interleave(self.restarts, 0)
                m_i = (x - targets).flatten(1).norm(dim=1).mean()
            self.log.scalars({"m_i": float(m_i), "blur_sigma": self.sigma(step, iterations)}, done, INVERSION)
            for i in range(min(len(self.targets), self.max_images)):
                self.log.image(f"reconstruction/image_{i}", x[i * self.restarts], done)
        return x

    def finish(self, result: Any) -> None:
        """The final measures of the returned images, at the last iteration, and m_s again so its line spans the run."""
        summary = {
            "m_g": float(result.m_g.float().mean()),
            "m_i": float(result.m_i.float().mean()),
            "psnr": float(result.psnr.float().mean()),
            "ssim": float(result.ssim.float().mean()),
        }
        self.log.scalars(summary, result.iterations, "final")
        for step in (0, result.iterations):  # m_s is a constant: a flat line across the run
            self.log.scalars({"m_s": float(result.m_s.float().mean())}, step, INVERSION)

    def close(self) -> None:
        self.log.close()


def log_epochs(log: RunLog | None, history: list[Mapping[str, Any]], prefix: str = TRAINING) -> None:
    """Per-epoch training rows (loss, accuracies, …: every number but the epoch) at their epoch."""
    if log is None:
        return
    for row in history:
        epoch = int(row["epoch"])
        numbers = {k: v for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        log.scalars({k: v for k, v in numbers.items() if k != "epoch"}, epoch, prefix)


#: Where finished training epochs go while a command logs them (see :func:`logging_epochs`).
_EPOCH_LOG: ContextVar[RunLog | None] = ContextVar("invert_epoch_log", default=None)


@contextmanager
def logging_epochs(root: str | Path | None, name: str) -> Iterator[RunLog | None]:
    """While open, each epoch a training loop reports via :func:`epoch_done` goes to a new run folder in ``root``."""
    log = open_log(root, name)
    token = _EPOCH_LOG.set(log)
    try:
        yield log
    finally:
        _EPOCH_LOG.reset(token)
        if log is not None:
            log.close()


def epoch_done(row: Mapping[str, Any], prefix: str = TRAINING) -> None:
    """Called by training loops after each epoch (rank 0 or not: only rank 0 has a log): logs the row's numbers."""
    log = _EPOCH_LOG.get()
    if log is not None:
        log_epochs(log, [row], prefix)
