"""How much memory a run needs, and what is free — so an impossible size is refused before anything is allocated.

The estimate comes from a dry run of the encoder on the ``meta`` device that adds up the bytes
every operation of one forward pass allocates (what the backward pass may keep), so it costs
no memory and no arithmetic whatever the size asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from invert.errors import InvertError

#: Per image × restart the loop holds the image, its gradient, two optimiser moments, the best image and the start.
IMAGE_COPIES = 6
#: The backward pass roughly doubles what the forward pass allocates (a gradient beside each activation). Whole CPU
#: runs (ResNet-18/50, 224–448 px, 1–16 restarts) peaked at 0.4–1.2× the resulting estimate, plus ~60 MiB fixed.
BACKWARD_FACTOR = 2


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs, split by what holds them."""

    images: int
    activations: int
    model: int

    @property
    def total(self) -> int:
        return self.images + self.activations + self.model


def forward_bytes(
    module: nn.Module, input_shape: tuple[int, ...], dtype: torch.dtype = torch.float32
) -> tuple[int, int]:
    """(bytes all operations of one forward allocate, bytes of the output) for one input, from a meta-device dry run."""
    from torch.func import functional_call
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class Count(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
            out = func(*args, **(kwargs or {}))
            if not any(r.alias_info for r in func._schema.returns):  # views and detach() share storage: nothing new
                self.total += sum(
                    t.numel() * t.element_size() for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)
                )
            return out

    state = {
        k: torch.empty_like(v, device="meta", dtype=dtype if v.is_floating_point() else v.dtype)
        for k, v in [*module.named_parameters(), *module.named_buffers()]
    }
    x = torch.empty(1, *input_shape, device="meta", dtype=dtype, requires_grad=True)
    with torch.enable_grad(), Count() as count:
        out = functional_call(module, state, (x,), strict=False)
    out_bytes = sum(t.numel() * t.element_size() for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor))
    return count.total, out_bytes


def estimate_run(
    encoder: nn.Module,
    input_shape: tuple[int, ...],
    n_images: int,
    restarts: int,
    chunk: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> MemoryEstimate | None:
    """What inverting ``n_images`` × ``restarts`` images of ``input_shape`` needs, in passes of ``chunk``
    (0 = automatic).

    None when the dry run cannot tell (an operation without a meta kernel): the run is then not checked.
    """
    try:
        fwd, out = forward_bytes(encoder, input_shape, dtype)
    except Exception:  # the meta device lacks some operation: no estimate rather than a false refusal
        return None
    batch = n_images * restarts
    image = math.prod(input_shape) * torch.empty((), dtype=dtype).element_size()
    model = sum(t.numel() * t.element_size() for t in [*encoder.parameters(), *encoder.buffers()])
    return MemoryEstimate(
        images=image * (n_images + IMAGE_COPIES * batch) + 2 * out * batch,
        activations=BACKWARD_FACTOR * fwd * pass_size(chunk, batch, out, device, dtype),
        model=model,
    )


def pass_size(
    chunk: int, batch: int, output_bytes: int, device: torch.device, dtype: torch.dtype = torch.float32
) -> int:
    """Images per forward/backward pass, as :func:`invert.inversion.loop.chunk_size` will choose them."""
    from invert.inversion.loop import chunk_size

    # a stand-in for the batch's layer output: one element broadcast to its shape, nothing allocated
    one = torch.zeros(1, dtype=dtype, device="cpu" if device.type == "cpu" else "meta")
    like = one.expand(batch, max(1, output_bytes // one.element_size()))
    return chunk_size(chunk, batch, like)


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device``: CUDA's free memory, or MemAvailable from /proc/meminfo on the CPU
    (None if unknown).
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    meminfo = Path("/proc/meminfo")
    if device.type != "cpu" or not meminfo.is_file():
        return None
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def gib(n: float) -> str:
    """Bytes as GiB (or MiB below one GiB), for messages."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def check_fits(
    estimate: MemoryEstimate | None, device: torch.device, *, size: int, n_images: int, restarts: int, chunk: int
) -> None:
    """Refuse, in one line, a run whose estimate exceeds the free memory: what it needs, what is free, what to lower."""
    if estimate is None:
        return
    free = available_bytes(device)
    if free is None or estimate.total <= free:
        return
    parts = {"images": estimate.images, "activations": estimate.activations, "model": estimate.model}
    biggest = max(parts, key=lambda k: parts[k])
    lower = {
        "images": f"lower --restarts ({restarts}) or the number of --image ({n_images}), or --size ({size})",
        "activations": f"lower --size ({size})"
        + (f" or --chunk ({chunk})" if chunk > 1 else "")
        + " or pick an earlier --layer",
        "model": "pick an earlier --layer or a smaller --model",
    }[biggest]
    raise InvertError(
        f"this run needs about {gib(estimate.total)} of memory on {device} (images {gib(estimate.images)}, "
        f"activations {gib(estimate.activations)}, model {gib(estimate.model)}) but {gib(free)} is free — {lower}"
    )
