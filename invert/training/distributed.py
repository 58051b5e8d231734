"""Training under ``torchrun``: join the process group, shard each global batch, keep BatchNorm global.

Every training loop calls :func:`setup` first. Launched by ``torchrun --nproc-per-node N`` (``WORLD_SIZE`` > 1)
it joins the group (gloo on the CPU, NCCL on CUDA, ``cuda:LOCAL_RANK`` per process); otherwise it changes
nothing. The global batch is what the user set: every rank draws the same shuffled order, takes its slice
of each batch (:func:`shard`) and scales its loss by :func:`shard_weight`, so DDP's gradient average is the
gradient of the global batch's mean loss; :func:`globalize_batchnorm` makes BatchNorm use the statistics of
the whole global batch. A 2-process run therefore follows the 1-process run's schedule (to float rounding).
Rank 0 alone writes checkpoints, logs and progress (:func:`is_main`).
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any

import torch
from torch import nn

from invert.errors import InvertError


def launched() -> bool:
    """True when this process was started by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """True once this process has joined a process group of more than one process."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def setup(device: torch.device | str) -> torch.device:
    """Join the torchrun group when launched by torchrun (gloo on CPU, NCCL on CUDA); return this process's device."""
    device = torch.device(device)
    if not launched():
        return device
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        try:
            dist.init_process_group(backend, timeout=_dt.timedelta(minutes=30))
        except (RuntimeError, ValueError) as exc:
            raise InvertError(f"cannot join the torchrun process group ({exc}) — launch with "
                              "`torchrun --nproc-per-node N invert train ...`") from None
        if not is_main():  # one voice: rank 0 reports; the others keep only stderr (errors)
            import sys

            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    return device


def world_size() -> int:
    """Processes training together (1 outside torchrun)."""
    import torch.distributed as dist

    return dist.get_world_size() if active() else 1


def rank() -> int:
    """This process's rank (0 outside torchrun)."""
    import torch.distributed as dist

    return dist.get_rank() if active() else int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """Rank 0 (or no torchrun): the process that writes checkpoints, logs and progress."""
    from invert.io import secondary_rank

    return not secondary_rank()


def describe() -> dict[str, Any]:
    """``{world_size, backend}`` of this run, recorded in its config and summary."""
    import torch.distributed as dist

    size = world_size() if active() else int(os.environ.get("WORLD_SIZE", "1"))
    return {"world_size": size, "backend": dist.get_backend() if active() else None}


def barrier() -> None:
    """Wait for every rank (a no-op outside torchrun): rank 0's files exist before the others read them."""
    import torch.distributed as dist

    if active():
        dist.barrier()


def shard(index: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous slice of a global batch's indices (the whole batch outside torchrun)."""
    if not active():
        return index
    return torch.tensor_split(index, world_size())[rank()]


def shard_weight(local: int, total: int) -> float:
    """Factor on this rank's mean loss so DDP's averaged gradient is that of the global batch's mean loss."""
    return local * world_size() / total if active() else 1.0


def check_batch(batch_size: int) -> None:
    """Refuse a global batch too small to give every rank at least one image."""
    if active() and batch_size < world_size():
        raise InvertError(f"batch size {batch_size} is smaller than the {world_size()} torchrun processes: "
                          f"use --batch-size ≥ {world_size()} (it is the global batch, split between them)")


def all_sum(*values: float) -> list[float]:
    """Sum numbers over ranks (training-loss bookkeeping); the values themselves outside torchrun."""
    if not active():
        return list(values)
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


class GlobalBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch across ranks (gloo or NCCL).

    torch's ``SyncBatchNorm`` runs on CUDA only; this one sums the per-channel count and Σx, then Σ(x − mean)², with a
    differentiable all-reduce (two passes, as BatchNorm itself computes them), so forward and backward
    equal BatchNorm over the whole global batch.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and active()):
            return super().forward(x)
        import warnings

        from torch.distributed.nn.functional import all_reduce  # differentiable: backward all-reduces the gradient

        c = x.shape[1]
        count = torch.full((1,), x.numel() / c, dtype=x.dtype, device=x.device)
        with warnings.catch_warnings():  # deprecated in favour of a private module without autograd
            warnings.simplefilter("ignore", FutureWarning)
            totals = all_reduce(torch.cat([x.sum((0, 2, 3)), count]))  # two passes, as BatchNorm itself does:
            n = totals[-1]
            centred = x - (totals[:c] / n).view(1, c, 1, 1)  # E[x²] − E[x]² would cancel digits in float32
            var = all_reduce((centred * centred).sum((0, 2, 3))) / n
        mean = totals[:c] / n
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                tracked = self.num_batches_tracked
                assert tracked is not None  # tracking statistics keeps the counter
                tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1).clamp_min(1), alpha=m)
        y = centred * torch.rsqrt(var.view(1, c, 1, 1) + self.eps)
        if self.affine:
            y = y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        return y


def _swap_batchnorm(module: nn.Module, kind: type[nn.BatchNorm2d]) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d) and type(child) in (nn.BatchNorm2d, GlobalBatchNorm) and type(child) is not kind:
            new = kind(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            new.load_state_dict(child.state_dict())
            ref = next(iter(child.state_dict().values()), None)
            new = new.to(ref.device) if ref is not None else new
            new.train(child.training).requires_grad_(any(p.requires_grad for p in child.parameters()))
            setattr(module, name, new)
        else:
            _swap_batchnorm(child, kind)
    return module


def globalize_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d in ``module`` (in place) by :class:`GlobalBatchNorm`, weights and statistics kept."""
    return _swap_batchnorm(module, GlobalBatchNorm)


def localize_batchnorm(module: nn.Module) -> nn.Module:
    """Undo :func:`globalize_batchnorm`: plain BatchNorm2d again (what callers and saved files expect)."""
    return _swap_batchnorm(module, nn.BatchNorm2d)


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` for a training step: DDP (global BatchNorm) under torchrun, the model itself otherwise."""
    if not active():
        return model
    globalize_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)
