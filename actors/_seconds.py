"""Durations and due times the engine can wait for: finite, and within a century.

A wait of ``nan`` seconds, of infinity or of a millisecond timestamp taken for seconds
(``1.7e12``) is a mistake, and the engine's timers cannot hold it: a NaN breaks the
order of the timer queue, and a due time past what a thread can wait for stops the
clock's thread. Such a value is refused where it is given, naming it.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MAX_SECONDS", "seconds_option", "seconds_problem", "timeout_problem"]

MAX_SECONDS = 100 * 365.25 * 86_400.0
"""The longest wait (about 3.2e9 seconds): a century."""


def seconds_problem(value: Any) -> str | None:
    """Why ``value`` is not a number of seconds to wait (``None`` when it is one).

    Negative numbers pass: a wait of less than nothing is no wait at all.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{value!r:.60} is not a number of seconds"
    if isinstance(value, int):  # exact, and maybe too large for a float: compared as is
        return None if value <= MAX_SECONDS else f"{value!r:.60} seconds is more than a century"
    if math.isnan(value) or math.isinf(value):
        return f"{value!r} is not a finite number of seconds"
    if value > MAX_SECONDS:
        return f"{value!r} seconds is more than a century (a time in milliseconds?)"
    return None


def seconds_option(name: str, value: Any, *, above_zero: bool = False) -> float:
    """``value`` of the option ``name`` as seconds: 0 (or, ``above_zero``, more) to a century.

    ``ValueError`` naming ``name`` otherwise: a NaN, an infinity, a negative number or
    what is no number made no bound where the option is used, or a database refused it.
    """
    if seconds_problem(value) is not None or (value <= 0 if above_zero else value < 0):
        least = "above 0" if above_zero else "from 0"
        msg = f"{name} must be a number of seconds {least} up to a century, got {value!r:.60}"
        raise ValueError(msg)
    return float(value)


def timeout_problem(timeout: Any, on_timeout: str | None) -> str | None:
    """What is wrong with a request's or a choice's ``timeout`` (``None`` when nothing).

    An ``on_timeout`` without a timeout is never taken: a forgotten ``timeout=`` left
    the job waiting for good.
    """
    if timeout is None:
        if on_timeout is None:
            return None
        return f"on_timeout={on_timeout!r} is never taken without a timeout; give the step timeout="
    problem = seconds_problem(timeout)
    if problem is None and timeout < 0:
        problem = f"{timeout!r} is negative"
    return None if problem is None else f"timeout must be seconds >= 0 or None: {problem}"
