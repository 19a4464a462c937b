"""Refuse, instead of hanging, a wait on an actor the deterministic runtime does not run.

A task under the harness that asks a ``pykka.ThreadingActor`` started outside it would
block the harness's only thread on that actor's reply: the run either hangs or depends
on a thread the harness cannot schedule. While a simulated delivery runs, an unresolved
``pykka.ThreadingFuture.get()`` on the delivering thread raises the runtime's error
instead (the wrapper is installed once and costs nothing outside a delivery).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from actors._pykka_seam import wrap_threading_future_get

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["delivering", "guard_threading_futures"]

_STATE = threading.local()


def delivering() -> Callable[[str], BaseException] | None:
    """The error factory of the runtime delivering on this thread, if any."""
    return getattr(_STATE, "refuse", None)


def set_delivering(refuse: Callable[[str], BaseException] | None) -> None:
    """Mark this thread as running a simulated delivery (``None``: no longer)."""
    _STATE.refuse = refuse


def guard_threading_futures() -> None:
    """Wrap ``pykka.ThreadingFuture.get`` once: in a delivery, a wait that would block raises."""
    wrap_threading_future_get(_refusal)


def _refusal() -> BaseException | None:
    refuse: Callable[[str], BaseException] | None = getattr(_STATE, "refuse", None)
    if refuse is None:
        return None
    return refuse(
        "a task waits on a reply from an actor the harness does not run (a "
        "pykka.ThreadingActor started outside it): its thread is outside the "
        "schedule, so the run would hang or stop being deterministic. Start the "
        "actor with harness.actor(YourActor, ...) instead"
    )
