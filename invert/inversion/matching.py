"""Inversion as a :class:`~invert.inversion.loop.Problem`: match a target's embedding O(a), watching m_g against m_s."""

from __future__ import annotations

from typing import Mapping, Sequence

import torch

from invert.analysis.metrics import flat_l2
from invert.encoders.base import Encoder, same_layout
from invert.inversion.loop import Descent, LoopState, Problem
from invert.objectives import Objective
from invert.priors import Prior


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
