"""The one optimisation loop inversion and gradient ascent share.

A :class:`Descent` holds the settings both use — optimiser rule, learning-rate :class:`Schedule`,
step transforms, chunking — and runs a :class:`Problem` (what to minimise per image, and the
per-image measure to watch: m_g for inversion, the score for ascent) from start images for a
number of iterations. Each iteration evaluates the current images, updates them, applies the step
transforms, checks that loss, measure and image are finite, records history and reports
progress; the state lives in an explicit :class:`LoopState`, so an interrupted (Ctrl-C) or
diverged run still hands back what it has.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch

from invert.errors import InvertError, RunFailed
from invert.inversion.config import OPTIMIZERS
from invert.inversion.schedules import Schedule
from invert.inversion.steps import gaussian_blur
from invert.progress import ProgressBar

StepTransform = Callable[[torch.Tensor, int, int], torch.Tensor]
Callback = Callable[[int, int, dict[str, float]], None]

#: Automatic chunking on the CPU keeps one chunk's layer output under this many bytes: bigger
#: batches of early-layer activations spill the cache and cost more per image than one at a time.
CPU_CHUNK_BYTES = 8 * 2**20


class InversionDiverged(RunFailed):
    """An optimisation (inversion or ascent) left the finite range; carries the partial result so nothing is lost."""

    def __init__(self, message: str, result: Any = None):  # an InversionResult or AscentResult
        super().__init__(message)
        self.result = result


class NormalizedGD(torch.optim.Optimizer):
    """x ← x − η g / mean|g| per image (first dimension): deep dream's step, one size whatever the gradient's scale."""

    def __init__(self, params: Sequence[torch.Tensor], lr: float):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                scale = g.abs().reshape(g.shape[0], -1).mean(1).clamp_min(1e-12)
                p.sub_(group["lr"] * g / scale.view(-1, *([1] * (g.dim() - 1))))
        return loss


#: A Gaussian-smoothed update is smaller than the update; it is scaled back by (1 + SMOOTH_GAIN σ²), which keeps
#: the lr that suits the unsmoothed update about right for the smoothed one (searched with Adam, σ 1–3 px).
SMOOTH_GAIN = 0.375


def restart_stalled_lbfgs(opt: torch.optim.LBFGS) -> None:
    """Forget L-BFGS's history when its line search found no step (t = 0), so the next step starts afresh.

    On a ReLU network's piecewise-linear loss the strong-Wolfe search can fail along the first full step and return
    t = 0; torch keeps the direction and the history, so every later step fails the same way and the run stalls at
    its start (measured: a CIFAR ResNet-20 conv2/conv3 inversion stuck at 0.999 of its first m_g for 15 iterations).
    A fresh start takes torch's scaled first step, lr · min(1, 1/‖g‖₁), from where the run stands."""
    state = opt.state[opt.param_groups[0]["params"][0]]
    if state.get("t") == 0:
        state.clear()


class RestartingLBFGS(torch.optim.LBFGS):
    """torch's L-BFGS (strong-Wolfe line search) that restarts where the search found no step
    (:func:`restart_stalled_lbfgs`) instead of stalling."""

    def step(self, closure):
        loss = super().step(closure)
        restart_stalled_lbfgs(self)
        return loss


def smooth_update(before: torch.Tensor, after: torch.Tensor, sigma: float) -> torch.Tensor:
    """The step ``before → after`` with its update Gaussian-smoothed: x₀ + (1 + SMOOTH_GAIN σ²) G_σ * (x − x₀).

    A layer whose outputs lie several pixels apart barely constrains pixel-scale detail, so Adam's per-pixel,
    sign-like update puts noise there that nothing removes; smoothing the update keeps it out."""
    kernel = 2 * math.ceil(2 * sigma) + 1  # the Gaussian truncated at 2σ
    return before + (1 + SMOOTH_GAIN * sigma**2) * gaussian_blur(after - before, sigma, kernel)


def make_optimizer(name: str, x: torch.Tensor, lr: float, momentum: float = 0.9) -> torch.optim.Optimizer:
    """The optimiser for update rule ``name`` (one of :data:`OPTIMIZERS`) over the images ``x``."""
    if name == "gd":
        return torch.optim.SGD([x], lr=lr, momentum=0.0)
    if name == "sgd":
        return torch.optim.SGD([x], lr=lr, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam([x], lr=lr)
    if name == "lbfgs":
        return RestartingLBFGS([x], lr=lr, max_iter=1, history_size=20, line_search_fn="strong_wolfe")
    if name == "normalized":
        return NormalizedGD([x], lr=lr)
    raise InvertError(f"unknown optimizer {name!r}: choose from {', '.join(OPTIMIZERS)}")


def chunk_size(requested: int, batch: int, output: torch.Tensor) -> int:
    """Images per forward/backward pass for a batch whose per-image layer output looks like ``output[0]``.

    ``requested`` > 0 caps it; 0 means the whole batch on an accelerator and, on the CPU, balanced
    chunks whose output stays under :data:`CPU_CHUNK_BYTES`.
    """
    if requested > 0:
        return min(requested, batch)
    if output.device.type != "cpu" or batch == 1:
        return batch
    most = max(1, CPU_CHUNK_BYTES // (output[0].numel() * output.element_size()))
    return math.ceil(batch / math.ceil(batch / most))  # balanced chunks


class Problem:
    """What one run minimises — the only part inversion and ascent do not share.

    Subclasses give :meth:`evaluate`; the hooks default to doing nothing.
    """

    #: What the loop calls a run of this problem in messages ("inversion", "ascent").
    name = "optimisation"
    #: The name of the per-image measure :meth:`evaluate` returns ("m_g", "score").
    measure = "measure"

    def prepare(self, step: int, total: int) -> None:
        """Before iteration ``step`` of ``total``'s evaluation(s): draw its randomness once (ascent's jitter), set
        weights that follow the run (annealed priors)."""

    def evaluate(self, x: torch.Tensor, rows: slice) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image loss to minimise (differentiable in ``x``) and measure, for the images ``rows`` of the batch."""
        raise NotImplementedError

    def observe(self, state: LoopState) -> bool:
        """Bookkeeping after an iteration's update and step transforms (``state.evaluated`` holds the images just
        evaluated, when kept); returning True stops the run."""
        return False

    def history_rows(
        self, step: int, images: torch.Tensor, loss: torch.Tensor, measure: torch.Tensor, schedules: Mapping[str, float]
    ) -> list[dict[str, float]]:
        """History rows for the images evaluated at ``step``; ``schedules`` is :meth:`Descent.recorded` at that step
        (``lr`` NaN for the final evaluation)."""
        return []

    def describe(self, state: LoopState) -> str:
        """Progress-bar text for the current state."""
        return f"{self.measure} {float(state.measure.mean()):.3g}"


@dataclass
class LoopState:
    """Where one run stands; the loop updates it in place, so Ctrl-C or divergence keeps what it has.

    ``step`` counts the iterations completed (during an iteration: its index); ``loss``/``measure``
    are per image for the images evaluated in the current or last iteration (before its update);
    ``evaluated`` holds those images when they are kept (recorded iterations, ``keep_evaluated``).
    """

    x: torch.Tensor
    iterations: int
    loss: torch.Tensor
    measure: torch.Tensor
    step: int = 0
    lr: float = math.nan
    evaluated: torch.Tensor | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False
    failure: InversionDiverged | None = None
    started: float = field(default_factory=time.perf_counter)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


@dataclass
class Descent:
    """The settings every optimisation shares: update rule, learning-rate schedule, momentum, step transforms, and
    the σ schedule of the Gaussian each update is smoothed by before it is applied (``None``: not smoothed)."""

    optimizer: str
    lr: Schedule
    momentum: float = 0.9
    steps: Sequence[StepTransform] = ()
    smooth: Schedule | None = None

    def recorded(self, step: int, total: int, lr: float) -> dict[str, float]:
        """The schedules' values at ``step`` that each history row records: ``lr``, the blur σ (``sigma``) and the
        update smoothing's σ_u (``smooth``)."""
        return {"lr": lr, "sigma": self.sigma(step, total), "smooth": self.smoothing(step, total)}

    def smoothing(self, step: int, total: int) -> float:
        """The update smoothing's σ_u at ``step`` (0 without smoothing), recorded in the history."""
        return float(self.smooth(step, total)) if self.smooth is not None else 0.0

    def sigma(self, step: int, total: int) -> float:
        """The blur σ at ``step`` (0 without a blur step), recorded in the history."""
        from invert.inversion.steps import Blur

        for t in self.steps:
            if isinstance(t, Blur):
                return float(t.sigma(step, total))
        return 0.0

    def run(
        self,
        problem: Problem,
        start: torch.Tensor,
        iterations: int,
        *,
        chunk: int,
        record_every: int = 5,
        keep_evaluated: bool = False,
        callback: Callback | None = None,
        progress: bool = False,
        label: str = "",
    ) -> LoopState:
        """Run ``problem`` from the images ``start`` (a leaf is made of a copy) for ``iterations`` iterations.

        ``chunk``: images per forward/backward pass (see :func:`chunk_size`); every image is an
        independent problem, so chunking changes speed and memory, and the result only up to float
        rounding: float64 to ~1e-10; float32 batched kernels round differently, m_g to ~1e-5 relative.
        Returns the state after the last iteration, on Ctrl-C (``interrupted``) or on divergence
        (``failure`` set; the caller raises it with its partial result).
        """
        x = start.detach().clone().requires_grad_(True)
        nan = torch.full((len(x),), math.nan, dtype=x.dtype, device=x.device)
        state = LoopState(x, iterations, loss=nan, measure=nan.clone())
        opt = make_optimizer(self.optimizer, x, float(self.lr(0, iterations)), self.momentum)
        slices = [slice(i, i + chunk) for i in range(0, len(x), chunk)]
        # On an accelerator, reading values back forces a sync: check for divergence (and update the
        # progress text) only at recorded steps there; on the CPU it is free, so check every step.
        sync_every = 1 if x.device.type == "cpu" else record_every
        bar = ProgressBar(label or problem.name, iterations, enabled=progress)
        try:
            for step in range(iterations):
                record = step % record_every == 0
                check = record or step % sync_every == 0 or step == iterations - 1
                stop = self._iterate(problem, opt, slices, state, step, record, check, keep_evaluated)
                if callback is not None:
                    means = {"loss": float(state.loss.mean()), problem.measure: float(state.measure.mean())}
                    callback(step, iterations, {**means, "lr": state.lr})
                bar.advance(description=problem.describe(state) if check and progress else None)
                state.step = step + 1
                if stop:
                    break
        except KeyboardInterrupt:
            state.interrupted = True
        except InversionDiverged as exc:
            state.failure = exc
        finally:
            bar.close()
        return state

    def _iterate(
        self,
        problem: Problem,
        opt: torch.optim.Optimizer,
        slices: list[slice],
        state: LoopState,
        step: int,
        record: bool,
        check: bool,
        keep: bool,
    ) -> bool:
        """One iteration: evaluate and update, step transforms, checks, history; True when the problem says stop."""
        x = state.x
        state.lr = lr = float(self.lr(step, state.iterations))
        for g in opt.param_groups:
            g["lr"] = lr
        problem.prepare(step, state.iterations)
        state.evaluated = x.detach().clone() if (record or keep) else None
        smooth = self.smoothing(step, state.iterations)
        before = (state.evaluated if state.evaluated is not None else x.detach().clone()) if smooth > 0 else None
        opt.step(self._closure(problem, x, slices, state))  # type: ignore[arg-type]  # LBFGS takes float(closure())
        with torch.no_grad():
            if before is not None:  # the update without the detail the layer cannot see
                x.copy_(smooth_update(before, x, smooth))
            for t in self.steps:
                x.copy_(t(x, step, state.iterations))
        stop = problem.observe(state)
        if check:
            self._check_finite(problem, state, step)
        if record and state.evaluated is not None:
            state.history += problem.history_rows(
                step, state.evaluated, state.loss, state.measure, self.recorded(step, state.iterations, lr)
            )
        return stop

    @staticmethod
    def _closure(
        problem: Problem, x: torch.Tensor, slices: list[slice], state: LoopState
    ) -> Callable[[], torch.Tensor]:
        """The optimiser's closure: per-chunk forward/backward into ``x.grad``. The first call of an iteration
        evaluates the images before the update; its loss and measure are what the iteration reports
        (L-BFGS calls again at line-search points)."""
        calls = 0

        def closure() -> torch.Tensor:
            nonlocal calls
            grads: list[torch.Tensor] = []
            losses: list[torch.Tensor] = []
            measures: list[torch.Tensor] = []
            for sl in slices:  # each chunk is a leaf of its own: no full-batch zero-filled slice gradients
                xi = x.detach()[sl].requires_grad_(True)
                loss, measure = problem.evaluate(xi, sl)
                loss.sum().backward()
                grads.append(xi.grad if xi.grad is not None else torch.zeros_like(xi))
                losses.append(loss.detach())
                measures.append(measure.detach())
            x.grad = grads[0] if len(grads) == 1 else torch.cat(grads)
            loss = losses[0] if len(losses) == 1 else torch.cat(losses)
            if calls == 0:
                state.loss, state.measure = loss, measures[0] if len(measures) == 1 else torch.cat(measures)
            calls += 1
            return loss.sum()

        return closure

    @staticmethod
    def _check_finite(problem: Problem, state: LoopState, step: int) -> None:
        """Raise :class:`InversionDiverged` if the loss, the measure (m_g) or the image left the finite range."""
        fix = f"lower the learning rate (was {state.lr:g}) or use --optimizer adam"
        for what, values in (("loss", state.loss), (problem.measure, state.measure)):
            bad = ~torch.isfinite(values)
            if bad.any():
                value = values[bad][0].item()
                raise InversionDiverged(f"{problem.name} diverged at iteration {step} ({what} is {value}): {fix}")
        if not torch.isfinite(state.x).all():
            raise InversionDiverged(
                f"{problem.name} diverged at iteration {step} (the image left the finite range): {fix}"
            )

    @staticmethod
    @torch.no_grad()
    def evaluate(problem: Problem, x: torch.Tensor, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and measure of the images ``x`` in passes of ``chunk`` images (the final evaluation)."""
        parts = [problem.evaluate(x[i : i + chunk], slice(i, i + chunk)) for i in range(0, len(x), chunk)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
