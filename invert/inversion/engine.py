"""The optimisation-based inverter: descend on an input until O_l(a_g) ≈ O_l(a).

:class:`Inverter` is assembled from small parts — an encoder, an :class:`~invert.objectives.Objective`,
priors, an optimiser name, a learning-rate :class:`Schedule`, step transforms (blur, clamp) and an
initialiser — and runs a batch of targets × restarts as independent problems (:class:`EmbeddingMatch`) on the
optimisation loop it shares with gradient ascent (:mod:`invert.inversion.loop`). Parts left out are the default's,
made concrete per run by :func:`~invert.inversion.parts.resolve`.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import torch

from invert.analysis.metrics import flat_l2, psnr, shifted_distance, ssim
from invert.encoders.base import Encoder
from invert.inversion.config import is_searched
from invert.inversion.loop import Callback, Descent, InversionDiverged, LoopState, StepTransform, chunk_size
from invert.inversion.matching import EmbeddingMatch
from invert.inversion.parts import DEFAULTS, Initializer, config_objective, config_parts, resolve
from invert.inversion.result import InversionResult, warn_on_activation_scale
from invert.inversion.schedules import Schedule
from invert.objectives import Objective
from invert.priors import Prior


class Inverter:
    """Gradient descent on the input image, composed from explicit parts; unset parts take the defaults
    of :class:`InversionConfig`.

    Per iteration: forward the batch, loss = Σ_samples [objective(O(x), O(a)) + Σ priors(x)],
    backward, optimiser step at ``lr(step)``, then each step transform (blur, clamp) in order —
    the shared :class:`~invert.inversion.loop.Descent` loop that gradient ascent also runs on.
    The forward/backward runs in chunks of ``chunk`` images (0: the whole batch on an
    accelerator; on the CPU, chunks whose layer output stays under :data:`CPU_CHUNK_BYTES`).
    Problems are independent, so chunking changes speed and memory, and the result only up to
    float rounding: float64 to ~1e-10; in float32 batched kernels round differently, m_g to ~1e-5
    relative (measured 1e-7 … 9e-6 after 10 Adam steps; single pixels can move ~1e-3).
    """

    def __init__(
        self,
        encoder: Encoder,
        objective: Objective | None = None,
        *,
        priors: Sequence[Prior] | None = None,
        optimizer: str = DEFAULTS.optimizer,
        lr: Schedule | None = None,
        momentum: float = DEFAULTS.momentum,
        steps: Sequence[StepTransform] | None = None,
        smooth: Schedule | None = None,
        average: float | None = None,
        init: Initializer | None = None,
        ms_sigma: float = DEFAULTS.ms_sigma,
        ms_draws: int = DEFAULTS.ms_draws,
        chunk: int = DEFAULTS.chunk,
    ):
        self.encoder = encoder
        self.objective = objective if objective is not None else config_objective(DEFAULTS)
        self.optimizer = optimizer
        self.momentum = momentum
        # parts left out are the default's, whose objective, lr, blur, smoothing and TV depend on the image size and the
        # layer's stride: made for the default size here, and again for the targets' size and the encoder's stride by
        # each run (what ran is what these attributes then say)
        self._sized = {
            "objective": objective is None,
            "priors": priors is None,
            "lr": lr is None,
            "steps": steps is None,
            "smooth": smooth is None,
        }
        self.priors = list(priors) if priors is not None else []
        self.lr = lr if lr is not None else Schedule()  # replaced by the chosen one below
        self.steps = list(steps) if steps is not None else []
        self.smooth = smooth if smooth is not None else Schedule("constant", 0.0)
        self._fill_defaults(DEFAULTS.size)
        # the running average a stop-below-m_s run also watches: the default's β with its objective and optimiser
        self.average = average if average is not None else resolve(DEFAULTS, searched=self.searched).average
        self.init = init if init is not None else Initializer()
        self.ms_sigma = ms_sigma
        self.ms_draws = ms_draws
        self.chunk = chunk

    def _fill_defaults(self, size: int, measure_stride: bool = False) -> None:
        """Set the parts left out to the default's (for this optimiser and objective) for ``size``-pixel images, through
        :func:`resolve` like every run; with ``measure_stride``, the smoothing for the encoder's output stride (one
        forward pass), else none."""
        if not any(self._sized.values()):
            return
        encoder = self.encoder if measure_stride and self._sized["smooth"] else None
        parts = config_parts(resolve(DEFAULTS, encoder, size, searched=self.searched))
        for name, sized in self._sized.items():
            if sized:
                setattr(self, name, getattr(parts, name))

    @property
    def searched(self) -> bool:
        """Whether this is the procedure the default's chosen settings were searched for: Adam on L1 (alone, or with
        the default's L2 term) — :func:`~invert.inversion.config.is_searched` on the objective's name."""
        return is_searched(self.optimizer, getattr(self.objective, "name", ""))

    @property
    def descent(self) -> Descent:
        """The shared loop's settings from this inverter's parts."""
        return Descent(self.optimizer, self.lr, self.momentum, self.steps, self.smooth)

    def chunk_size(self, batch: int, goal: torch.Tensor) -> int:
        """Images per forward/backward pass for a batch whose layer outputs look like ``goal``."""
        return chunk_size(self.chunk, batch, goal)

    def run(
        self,
        targets: torch.Tensor,
        iterations: int,
        *,
        restarts: int = 1,
        seed: int = DEFAULTS.seed,
        record_every: int = DEFAULTS.record_every,
        stop_below_ms: bool = DEFAULTS.stop_below_ms,
        callback: Callback | None = None,
        progress: bool = False,
    ) -> InversionResult:
        """Invert each of ``targets`` (N, C, H, W in [0,1]) ``restarts`` times from seeded starts.

        Raises :class:`InversionDiverged` (with the partial result) when the loss, m_g or the image
        becomes NaN/inf; Ctrl-C returns what it has (``interrupted``).
        """
        t0 = time.perf_counter()
        self._fill_defaults(min(targets.shape[-2:]), measure_stride=True)
        gen = torch.Generator().manual_seed(seed)
        problem = self._problem(targets, restarts, gen, stop_below_ms)
        x0 = self.init((len(problem.targets), *problem.targets.shape[1:]), gen).to(problem.targets)
        chunk = problem.chunk = self.chunk_size(len(x0), problem.goal)
        state = self.descent.run(
            problem,
            x0,
            iterations,
            chunk=chunk,
            record_every=record_every,
            keep_evaluated=stop_below_ms,
            callback=callback,
            progress=progress,
            label="inverting",
        )
        result = self._result(problem, state, chunk, t0)
        failure = state.failure
        if failure is None and not bool(torch.isfinite(result.m_g).all()):
            bad = float(result.m_g[~torch.isfinite(result.m_g)][0])
            failure = InversionDiverged(
                f"inversion diverged: m_g is {bad} after {result.iterations} iterations — "
                "lower the learning rate or use --optimizer adam"
            )
        if failure is not None:
            failure.result = result
            raise failure
        return result

    def _problem(
        self, targets: torch.Tensor, restarts: int, gen: torch.Generator, stop_below_ms: bool
    ) -> EmbeddingMatch:
        """Targets on the encoder's device and dtype, their embeddings O(a), m_s — the problem to descend on."""
        if targets.dim() == 3:
            targets = targets.unsqueeze(0)
        targets = targets.to(device=self.encoder.device, dtype=self.encoder.dtype)
        with torch.no_grad():
            goal = self.encoder(targets)
        m_s = shifted_distance(self.encoder, targets, self.ms_sigma, self.ms_draws, gen, goal)
        problem = EmbeddingMatch(
            self.encoder, self.objective, self.priors, targets, goal, m_s, restarts, stop_below_ms, self.average
        )
        warn_on_activation_scale(problem.target_norm, goal[0].numel(), getattr(self.encoder, "node", ""))
        return problem

    def _result(self, problem: EmbeddingMatch, state: LoopState, size: int, t0: float) -> InversionResult:
        """Evaluate the returned images once more and package everything per target × restart."""
        xf = problem.returned(state.x.detach())
        loss, mg = Descent.evaluate(problem, xf, size)  # the same cap on images per pass as the loop
        with torch.no_grad():
            mi = flat_l2(xf, problem.targets)
            ps, ss = psnr(xf, problem.targets), ssim(xf, problem.targets)
        history = state.history
        if history:
            schedules = self.descent.recorded(state.step, max(state.step, 1), math.nan)
            history += problem.history_rows(state.step, xf, loss, mg, schedules)
        r = problem.restarts
        n = len(xf) // r
        shape = lambda t: t.detach().cpu().reshape(n, r)  # noqa: E731
        return InversionResult(
            images=xf.cpu().reshape(n, r, *xf.shape[1:]),
            targets=problem.targets[::r].cpu(),
            m_g=shape(mg),
            m_i=shape(mi),
            m_s=problem.target_m_s.cpu(),
            m_s_std=problem.target_m_s_std.cpu(),
            psnr=shape(ps),
            ssim=shape(ss),
            loss=shape(loss),
            below_ms_at=shape(problem.below_at),
            iterations=state.step,
            seconds=time.perf_counter() - t0,
            history=history,
            interrupted=state.interrupted,
            target_norm=problem.target_norm.cpu(),
        )
