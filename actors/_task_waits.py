"""Tasks waiting for a case of their own Mediator: the wait no runner is left to end.

A task may wait for another case's ``result()`` (a sub-case it scheduled), holding its
runner meanwhile. Once every runner of the Mediator is inside a task so waiting (for a
case, or for an admission slot), no step can run, so none of those cases can end: the
wait went on for ever, or ran out its timeout with a ``TimeoutError`` that said nothing
of why. ``TaskWaits`` tells: the last wait of the ring raises ``RuntimeError``, which
fails its task, frees its runner and lets the others go on.

A case may still be ending when the last wait begins: a runner ran its last step and
moved on, and the report (with a store's writer thread, the commit) is on its way to
the Scheduler. So the ring is only called stuck once no report is left unhandled, and
still so after a round trip to the Scheduler (which may be handling the last one): by
then nothing under way can end an awaited case. Threads only: under the deterministic
harness ``result()`` drives the run and reports the same wait as a ``Deadlock``.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import pykka

from actors._scheduler_routes import GetRunners

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors._engine import EngineConfig
    from actors._handle import JobHandle
    from actors._job import Job

__all__ = ["TaskWaits"]

CHECK_EVERY = 0.1
"""Seconds between two looks, by a task's wait, at whether every runner waits."""

_PING_TIMEOUT = 30.0  # the Scheduler's answer to the round trip (a hook may hold it)


class TaskWaits:
    """The handles the tasks of one engine's runners wait for now (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deciding = threading.Lock()  # one wait at a time decides the ring is stuck
        self._handles: dict[object, JobHandle] = {}  # by a token for each wait

    def wait(
        self, engine: EngineConfig, handle: JobHandle, timeout: float | None, scheduler: Any
    ) -> Job:
        """``handle.result(timeout)`` from a task of ``engine``'s runner.

        ``RuntimeError`` at once when every runner of the engine waits so, or for an
        admission slot, and nothing under way can end an awaited case.
        """
        if timeout is not None and not timeout > 0:  # 0, negative or NaN: no wait at all
            return handle._result(timeout)
        token = object()
        with self._lock:
            self._handles[token] = handle
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                self._refuse_if_stuck(engine, token, lambda: _ping(scheduler))
                left = None if deadline is None else deadline - time.monotonic()
                step = CHECK_EVERY if left is None else max(0.0, min(CHECK_EVERY, left))
                try:
                    return handle._result(step)
                except TimeoutError:
                    if left is not None and left <= CHECK_EVERY:
                        raise handle._timed_out(timeout) from None
        finally:
            with self._lock:
                self._handles.pop(token, None)

    def _refuse_if_stuck(
        self, engine: EngineConfig, token: object, ping: Callable[[], bool]
    ) -> None:
        if not self._all_wait(engine):
            return
        with self._deciding:
            if not self._all_wait(engine):
                return  # another wait was refused meanwhile: its runner goes on
            if not ping() or not self._all_wait(engine):
                return
            runners = engine.gate.runners
            with self._lock:  # no longer waiting: the next wait to look sees a runner free
                handle = self._handles.pop(token)
            msg = (
                f"JobHandle.result() of the unfinished case {handle.job_id!r} was called "
                f"from a task, and all {runners} runner(s) of this Mediator are inside "
                "tasks waiting for its cases (or for an admission slot), so none is left "
                "to run them: the wait would never end (give the Mediator more runners than "
                "the tasks that wait at once, or have the task end and a later step go on "
                "once the case has ended)"
            )
            raise RuntimeError(msg)

    def _all_wait(self, engine: EngineConfig) -> bool:
        """Whether every runner waits in a task, for an unended case or a slot, no report due."""
        with self._lock:
            cases = sum(1 for h in self._handles.values() if not h._settled)
        gate, channel = engine.gate, engine.channel
        return cases + gate.runners_waiting >= gate.runners and channel.backlog() == 0


def _ping(scheduler: Any) -> bool:
    """Whether the Scheduler answered, having handled every message sent to it before.

    Not when it has stopped (the engine is stopping: the handles are failed) or a hook
    holds it: the wait goes on, and looks again.
    """
    try:
        scheduler.ask(GetRunners(), timeout=_PING_TIMEOUT)
    except (pykka.ActorDeadError, pykka.Timeout):
        return False
    return True
