"""A runner's stops: a ``StopJob`` in its lane, and pykka's stop from the engine or from outside.

A runner's stop, as pykka puts it in its inbox, comes from the engine or from outside
the Mediator.

The engine stops its runners only once its ``StopSignal`` is set (``shutdown()``, the
Scheduler stopping). Any other stop of a runner comes from the application:
``pykka.ActorRegistry.stop_all()``, or ``stop()`` on the runner's ref. The whole engine
stops then, as ``shutdown(drain=False)`` stops it: one runner gone while the Scheduler
went on handing it cases, and the others stopping between steps, left every case
admitted afterwards unrun and its handle waiting for ever.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import pykka

from actors._engine import job_log, logger

if TYPE_CHECKING:
    from collections import deque

    from actors._engine import EngineConfig
    from actors._job import JobRecord

__all__ = ["stop_asked", "stop_engine_from_outside"]


def stop_engine_from_outside(
    engine: EngineConfig, index: int, scheduler: pykka.ActorRef[Any]
) -> None:
    """Runner ``index`` was asked to stop (its inbox got pykka's stop); on the stopping thread.

    A stop from outside stops every runner before its next step (not after the jobs its
    delivery would still run), refuses admission at once and stops the Scheduler, which
    fails the handles of the cases not ended; what they saved stays in the store for the
    next start, and a ``shutdown()`` waits for the steps still running before it closes
    the store.
    """
    stop = engine.stop
    if stop.requested:  # the engine's own stop, or a second one from outside
        return
    stop.set()
    engine.gate.close()
    logger.info(
        "runner %d was stopped from outside the Mediator: the engine stops, without a drain",
        index,
        extra=job_log(None),
    )
    with contextlib.suppress(pykka.ActorDeadError):  # stopped already: nothing to do
        scheduler.stop(block=False)


def stop_asked(job: JobRecord, lane: deque[Any]) -> str | None:
    """Why ``job`` must stop, if a ``StopJob`` for it is in ``lane`` (others are stale).

    Empties the lane: a stop for another job is for one this runner no longer runs.
    """
    why = None
    while lane:
        stop = lane.popleft()
        if stop.job_id == job.id:
            why = stop.why
    return why
