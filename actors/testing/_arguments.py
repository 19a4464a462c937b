"""Checks of what a test passes the harness: a mistake is named where it is made.

A wrong argument found deep inside a run costs a trip through tracebacks (``'int' object
has no attribute 'draw'``); a count of zero runs would let a test pass having run
nothing. Each check raises ``TypeError`` or ``ValueError`` naming the call and the value.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["need_callable", "need_count", "need_seconds", "need_str"]


def need_count(value: Any, where: str, *, least: int | None = 0) -> int:
    """``value`` as an int ``>= least`` (any int when ``least`` is None; no bool)."""
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{where} must be an int, got {type(value).__name__} {value!r:.60}"
        raise TypeError(msg)
    if least is not None and value < least:
        msg = f"{where} must be >= {least}, got {value!r}"
        raise ValueError(msg)
    return value


def need_seconds(value: Any, where: str, *, optional: bool = False) -> float | None:
    """``value`` as a finite number of seconds ``>= 0`` (``None`` too when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{where} must be a number of seconds, got {type(value).__name__} {value!r:.60}"
        raise TypeError(msg)
    if not math.isfinite(value) or value < 0:
        msg = f"{where} must be a finite number of seconds >= 0, got {value!r}"
        raise ValueError(msg)
    return float(value)


def need_str(value: Any, where: str) -> str:
    """``value`` as a non-empty str."""
    if not isinstance(value, str) or not value:
        msg = f"{where} must be a non-empty str, got {type(value).__name__} {value!r:.60}"
        raise TypeError(msg)
    return value


def need_callable(value: Any, where: str) -> Any:
    """``value``, which must be callable."""
    if not callable(value):
        msg = f"{where} must be callable, got {type(value).__name__} {value!r:.60}"
        raise TypeError(msg)
    return value
