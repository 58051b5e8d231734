"""The optimisation-based inverter: descend on an input until O_l(a_g) ≈ O_l(a).

:class:`Inverter` is assembled from small parts — an encoder, an :class:`~invert.objectives.Objective`,
priors, an optimiser name, a learning-rate :class:`Schedule`, step transforms (blur, clamp) and an
initialiser — and runs a batch of targets × restarts as independent problems on the optimisation
loop it shares with gradient ascent (:mod:`invert.inversion.loop`). :func:`invert` builds one from an
:class:`InversionConfig`, whose defaults every part falls back to.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import torch

from invert.analysis.metrics import flat_l2, psnr, shifted_distance, ssim
from invert.encoders.base import Encoder, output_stride, same_layout
from invert.errors import InvertError
from invert.inversion.config import DEFAULT_L2_WEIGHT, InversionConfig
from invert.inversion.loop import (
    CPU_CHUNK_BYTES,
    Callback,
    Descent,
    InversionDiverged,
    LoopState,
    Problem,
    StepTransform,
    chunk_size,
)
from invert.inversion.schedules import Schedule
from invert.inversion.steps import Blur, Clamp
from invert.objectives import Objective, make_objective
from invert.priors import Prior, alpha_prior, l2_prior, tv_prior

__all__ = [
    "CPU_CHUNK_BYTES",
    "ActivationScaleWarning",
    "Callback",
    "Initializer",
    "InversionDiverged",
    "InversionResult",
    "Inverter",
    "StepTransform",
    "build_inverter",
    "invert",
    "line_search_lr",
    "resolved_for",
]

#: The defaults every part below falls back to: one source of truth, :class:`InversionConfig`.
DEFAULTS = InversionConfig()
#: Root-mean-square target activation ‖O(a)‖/√n outside this range draws an :class:`ActivationScaleWarning`:
#: Adam's ε (1e-8) swamps gradients of tiny activations, and huge ones lose float32 precision in the loss.
#: Measured (untrained, 224 px): ResNet-50 conv1…fc 0.1…10; efficientnet_b0 features.5 1e-9, features.8 3e-14;
#: mobilenet_v3_small features.8 2e-6; resnet152 conv4/conv5 1e7.
SANE_ACTIVATION_RMS = (1e-5, 1e5)


class ActivationScaleWarning(UserWarning):
    """The layer's activations are so small or large that optimisers' fixed constants distort the run."""


@dataclass
class Initializer:
    """Starting images: ``normal`` N(mean, std) (default N(0.5, 1/20); the report's N(0.7, 1/20)), ``uniform`` [0,1),
    ``constant`` (mean), or ``image`` (a given tensor, broadcast over the batch).
    Defaults: :class:`InversionConfig`'s."""

    kind: str = DEFAULTS.init
    mean: float = DEFAULTS.init_mean
    std: float = DEFAULTS.init_std
    image: torch.Tensor | None = None

    def __call__(self, shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
        if self.kind == "normal":
            return torch.randn(*shape, generator=generator) * self.std + self.mean
        if self.kind == "uniform":
            return torch.rand(*shape, generator=generator)
        if self.kind == "constant":
            return torch.full(tuple(shape), float(self.mean))
        if self.kind == "image":
            if self.image is None:
                raise InvertError("init 'image' needs an image (--init-image PATH)")
            img = self.image.float().cpu()
            img = img.reshape(-1, *shape[1:]) if img.dim() == len(shape) else img.unsqueeze(0)
            if img.shape[1:] != tuple(shape[1:]):
                raise InvertError(f"init image has shape {tuple(img.shape[1:])}, expected {tuple(shape[1:])}")
            if img.shape[0] != 1 and shape[0] % img.shape[0]:
                raise InvertError(
                    f"{img.shape[0]} start images cannot be spread over a batch of {shape[0]}: "
                    "give one, or one per target"
                )
            if img.shape[0] == 1:
                return img.expand(shape[0], *shape[1:]).clone()
            return img.repeat_interleave(shape[0] // img.shape[0], 0)
        raise InvertError(f"unknown init {self.kind!r}")


@dataclass
class InversionResult:
    """What an inversion produced and how it got there.

    ``images`` is (N targets, R restarts, C, H, W); per-run metrics are (N, R); m_s and
    ``target_norm`` (‖O(a)‖) are per target. ``below_ms_at`` is the first iteration whose
    evaluated image had m_g < m_s (−1: never). ``history`` holds one row per (recorded
    iteration, target, restart), plus a last row for the returned images.
    """

    images: torch.Tensor
    targets: torch.Tensor
    m_g: torch.Tensor
    m_i: torch.Tensor
    m_s: torch.Tensor
    m_s_std: torch.Tensor
    psnr: torch.Tensor
    ssim: torch.Tensor
    loss: torch.Tensor
    below_ms_at: torch.Tensor
    iterations: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False
    target_norm: torch.Tensor | None = None

    @property
    def best_restart(self) -> torch.Tensor:
        """Index of the restart with the smallest m_g, per target."""
        return self.m_g.argmin(1)

    @property
    def relative_m_g(self) -> torch.Tensor:
        """m_g / ‖O(a)‖ per run (N, R): comparable across layers and models whatever their activation scale."""
        norm = self.target_norm if self.target_norm is not None else torch.full((self.m_g.shape[0],), math.nan)
        return self.m_g / norm[:, None]

    def summary(self) -> dict[str, Any]:
        """JSON-ready metrics: per target and restart, plus the best restart's values."""
        n, r = self.m_g.shape
        best = self.best_restart
        rel = self.relative_m_g
        norm = [float(v) for v in (self.target_norm if self.target_norm is not None else torch.full((n,), math.nan))]
        per = []
        for i in range(n):
            for j in range(r):
                per.append(
                    {
                        "target": i,
                        "restart": j,
                        "m_g": float(self.m_g[i, j]),
                        "m_i": float(self.m_i[i, j]),
                        "m_s": float(self.m_s[i]),
                        "m_s_std": float(self.m_s_std[i]),
                        "psnr": float(self.psnr[i, j]),
                        "ssim": float(self.ssim[i, j]),
                        "loss": float(self.loss[i, j]),
                        "below_ms": bool(self.m_g[i, j] < self.m_s[i]),
                        "below_ms_at": int(self.below_ms_at[i, j]),
                        "target_norm": norm[i],
                        "relative_m_g": float(rel[i, j]),
                    }
                )
        pick = lambda t: [float(t[i, best[i]]) for i in range(n)]  # noqa: E731
        return {
            "m_g": pick(self.m_g),
            "m_s": [float(v) for v in self.m_s],
            "m_s_std": [float(v) for v in self.m_s_std],
            "m_i": pick(self.m_i),
            "psnr": pick(self.psnr),
            "ssim": pick(self.ssim),
            "below_ms": [bool(self.m_g[i, best[i]] < self.m_s[i]) for i in range(n)],
            "target_norm": norm,
            "relative_m_g": pick(rel),
            "best_restart": [int(b) for b in best],
            "iterations": self.iterations,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "runs": per,
        }


def config_schedule(c: InversionConfig) -> Schedule:
    """The learning-rate schedule a config describes."""
    c = c.resolved()
    assert c.lr is not None  # resolved() makes it concrete
    return Schedule(c.lr_schedule, c.lr, c.lr_end, c.lr_gamma, c.lr_every)


def config_objective(c: InversionConfig) -> Objective:
    """The objective a config describes: ``objective`` × ``objective_weight``, plus ``l2_weight`` × √n‖O(x) − O(a)‖₂
    when that is > 0 (named ``l1 + 4·l2-in-l1-units`` and so on)."""
    c = c.resolved()
    objective = make_objective(c.objective, c.objective_weight)
    if c.l2_weight:
        objective = objective + make_objective("l2-in-l1-units", c.l2_weight)
    return objective


def config_priors(c: InversionConfig) -> list[Prior]:
    """The priors a config switches on (weight > 0): TV^β, α-norm, pixel L2."""
    c = c.resolved()
    priors: list[Prior] = []
    if c.tv is not None and c.tv > 0:
        priors.append(tv_prior(c.tv, c.tv_beta, c.tv_end, relative=c.tv_scale == "target"))
    if c.alpha_norm > 0:
        priors.append(alpha_prior(c.alpha_norm, c.alpha))
    if c.pixel_l2 > 0:
        priors.append(l2_prior(c.pixel_l2))
    return priors


def config_smooth(c: InversionConfig) -> Schedule:
    """The σ schedule of the Gaussian each update is smoothed by: linear from ``smooth`` to 0 over the first
    ``smooth_over`` iterations (0: over the run), then 0 (off)."""
    c = c.resolved()
    return Schedule("linear", c.smooth or 0.0, 0.0, over=c.smooth_over)


def config_steps(c: InversionConfig) -> list[StepTransform]:
    """The step transforms a config switches on, in order: blur (eq. 5), then clamping to [0, 1]."""
    c = c.resolved()
    steps: list[StepTransform] = []
    if c.blur is not None and c.blur > 0:
        steps.append(Blur(Schedule(c.blur_schedule, c.blur, c.blur_end), c.blur_kernel))
    if c.clamp:
        steps.append(Clamp())
    return steps


class EmbeddingMatch(Problem):
    """Inversion as a :class:`Problem`: objective(O(x), O(a)) + Σ priors(x) per image, watching m_g = ‖O(x) − O(a)‖.

    Rows of the batch are target-major: image b is target b // restarts, restart b % restarts.
    Counts the first iteration whose evaluated image has m_g < m_s; with ``stop_below_ms`` an image
    that got there is held at that evaluated image, and the run stops once every image has. With
    ``stop_below_ms`` and ``average`` β > 0 the running average x̄_t = β x̄_{t−1} + (1 − β) x_t of the
    evaluated images is a candidate too (:meth:`candidates`; one more forward pass per iteration).
    """

    name = "inversion"
    measure = "m_g"

    def __init__(
        self,
        encoder: Encoder,
        objective: Objective,
        priors: Sequence[Prior],
        targets: torch.Tensor,
        goal: torch.Tensor,
        m_s: tuple[torch.Tensor, torch.Tensor],
        restarts: int,
        stop_below_ms: bool = False,
        average: float = 0.0,
    ):
        self.encoder, self.objective, self.priors = encoder, objective, list(priors)
        self.target_m_s, self.target_m_s_std = m_s  # per target
        self.target_norm = flat_l2(goal, torch.zeros_like(goal))  # ‖O(a)‖ per target
        self.goal = same_layout(goal.repeat_interleave(restarts, 0), goal)  # per image: target-major
        self.targets = targets.repeat_interleave(restarts, 0)
        self.m_s = self.target_m_s.repeat_interleave(restarts, 0)
        self.restarts = restarts
        self.stop_below_ms = stop_below_ms
        self.below_at = torch.full((len(self.targets),), -1, dtype=torch.long, device=targets.device)
        self.held: torch.Tensor | None = None  # with stop_below_ms: each image as it was when first below m_s
        self.average = average if stop_below_ms else 0.0
        self.mean_image: torch.Tensor | None = None  # x̄, the running average of the evaluated images
        self.chunk = len(self.targets)  # images per pass when measuring x̄ (each run sets the loop's)
        self.progress = 0.0  # step / total of the iteration being evaluated (annealed prior weights)
        # per image, the factor a relative prior's weight is read in: ‖O(a)‖₁ / prior(a) of its target
        l1 = goal.abs().sum(dim=tuple(range(1, goal.dim())))
        self.scales = [
            (l1 / p.fn(targets).clamp_min(1e-12)).repeat_interleave(restarts, 0) if p.relative else None
            for p in self.priors
        ]

    def prepare(self, step: int, total: int) -> None:
        self.progress = step / max(total, 1)

    def evaluate(self, x: torch.Tensor, rows: slice) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.encoder(x)
        loss = self.objective(out, self.goal[rows])
        for p, scale in zip(self.priors, self.scales, strict=True):
            term = p(x, self.progress)
            loss = loss + (term if scale is None else term * scale[rows])
        return loss, flat_l2(out.detach(), self.goal[rows])

    @torch.no_grad()
    def candidates(self, state: LoopState) -> tuple[torch.Tensor | None, torch.Tensor]:
        """This iteration's candidate per image and its m_g: the evaluated image, or where that is not below m_s
        and the running average x̄ of the evaluated images (``average`` β > 0) is closer in embedding, x̄. Adam's
        iterates oscillate about the path; their average is often below m_s iterations before any iterate is, but
        it lags towards the start, so an iterate below m_s is preferred."""
        images, m_g = state.evaluated, state.measure
        if self.average <= 0 or images is None:
            return images, m_g
        if self.mean_image is None:
            self.mean_image = images.clone()
        else:
            self.mean_image.lerp_(images, 1 - self.average)
        xm = self.mean_image
        _, m_avg = Descent.evaluate(self, xm, self.chunk)
        closer = (m_avg < m_g) & (m_g >= self.m_s)
        return torch.where(closer.view(-1, *([1] * (xm.dim() - 1))), xm, images), torch.where(closer, m_avg, m_g)

    def count_first_below(self, state: LoopState) -> tuple[torch.Tensor, torch.Tensor]:
        """Count each image's first iteration with a :meth:`candidates` image below m_s and, with ``stop_below_ms``,
        keep that image in ``held``; returns the images that got there this iteration and every candidate's m_g."""
        images, m_g = self.candidates(state)
        first = (m_g < self.m_s) & (self.below_at < 0)
        self.below_at = torch.where(first, state.step, self.below_at)
        if self.stop_below_ms:
            assert images is not None  # kept every iteration when stopping below m_s
            if self.held is None:
                self.held = images.clone()
            self.held[first] = images[first]
        return first, m_g

    def observe(self, state: LoopState) -> bool:
        self.count_first_below(state)
        if not self.stop_below_ms:
            return False
        assert self.held is not None
        done = self.below_at >= 0
        with torch.no_grad():
            state.x[done] = self.held[done]  # hold each image that got there at the image that did
        return bool(done.all())

    def returned(self, x: torch.Tensor) -> torch.Tensor:
        """The images a run returns: ``x``, except that with ``stop_below_ms`` an image that got below m_s
        is the one that did (also after Ctrl-C or divergence mid-iteration)."""
        if self.held is None:
            return x
        done = (self.below_at >= 0).view(-1, *([1] * (x.dim() - 1)))
        return torch.where(done, self.held, x)

    def history_rows(
        self, step: int, images: torch.Tensor, loss: torch.Tensor, measure: torch.Tensor, schedules: Mapping[str, float]
    ) -> list[dict[str, float]]:
        mi = flat_l2(images, self.targets).cpu()
        loss_c, mg_c, ms_c, r = loss.cpu(), measure.cpu(), self.m_s.cpu(), self.restarts
        return [
            {
                "iteration": step,
                "target": b // r,
                "restart": b % r,
                "loss": float(loss_c[b]),
                "m_g": float(mg_c[b]),
                "m_i": float(mi[b]),
                "m_s": float(ms_c[b]),
                **schedules,
            }
            for b in range(len(mi))
        ]

    def describe(self, state: LoopState) -> str:
        return f"m_g {float(state.measure.mean()):.3g} / m_s {float(self.m_s.mean()):.3g}"


def warn_on_activation_scale(norm: torch.Tensor, elements: int, where: str = "") -> None:
    """Warn (:class:`ActivationScaleWarning`) when a target embedding's RMS per element ‖O(a)‖/√n is
    outside :data:`SANE_ACTIVATION_RMS`, where Adam's ε and the float32 range distort the descent."""
    rms = norm / math.sqrt(elements)
    low, high = SANE_ACTIVATION_RMS
    bad = (rms < low) | (rms > high) | ~torch.isfinite(rms)
    if bool(bad.any()):
        value = float(rms[bad][0])
        warnings.warn(
            f"activations{' at ' + where if where else ''} have RMS {value:.3g} per element, "
            f"outside [{low:g}, {high:g}]: "
            "optimisers' fixed constants (Adam's ε = 1e-8) distort such a descent and m_g < m_s may mean little — "
            "prefer --objective normalized-l2 or cosine (scale-free), or compare relative_m_g = m_g/‖O(a)‖",
            ActivationScaleWarning,
            stacklevel=4,
        )


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
        self._size_defaults(DEFAULTS.size)
        # the running average a stop-below-m_s run also watches: the default's β with its objective and optimiser
        self.average = average if average is not None else DEFAULTS.resolved(searched=self.searched).average
        self.init = init if init is not None else Initializer()
        self.ms_sigma = ms_sigma
        self.ms_draws = ms_draws
        self.chunk = chunk

    def _size_defaults(self, size: int, measure_stride: bool = False) -> None:
        """Set the parts left out to the default's (for this optimiser and objective) for ``size``-pixel images; with
        ``measure_stride``, the smoothing for the encoder's output stride (one forward pass), else none."""
        if not any(self._sized.values()):
            return
        searched = self.searched
        stride = output_stride(self.encoder, size) if measure_stride and self._sized["smooth"] and searched else None
        c = DEFAULTS.resolved(size, searched=searched, stride=stride)
        if self._sized["objective"]:
            self.objective = config_objective(c)
        if self._sized["priors"]:
            self.priors = config_priors(c)
        if self._sized["lr"]:
            self.lr = config_schedule(c)
        if self._sized["steps"]:
            self.steps = config_steps(c)
        if self._sized["smooth"]:
            self.smooth = config_smooth(c)

    @property
    def searched(self) -> bool:
        """Whether this is the procedure the default's chosen settings were searched for: Adam on L1 (alone, or with
        the default's L2 term), like :attr:`InversionConfig.searched`."""
        names = {DEFAULTS.objective, config_objective(DEFAULTS.updated(l2_weight=DEFAULT_L2_WEIGHT)).name}
        return self.optimizer == DEFAULTS.optimizer and getattr(self.objective, "name", "") in names

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
        self._size_defaults(min(targets.shape[-2:]), measure_stride=True)
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


def resolved_for(config: InversionConfig, encoder: Encoder, size: int | None = None) -> InversionConfig:
    """``config`` with every chosen setting made concrete for ``size``-pixel images (default ``config.size``) through
    ``encoder`` (whose output stride sets the default's update smoothing): what a run of it will do."""
    size = size or config.size
    chosen = config.smooth is None and config.searched  # only the default's smoothing needs the stride
    return config.resolved(size, stride=output_stride(encoder, size) if chosen else None)


def build_inverter(encoder: Encoder, config: InversionConfig, init_image: torch.Tensor | None = None) -> Inverter:
    """Assemble an :class:`Inverter` from a config: objective, priors, schedule, update smoothing, blur/clamp steps,
    init. Settings the config leaves to the default (``None``) are made concrete for ``config.size``-pixel images
    through ``encoder`` (:func:`resolved_for`); for images of another size, resolve for that size first (as
    :func:`invert` does)."""
    c = resolved_for(config, encoder)
    return Inverter(
        encoder,
        config_objective(c),
        priors=config_priors(c),
        optimizer=c.optimizer,
        lr=config_schedule(c),
        momentum=c.momentum,
        steps=config_steps(c),
        smooth=config_smooth(c),
        average=c.average,
        init=Initializer(c.init, c.init_mean, c.init_std, init_image),
        ms_sigma=c.ms_sigma,
        ms_draws=c.ms_draws,
        chunk=c.chunk,
    )


def invert(
    encoder: Encoder,
    targets: torch.Tensor,
    config: InversionConfig | None = None,
    *,
    restarts: int = 1,
    init_image: torch.Tensor | None = None,
    callback: Callback | None = None,
    progress: bool = False,
    **overrides: Any,
) -> InversionResult:
    """Invert ``targets`` (N, C, H, W in [0, 1]) through ``encoder``: the one-call API.

    >>> enc = build_encoder("resnet50", "conv4")
    >>> res = invert(enc, images, iterations=100)
    >>> res.m_g, res.m_s
    """
    config = resolved_for((config or InversionConfig()).updated(**overrides), encoder, min(targets.shape[-2:]))
    inv = build_inverter(encoder, config, init_image)
    return inv.run(
        targets,
        config.iterations,
        restarts=restarts,
        seed=config.seed,
        record_every=config.record_every,
        stop_below_ms=config.stop_below_ms,
        callback=callback,
        progress=progress,
    )


def line_search_lr(
    encoder: Encoder,
    targets: torch.Tensor,
    config: InversionConfig,
    *,
    trials: int = 6,
    trial_iterations: int = 30,
    low: float = 1e-4,
    high: float = 1.0,
    seed: int = 0,
) -> tuple[float, list[dict[str, float]]]:
    """The appendix's random line search: short runs at log-uniform ε, keep the one minimising m_g.

    Returns the chosen learning rate and one row per trial (lr, m_g, diverged).
    """
    gen = torch.Generator().manual_seed(seed)
    exps = torch.empty(trials).uniform_(math.log10(low), math.log10(high), generator=gen)
    rows: list[dict[str, float]] = []
    best_lr, best_mg = None, math.inf
    for e in sorted(exps.tolist()):
        lr = float(10**e)
        try:
            res = invert(
                encoder,
                targets,
                config,
                lr=lr,
                iterations=trial_iterations,
                record_every=trial_iterations,
                stop_below_ms=False,
            )
            mg = float(res.m_g.mean())
            diverged = not math.isfinite(mg)
        except InversionDiverged:
            mg, diverged = math.inf, True
        rows.append({"lr": lr, "m_g": mg, "diverged": diverged})
        if mg < best_mg:
            best_lr, best_mg = lr, mg
    if best_lr is None:
        raise InvertError(
            f"every trial learning rate in [{low:g}, {high:g}] diverged — give --lr explicitly, smaller than {low:g}"
        )
    return best_lr, rows
