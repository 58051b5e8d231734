"""The optimisation-based inverter: objective + priors + optimiser + schedule + step transforms.

Names are imported on first use (PEP 562), so reading the settings (``invert.inversion.config``)
does not load the engine, the encoders and torchvision — it keeps ``invert --help`` fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "PRESETS": "config",
    "REPORT_INIT_MEAN": "config",
    "InversionConfig": "config",
    "Preset": "config",
    "get_preset": "config",
    "Initializer": "parts",
    "InversionDiverged": "loop",
    "InversionResult": "result",
    "Inverter": "engine",
    "build_inverter": "builders",
    "invert": "builders",
    "line_search_lr": "builders",
    "resolve": "parts",
    "resolved_for": "builders",
    "Schedule": "schedules",
    "Blur": "steps",
    "Clamp": "steps",
}
__all__ = [
    "PRESETS",
    "REPORT_INIT_MEAN",
    "Blur",
    "Clamp",
    "Initializer",
    "InversionConfig",
    "InversionDiverged",
    "InversionResult",
    "Inverter",
    "Preset",
    "Schedule",
    "build_inverter",
    "get_preset",
    "invert",
    "line_search_lr",
    "resolve",
    "resolved_for",
]
assert sorted(__all__) == sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from invert.inversion.builders import build_inverter, invert, line_search_lr, resolved_for
    from invert.inversion.config import PRESETS, REPORT_INIT_MEAN, InversionConfig, Preset, get_preset
    from invert.inversion.engine import Inverter
    from invert.inversion.loop import InversionDiverged
    from invert.inversion.parts import Initializer, resolve
    from invert.inversion.result import InversionResult
    from invert.inversion.schedules import Schedule
    from invert.inversion.steps import Blur, Clamp
