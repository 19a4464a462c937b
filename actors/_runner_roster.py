"""The runner actors an engine started: what ``shutdown()`` waits for before it closes the store.

The Scheduler starts the runners (and restarts one that failed), but it may stop before
them: stopped from outside the Mediator (``mediator.scheduler.stop()``,
``pykka.ActorRegistry.stop_all()``) or on an error. A shutdown that asked it for its
runners then found none, and closed the store under steps still running. The roster is
part of the engine's configuration, so a shutdown finds every runner that may still run
a step without asking any actor.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

__all__ = ["RunnerRoster"]


class RunnerRoster:
    """Each runner actor an engine started, with its index, until a later start finds it stopped.

    Thread-safe: the Scheduler adds to it, a shutdown reads it (one lock, held for a copy).
    It holds the refs weakly: a runner's actor holds its own ref for as long as it runs,
    and the engine, which the actor holds, must not hold the actor back in a cycle that
    only the garbage collector would free.
    """

    __slots__ = ("_lock", "_refs")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refs: list[tuple[int, weakref.ref[Any]]] = []

    def add(self, index: int, ref: Any) -> None:
        """Runner ``index`` started as ``ref`` (a first start, or a restart after a failure)."""
        with self._lock:
            # The runners that stopped (one that failed, before its restart) are dropped
            # here: a runner failing again and again leaves no trail of refs behind.
            kept = [(i, r) for i, r in self._refs if not _stopped(r())]
            kept.append((index, weakref.ref(ref)))
            self._refs = kept

    def started(self) -> list[tuple[int, Any]]:
        """``(index, ref)`` of every runner started and still there, in start order."""
        with self._lock:
            held = [(i, r()) for i, r in self._refs]
        return [(i, ref) for i, ref in held if ref is not None]


def _stopped(ref: Any) -> bool:
    if ref is None:  # let go of: its actor has stopped and gone
        return True
    stopped = getattr(ref, "actor_stopped", None)
    return stopped is not None and bool(stopped.is_set())
