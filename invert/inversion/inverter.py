"""The optimisation-based inverter: descend on an input until O_l(a_g) ≈ O_l(a).

:class:`Inverter` is assembled from small parts — an encoder, an :class:`~invert.objectives.Objective`,
priors, an optimiser name, a learning-rate :class:`Schedule`, step transforms (blur, clamp) and an
initialiser — and runs a batch of targets × restarts as independent problems in one forward pass.
:func:`invert` builds one from an :class:`InversionConfig`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from invert.analysis.metrics import flat_l2, psnr, shifted_distance, ssim
from invert.encoders.base import Encoder, same_layout
from invert.errors import InvertError
from invert.inversion.config import InversionConfig
from invert.inversion.schedules import Schedule
from invert.inversion.steps import Blur, Clamp
from invert.objectives import Objective, make_objective
from invert.priors import Prior, alpha_prior, l2_prior, tv_prior
from invert.progress import ProgressBar

StepTransform = Callable[[torch.Tensor, int, int], torch.Tensor]
#: Automatic chunking on the CPU keeps one chunk's layer output under this many bytes: bigger
#: batches of early-layer activations spill the cache and cost more per image than one at a time.
CPU_CHUNK_BYTES = 8 * 2**20
Callback = Callable[[int, int, dict[str, float]], None]


class InversionDiverged(InvertError):
    """The loss became NaN/inf; carries the partial result so nothing is lost."""

    def __init__(self, message: str, result: "InversionResult | None" = None):
        super().__init__(message)
        self.result = result


@dataclass
class Initializer:
    """Starting images: ``normal`` N(mean, std) (the report's N(0.7, 1/20)), ``uniform`` [0,1),
    ``constant`` (mean), or ``image`` (a given tensor, broadcast over the batch)."""

    kind: str = "normal"
    mean: float = 0.7
    std: float = 0.05
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
                raise InvertError(f"{img.shape[0]} start images cannot be spread over a batch of {shape[0]}: give one, or one per target")
            return img.expand(shape[0], *shape[1:]).clone() if img.shape[0] == 1 else img.repeat_interleave(shape[0] // img.shape[0], 0)
        raise InvertError(f"unknown init {self.kind!r}")


@dataclass
class InversionResult:
    """What an inversion produced and how it got there.

    ``images`` is (N targets, R restarts, C, H, W); per-run metrics are (N, R); m_s is per
    target. ``history`` holds one row per (recorded iteration, target, restart).
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

    @property
    def best_restart(self) -> torch.Tensor:
        """Index of the restart with the smallest m_g, per target."""
        return self.m_g.argmin(1)

    def summary(self) -> dict[str, Any]:
        """JSON-ready metrics: per target and restart, plus the best restart's values."""
        n, r = self.m_g.shape
        best = self.best_restart
        per = []
        for i in range(n):
            for j in range(r):
                per.append({
                    "target": i, "restart": j,
                    "m_g": float(self.m_g[i, j]), "m_i": float(self.m_i[i, j]),
                    "m_s": float(self.m_s[i]), "m_s_std": float(self.m_s_std[i]),
                    "psnr": float(self.psnr[i, j]), "ssim": float(self.ssim[i, j]),
                    "loss": float(self.loss[i, j]),
                    "below_ms": bool(self.m_g[i, j] < self.m_s[i]),
                    "below_ms_at": int(self.below_ms_at[i, j]),
                })
        pick = lambda t: [float(t[i, best[i]]) for i in range(n)]  # noqa: E731
        return {
            "m_g": pick(self.m_g), "m_s": [float(v) for v in self.m_s], "m_s_std": [float(v) for v in self.m_s_std],
            "m_i": pick(self.m_i), "psnr": pick(self.psnr), "ssim": pick(self.ssim),
            "below_ms": [bool(self.m_g[i, best[i]] < self.m_s[i]) for i in range(n)],
            "best_restart": [int(b) for b in best],
            "iterations": self.iterations, "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted, "runs": per,
        }


class Inverter:
    """Gradient descent on the input image, composed from explicit parts.

    Per iteration: forward the batch, loss = Σ_samples [objective(O(x), O(a)) + Σ priors(x)],
    backward, optimiser step at ``lr(step)``, then each step transform (blur, clamp) in order.
    The forward/backward runs in chunks of ``chunk`` images (0: the whole batch on an
    accelerator; on the CPU, chunks whose layer output stays under :data:`CPU_CHUNK_BYTES`).
    Problems are independent, so chunking changes speed and memory, not the gradient.
    """

    def __init__(
        self,
        encoder: Encoder,
        objective: Objective,
        *,
        priors: Sequence[Prior] = (),
        optimizer: str = "adam",
        lr: Schedule = Schedule("constant", 0.05),
        momentum: float = 0.9,
        steps: Sequence[StepTransform] = (),
        init: Initializer = Initializer(),
        ms_sigma: float = 1 / 20,
        ms_draws: int = 3,
        chunk: int = 0,
    ):
        self.encoder = encoder
        self.objective = objective
        self.priors = list(priors)
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.steps = list(steps)
        self.init = init
        self.ms_sigma = ms_sigma
        self.ms_draws = ms_draws
        self.chunk = chunk

    def chunk_size(self, batch: int, goal: torch.Tensor) -> int:
        """Images per forward/backward pass for a batch whose layer outputs look like ``goal``."""
        if self.chunk > 0:
            return min(self.chunk, batch)
        if goal.device.type != "cpu" or batch == 1:
            return batch
        most = max(1, CPU_CHUNK_BYTES // (goal[0].numel() * goal.element_size()))
        return math.ceil(batch / math.ceil(batch / most))  # balanced chunks

    def _make_optimizer(self, x: torch.Tensor) -> torch.optim.Optimizer:
        lr0 = self.lr(0, 1)
        if self.optimizer == "gd":
            return torch.optim.SGD([x], lr=lr0, momentum=0.0)
        if self.optimizer == "sgd":
            return torch.optim.SGD([x], lr=lr0, momentum=self.momentum)
        if self.optimizer == "adam":
            return torch.optim.Adam([x], lr=lr0)
        if self.optimizer == "lbfgs":
            return torch.optim.LBFGS([x], lr=lr0, max_iter=1, history_size=20, line_search_fn="strong_wolfe")
        raise InvertError(f"unknown optimizer {self.optimizer!r}")

    def run(
        self,
        targets: torch.Tensor,
        iterations: int,
        *,
        restarts: int = 1,
        seed: int = 0,
        record_every: int = 5,
        stop_below_ms: bool = False,
        callback: Callback | None = None,
        progress: bool = False,
    ) -> InversionResult:
        """Invert each of ``targets`` (N, C, H, W in [0,1]) ``restarts`` times from seeded starts."""
        if targets.dim() == 3:
            targets = targets.unsqueeze(0)
        enc = self.encoder
        device, dtype = enc.device, enc.dtype
        targets = targets.to(device=device, dtype=dtype)
        n, r = targets.shape[0], restarts
        gen = torch.Generator().manual_seed(seed)

        t0 = time.perf_counter()
        with torch.no_grad():
            goal = enc(targets)
        m_s, m_s_std = shifted_distance(enc, targets, self.ms_sigma, self.ms_draws, gen, goal)
        goal_b = same_layout(goal.repeat_interleave(r, 0), goal)
        tgt_b = targets.repeat_interleave(r, 0)
        ms_b = m_s.repeat_interleave(r, 0)

        x0 = self.init((n * r, *targets.shape[1:]), gen).to(device=device, dtype=dtype)
        x = x0.clone().requires_grad_(True)
        opt = self._make_optimizer(x)
        history: list[dict[str, float]] = []
        below_at = torch.full((n * r,), -1, dtype=torch.long, device=device)
        last_mg = torch.full((n * r,), math.inf, device=device)
        last_loss = torch.full((n * r,), math.inf, device=device)
        interrupted = False
        step = 0
        bar = ProgressBar("inverting", iterations, enabled=progress)
        # On an accelerator, reading values back forces a sync: check for divergence (and update the
        # progress text) only at recorded steps there; on the CPU it is free, so check every step.
        sync_every = 1 if device.type == "cpu" else record_every

        size = self.chunk_size(n * r, goal)
        slices = [slice(i, i + size) for i in range(0, n * r, size)]

        def closure() -> torch.Tensor:
            grads, pers, mgs = [], [], []
            for sl in slices:  # each chunk is a leaf of its own: no full-batch zero-filled slice gradients
                xi = x.detach()[sl].requires_grad_(True)
                out = enc(xi)
                per = self.objective(out, goal_b[sl])
                for p in self.priors:
                    per = per + p(xi)
                per.sum().backward()
                grads.append(xi.grad)
                pers.append(per.detach())
                mgs.append(flat_l2(out.detach(), goal_b[sl]))
            x.grad = grads[0] if len(grads) == 1 else torch.cat(grads)
            closure.per = pers[0] if len(pers) == 1 else torch.cat(pers)  # type: ignore[attr-defined]
            closure.mg = mgs[0] if len(mgs) == 1 else torch.cat(mgs)  # type: ignore[attr-defined]
            return closure.per.sum()  # type: ignore[attr-defined]

        try:
            for step in range(iterations):
                lr = float(self.lr(step, iterations))
                for g in opt.param_groups:
                    g["lr"] = lr
                record = step % record_every == 0
                x_before = x.detach().clone() if record else None
                opt.step(closure)
                last_loss, last_mg = closure.per, closure.mg  # type: ignore[attr-defined]
                below_at = torch.where((last_mg < ms_b) & (below_at < 0), step, below_at)
                with torch.no_grad():
                    for t in self.steps:
                        x.copy_(t(x, step, iterations))
                check = record or step % sync_every == 0 or step == iterations - 1
                if check:
                    self._check_finite(last_loss, x, step, lr)
                if x_before is not None:
                    mi = flat_l2(x_before, tgt_b).cpu()
                    loss_c, mg_c, sig = last_loss.cpu(), last_mg.cpu(), self._sigma(step, iterations)
                    for b in range(n * r):
                        history.append({"iteration": step, "target": b // r, "restart": b % r, "loss": float(loss_c[b]),
                                        "m_g": float(mg_c[b]), "m_i": float(mi[b]), "m_s": float(ms_b[b]), "lr": lr, "sigma": sig})
                if callback is not None:
                    callback(step, iterations, {"loss": float(last_loss.mean()), "m_g": float(last_mg.mean()), "lr": lr})
                bar.advance(description=f"m_g {float(last_mg.mean()):.3g} / m_s {float(m_s.mean()):.3g}" if check and progress else None)
                if stop_below_ms and bool((below_at >= 0).all()):
                    step += 1
                    break
            else:
                step = iterations
        except KeyboardInterrupt:
            interrupted = True
        except InversionDiverged as exc:
            exc.result = self._finish(x, goal_b, tgt_b, m_s, m_s_std, last_loss, below_at, step, t0, history, n, r, True)
            raise
        finally:
            bar.close()
        return self._finish(x, goal_b, tgt_b, m_s, m_s_std, last_loss, below_at, step, t0, history, n, r, interrupted)

    @staticmethod
    def _check_finite(per: torch.Tensor, x: torch.Tensor, step: int, lr: float) -> None:
        """Raise :class:`InversionDiverged` if the loss or the image has left the finite range."""
        if not torch.isfinite(per).all():
            raise InversionDiverged(
                f"inversion diverged at iteration {step} (loss is {per[~torch.isfinite(per)][0].item()}): "
                f"lower the learning rate (was {lr:g}) or use --optimizer adam"
            )
        if not torch.isfinite(x).all():
            raise InversionDiverged(
                f"inversion diverged at iteration {step} (the image left the finite range): "
                f"lower the learning rate (was {lr:g}) or use --optimizer adam"
            )

    def _sigma(self, step: int, total: int) -> float:
        for t in self.steps:
            if isinstance(t, Blur):
                return float(t.sigma(step, total))
        return 0.0

    def _finish(self, x, goal_b, tgt_b, m_s, m_s_std, last_loss, below_at, steps_done, t0, history, n, r, interrupted) -> InversionResult:
        with torch.no_grad():
            xf = x.detach()
            size = self.chunk_size(len(xf), goal_b)  # the same cap on images per pass as the loop
            out = torch.cat([self.encoder(xf[i:i + size]) for i in range(0, len(xf), size)])
            mg = flat_l2(out, goal_b).cpu()
            per = self.objective(out, goal_b)
            for p in self.priors:
                per = per + p(xf)
            mi = flat_l2(xf, tgt_b).cpu()
            ps, ss = psnr(xf, tgt_b).cpu(), ssim(xf, tgt_b).cpu()
        if history:
            sig = self._sigma(steps_done, max(steps_done, 1))
            for b in range(n * r):
                history.append({"iteration": steps_done, "target": b // r, "restart": b % r, "loss": float(per[b]),
                                "m_g": float(mg[b]), "m_i": float(mi[b]), "m_s": float(m_s.repeat_interleave(r)[b]),
                                "lr": float("nan"), "sigma": sig})
        shape = lambda t: t.reshape(n, r)  # noqa: E731
        return InversionResult(
            images=xf.cpu().reshape(n, r, *xf.shape[1:]), targets=tgt_b[::r].cpu(), m_g=shape(mg), m_i=shape(mi),
            m_s=m_s.cpu(), m_s_std=m_s_std.cpu(), psnr=shape(ps), ssim=shape(ss), loss=shape(per.cpu()),
            below_ms_at=shape(below_at.cpu()), iterations=steps_done, seconds=time.perf_counter() - t0,
            history=history, interrupted=interrupted,
        )


def build_inverter(encoder: Encoder, config: InversionConfig, init_image: torch.Tensor | None = None) -> Inverter:
    """Assemble an :class:`Inverter` from a config: objective, priors, schedule, blur/clamp steps, init."""
    c = config
    priors: list[Prior] = []
    if c.tv > 0:
        priors.append(tv_prior(c.tv, c.tv_beta))
    if c.alpha_norm > 0:
        priors.append(alpha_prior(c.alpha_norm, c.alpha))
    if c.pixel_l2 > 0:
        priors.append(l2_prior(c.pixel_l2))
    steps: list[StepTransform] = []
    if c.blur > 0:
        steps.append(Blur(Schedule(c.blur_schedule, c.blur, c.blur_end), c.blur_kernel))
    if c.clamp:
        steps.append(Clamp())
    lr = Schedule(c.lr_schedule, c.lr, c.lr_end, c.lr_gamma, c.lr_every)
    return Inverter(
        encoder,
        make_objective(c.objective, c.objective_weight),
        priors=priors,
        optimizer=c.optimizer,
        lr=lr,
        momentum=c.momentum,
        steps=steps,
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
    config = (config or InversionConfig()).updated(**overrides)
    inv = build_inverter(encoder, config, init_image)
    return inv.run(targets, config.iterations, restarts=restarts, seed=config.seed, record_every=config.record_every,
                   stop_below_ms=config.stop_below_ms, callback=callback, progress=progress)


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
        lr = float(10 ** e)
        try:
            res = invert(encoder, targets, config, lr=lr, iterations=trial_iterations, record_every=trial_iterations, stop_below_ms=False)
            mg = float(res.m_g.mean())
            diverged = not math.isfinite(mg)
        except InversionDiverged:
            mg, diverged = math.inf, True
        rows.append({"lr": lr, "m_g": mg, "diverged": diverged})
        if mg < best_mg:
            best_lr, best_mg = lr, mg
    if best_lr is None:
        raise InvertError(f"every trial learning rate in [{low:g}, {high:g}] diverged — give --lr explicitly, smaller than {low:g}")
    return best_lr, rows
