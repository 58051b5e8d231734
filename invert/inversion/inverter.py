"""The optimisation-based inverter's public names, where they have always been importable from.

The engine lives in small modules: :mod:`~invert.inversion.result` (what a run returns and its figures),
:mod:`~invert.inversion.matching` (the embedding-match problem), :mod:`~invert.inversion.parts` (settings resolved
once per run, and the parts they describe), :mod:`~invert.inversion.engine` (:class:`Inverter`) and
:mod:`~invert.inversion.builders` (:func:`invert`, :func:`build_inverter`, the line search).
"""

from __future__ import annotations

from invert.inversion.builders import build_inverter, invert, line_search_lr, resolved_for
from invert.inversion.config import InversionConfig
from invert.inversion.engine import Inverter
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
from invert.inversion.matching import EmbeddingMatch
from invert.inversion.parts import (
    DEFAULTS,
    Initializer,
    Parts,
    config_objective,
    config_parts,
    config_priors,
    config_schedule,
    config_smooth,
    config_steps,
    resolve,
)
from invert.inversion.result import (
    SANE_ACTIVATION_RMS,
    ActivationScaleWarning,
    InversionResult,
    warn_on_activation_scale,
)
from invert.inversion.schedules import Schedule
from invert.inversion.steps import Blur, Clamp

__all__ = [
    "CPU_CHUNK_BYTES",
    "DEFAULTS",
    "SANE_ACTIVATION_RMS",
    "ActivationScaleWarning",
    "Blur",
    "Callback",
    "Clamp",
    "Descent",
    "EmbeddingMatch",
    "Initializer",
    "InversionConfig",
    "InversionDiverged",
    "InversionResult",
    "Inverter",
    "LoopState",
    "Parts",
    "Problem",
    "Schedule",
    "StepTransform",
    "build_inverter",
    "chunk_size",
    "config_objective",
    "config_parts",
    "config_priors",
    "config_schedule",
    "config_smooth",
    "config_steps",
    "invert",
    "line_search_lr",
    "resolve",
    "resolved_for",
    "warn_on_activation_scale",
]
