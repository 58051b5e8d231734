"""Shared behaviour of the frozen settings dataclasses (inversion, decoder training)."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, TypeVar

from invert.errors import InvertError

T = TypeVar("T")


def updated(settings: T, what: str, **changes: Any) -> T:
    """A copy of ``settings`` with ``changes`` applied; ``None`` means "keep", unknown names are refused."""
    names = {f.name for f in fields(settings)}  # type: ignore[arg-type]
    unknown = set(changes) - names
    if unknown:
        raise InvertError(f"unknown {what} setting(s) {', '.join(sorted(unknown))}")
    return replace(settings, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[type-var]
