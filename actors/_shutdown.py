"""How a ``Mediator`` stops its actors and closes its store, within the caller's timeout.

The runners it waits for are the engine's roster (``actors._runner_roster``), not the
Scheduler's answer: the application may have stopped the Scheduler already (its ref's
``stop()``, ``pykka.ActorRegistry.stop_all()``), and its runners may still be inside a
step. A runner stops only after its current step (a task is never interrupted), so a
step that runs past the timeout cannot be waited for. ``shutdown()`` then closes the
store all the same, names the runners still busy in a warning, and returns: once it has
returned, the engine writes nothing more to the store (a Mediator started next on it, in
this process or another, is never raced), and the late step's save is refused, so its
job goes on from its last stored save on the next start, as after a crash. While it
waits for the runners, it renews the worker's lease, which the stopped Scheduler's polls
no longer do.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

import pykka

from actors import messages as m
from actors._engine import delivering, job_log, logger
from actors._errors import StoreError

if TYPE_CHECKING:
    from actors._engine import EngineConfig

__all__ = ["drain_and_stop", "refuse_from_task", "refuse_on_scheduler", "stop_engine"]


def refuse_from_task(engine: EngineConfig) -> None:
    """Raise ``RuntimeError`` if this thread is running a task of ``engine``.

    A shutdown waits for the engine's runners to stop, and a runner stops only once the
    task it runs returns: called from that task, it would wait for itself.
    """
    if delivering.engine is engine:
        msg = (
            "Mediator.shutdown() was called from a task of that Mediator (on one of its "
            "runners), and would wait for that very task to end; call it from another "
            "thread, e.g. threading.Thread(target=mediator.shutdown).start()"
        )
        raise RuntimeError(msg)
    refuse_on_scheduler(engine, "Mediator.shutdown()")


def refuse_on_scheduler(engine: EngineConfig, call: str) -> None:
    """Raise ``RuntimeError`` if this thread is ``engine``'s Scheduler (threaded runtime).

    An ``on_shed`` or metrics hook runs there; a call that asks the Scheduler, or waits
    for it to stop, would wait for the very thread making it.
    """
    if delivering.scheduler is engine:
        msg = (
            f"{call} was made on that Mediator's Scheduler thread (an on_shed or metrics "
            "hook runs there), and would wait for that thread, which is busy making it; "
            "make it from another thread, e.g. threading.Thread(target=...).start()"
        )
        raise RuntimeError(msg)


def drain_and_stop(
    engine: EngineConfig, scheduler: pykka.ActorRef[Any], drain: bool, timeout: float | None
) -> bool:
    """Close admission, drain if asked (within ``timeout``), stop every actor, close the store.

    Whether the engine was drained: the drain ended in time and every actor stopped.
    """
    # The gate first: a task's schedule() refused from here on finds admission closed,
    # which tells its runner the step was cut short by the stop, not failed.
    engine.gate.close()
    drained = False
    if drain and scheduler.is_alive():
        try:
            began = time.monotonic()
            inner = scheduler.ask(m.Drain(), timeout=timeout)
            left = None if timeout is None else max(0.0, began + timeout - time.monotonic())
            inner.get(timeout=left)  # the ask's wait and this one share the timeout
            # Unless the Scheduler stopped under the drain (from outside, on an error),
            # which answers it as it stops.
            drained = not engine.stop.requested
        except pykka.Timeout:
            logger.warning(
                "drain did not finish within %ss; stopping anyway", timeout, extra=job_log(None)
            )
        except pykka.ActorDeadError:
            pass
    engine.stop.set()
    stopped = stop_engine(engine, scheduler, timeout)
    return drained and stopped


def stop_engine(
    engine: EngineConfig, scheduler: pykka.ActorRef[Any], timeout: float | None
) -> bool:
    """Stop ``scheduler`` and every runner of the roster (``engine.stop`` is set); close the store.

    Waits up to ``timeout`` for the Scheduler and up to ``timeout`` in all for the
    runners' current steps; never raises ``pykka.Timeout``. Returns whether every
    actor stopped in time (``False``: a step was still running, or the Scheduler was).
    """
    stopped = True
    try:
        scheduler.stop(block=True, timeout=timeout)
    except pykka.Timeout:
        stopped = False
        # Its stop is queued behind its inbox: it fails the handles once it gets there.
        logger.warning(
            "shutdown: the scheduler did not stop within %ss; stopping the runners anyway",
            timeout,
            extra=job_log(None),
        )
    # Read once the Scheduler has stopped (or had stop set before it timed out), when it
    # restarts no runner: these are all of them, whoever stopped it and when.
    runners = engine.roster.started()
    for _index, runner in runners:  # each stops after its current step
        with contextlib.suppress(pykka.ActorDeadError):
            runner.stop(block=False)
    deadline = None if timeout is None else time.monotonic() + timeout
    busy: list[int] = []
    for index, runner in runners:
        if not _wait_renewing(engine, runner, deadline):
            busy.append(index)
    if busy:
        logger.warning(
            "shutdown: %s still running a step %s after the stop; the store is closed "
            "now, so that step's save is not stored and the job runs it again on the next "
            "start",
            _held(engine, busy),
            "with no time limit" if timeout is None else f"{timeout}s",
            extra=job_log(None),
        )
    store = engine.store
    store.pace(None)  # the runners have stopped (or may save no more): nothing is coming
    if store.shared and not engine.stop.keep_store:  # what is left, others may take at once
        try:
            # The runners' last slices first: a case released before its last save is
            # stored would be claimed at the step before, which would run again.
            store.finish_writes()
            store.release(engine.owner)
        except StoreError as exc:  # the store is away: the stop goes on, the leases lapse
            logger.warning(
                "shutdown: cannot release this worker's cases (%s); other workers take them "
                "once their leases expire (%ss)",
                exc,
                engine.lease_seconds,
                extra=job_log(None),
            )
    store.close()
    return stopped and not busy


def _wait_renewing(
    engine: EngineConfig, runner: pykka.ActorRef[Any], deadline: float | None
) -> bool:
    """Wait until ``runner`` stops or ``deadline`` passes; whether it stopped.

    The Scheduler, whose polls renew the worker's lease, has stopped: a step that runs
    on for longer than the lease would let another worker take its case and run that
    step a second time, beside this one. So the lease is renewed here every poll
    interval until the runners are done.
    """
    while True:
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        pause = engine.poll_interval if left is None else min(left, engine.poll_interval)
        if runner.actor_stopped.wait(pause):
            return True
        if left is not None and left <= pause:
            return False
        if engine.store.shared:
            try:
                engine.store.heartbeat(engine.owner, engine.clock.now(), engine.lease_seconds)
            except StoreError as exc:  # the store is away: the lease may lapse, as in a poll
                logger.debug("shutdown: cannot renew the lease: %s", exc, extra=job_log(None))


def _held(engine: EngineConfig, busy: list[int]) -> str:
    """``"runner 0 (job j1 at 'pay')"``: each busy runner, and the job it holds if known."""
    jobs = dict(list(engine.channel.running.values()))  # a copy: runners change it
    return ", ".join(
        f"runner {index}"
        + (f" (job {jobs[index].id} at {jobs[index].step!r})" if index in jobs else "")
        for index in busy
    )
