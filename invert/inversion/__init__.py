"""The optimisation-based inverter: objective + priors + optimiser + schedule + step transforms."""

from invert.inversion.config import PRESETS, InversionConfig, Preset, get_preset
from invert.inversion.inverter import (
    Initializer,
    InversionDiverged,
    InversionResult,
    Inverter,
    build_inverter,
    invert,
    line_search_lr,
)
from invert.inversion.schedules import Schedule
from invert.inversion.steps import Blur, Clamp

__all__ = [
    "PRESETS", "Blur", "Clamp", "Initializer", "InversionConfig", "InversionDiverged", "InversionResult",
    "Inverter", "Preset", "Schedule", "build_inverter", "get_preset", "invert", "line_search_lr",
]
