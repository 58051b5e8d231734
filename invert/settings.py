"""Shared behaviour of the frozen settings dataclasses, and the one rule for ``--quick`` settings.

Every command and experiment chooses its settings the same way (:func:`choose`): the source's
full setting, or the small one with ``--quick``; then every value the user gave explicitly wins
over both. Nothing is capped silently: :func:`overridden` names the quick values an explicit one
replaced, so a command can say so.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from typing import Any, Mapping, TypeVar

from invert.errors import InvertError

T = TypeVar("T")


def updated(settings: T, what: str, **changes: Any) -> T:
    """A copy of ``settings`` with ``changes`` applied; ``None`` means "keep", unknown names are refused."""
    names = {f.name for f in fields(settings)}  # type: ignore[arg-type]
    unknown = set(changes) - names
    if unknown:
        raise InvertError(f"unknown {what} setting(s) {', '.join(sorted(unknown))}")
    return replace(settings, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[type-var]


def _changes(small: Any) -> dict[str, Any]:
    """Field → value of a settings dataclass (shallow: a nested settings dataclass stays one) or a dict's items."""
    if is_dataclass(small) and not isinstance(small, type):
        return {f.name: getattr(small, f.name) for f in fields(small)}
    return dict(small)


def choose(
    full: T, small: T | Mapping[str, Any], quick: bool, given: Mapping[str, Any] | None = None, what: str = ""
) -> T:
    """The settings of a run: ``full``, or ``small`` over it when ``quick``; then ``given`` (``None``: not given) wins.

    ``full`` and ``small`` are dataclass instances or, for commands whose settings are keyword
    arguments, dicts; ``small`` may also be a dict of the fields it changes. Explicit values
    always win, so ``--quick --epochs 10`` trains 10 epochs.
    """
    given = {k: v for k, v in (given or {}).items() if v is not None}
    base: Any = full
    if quick:
        base = updated(full, what, **_changes(small)) if is_dataclass(full) else {**base, **_changes(small)}
    if is_dataclass(base):
        return updated(base, what, **given)  # type: ignore[return-value]
    unknown = set(given) - set(base)
    if unknown:
        raise InvertError(f"unknown {what} setting(s) {', '.join(sorted(unknown))}")
    return {**base, **given}  # type: ignore[return-value]


def overridden(
    full: Any, small: Any, quick: bool, given: Mapping[str, Any] | None = None
) -> dict[str, tuple[Any, Any]]:
    """The quick values an explicit one replaced: name → (quick value, given value); empty without ``quick``."""
    if not quick:
        return {}
    base = _changes(full) if not isinstance(full, Mapping) else dict(full)
    small_values = {**base, **_changes(small)}
    return {
        k: (small_values[k], v)
        for k, v in (given or {}).items()
        if v is not None and k in small_values and small_values[k] != base.get(k) and small_values[k] != v
    }
