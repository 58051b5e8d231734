"""Schedules for the learning rate and the blur σ: ``value = schedule(step, total)``."""

from __future__ import annotations

import math
from dataclasses import dataclass

from invert.errors import InvertError


@dataclass(frozen=True)
class Schedule:
    """``kind`` ∈ constant | linear | cosine | step, from ``start`` to ``end`` over the run.

    ``linear`` interpolates start→end (end = 0 gives the report's decay to zero, figs. 4–5);
    ``cosine`` anneals start→end; ``step`` multiplies by ``gamma`` every ``every`` steps
    (``every = 0`` means at thirds of the run), ignoring ``end``. ``over`` > 0 lays ``linear`` and ``cosine``
    over the first ``over`` steps whatever the run's length, then holds ``end`` (0: over the whole run).
    """

    kind: str = "constant"
    start: float = 1.0
    end: float | None = None
    gamma: float = 0.1
    every: int = 0
    over: int = 0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULE_KINDS:
            raise InvertError(f"unknown schedule {self.kind!r}: choose from {', '.join(SCHEDULE_KINDS)}")
        if self.over < 0:
            raise InvertError(f"a schedule's 'over' must be ≥ 0 steps (0 = the whole run; got {self.over})")

    def __call__(self, step: int, total: int) -> float:
        end = self.start if self.end is None else self.end
        frac = min(step / self.over, 1.0) if self.over > 0 else step / max(total, 1)
        if self.kind == "constant":
            return self.start
        if self.kind == "linear":
            return self.start + (end - self.start) * frac
        if self.kind == "cosine":
            return end + (self.start - end) * 0.5 * (1.0 + math.cos(math.pi * frac))
        every = self.every or max(total // 3, 1)
        return self.start * self.gamma ** (step // every)


SCHEDULE_KINDS = ("constant", "linear", "cosine", "step")
