"""What a ``Mediator``'s calls share: asks of its Scheduler bounded in time, and refusals.

A call that asks the Scheduler waits at most ``ASK_TIMEOUT`` seconds (a hook may hold
its thread), and says so in a ``TimeoutError`` that does not read as a refusal: the
request is still queued. A call made in a forked child, on the Scheduler's own thread,
or after the Mediator shut down is refused before anything is done, naming why.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pykka

from actors._cases import shown_id
from actors._errors import EngineStoppedError, JobNotFoundError, StoreError
from actors._fork import refuse_in_fork
from actors._shutdown import refuse_on_scheduler

if TYPE_CHECKING:
    from actors._engine import EngineConfig
    from actors._job import Job

__all__ = [
    "ASK_TIMEOUT",
    "answer_in_time",
    "ask_scheduler",
    "need_job_id",
    "read_job",
    "refuse_admission",
    "scheduler_busy",
]

ASK_TIMEOUT = 30.0
"""Seconds a call waits for the Scheduler's answer; normal answers take microseconds."""


def ask_scheduler(
    engine: EngineConfig, scheduler: pykka.ActorRef[Any], message: Any, call: str
) -> Any:
    """The Scheduler's answer to ``message``, asked by ``call`` (``Mediator.stats()``...).

    ``EngineStoppedError`` when it is stopped, ``RuntimeError`` on its own thread,
    ``TimeoutError`` (``scheduler_busy``) when it does not answer within ``ASK_TIMEOUT``.
    """
    refuse_in_fork(engine.pid, call)
    if not scheduler.is_alive():
        msg = "the mediator is shut down"
        raise EngineStoppedError(msg)
    refuse_on_scheduler(engine, "a Mediator call that asks the Scheduler")
    began = time.monotonic()
    try:
        answer = scheduler.ask(message, timeout=ASK_TIMEOUT)
    except pykka.ActorDeadError:  # a shutdown stopped it after the check above
        msg = "the mediator is shut down"
        raise EngineStoppedError(msg) from None
    except pykka.Timeout:  # pykka's own says only "30.0 seconds"
        raise scheduler_busy(call, ASK_TIMEOUT) from None
    return answer_in_time(answer, call, began, ASK_TIMEOUT)


def refuse_admission(engine: EngineConfig, closed: bool, call: str) -> None:
    """``EngineStoppedError`` for ``call`` in a forked child or once the Mediator is ``closed``."""
    refuse_in_fork(engine.pid, call)
    if closed:
        msg = "the mediator is shut down; it admits no new jobs"
        raise EngineStoppedError(msg)


def need_job_id(job_id: Any, call: str) -> None:
    """Refuse a ``job_id`` that is no str, naming ``call``.

    ``None`` (a web request that left the id out) was looked up as it came, and answered
    as a job not found: the caller's mistake read as the store's answer.
    """
    if not isinstance(job_id, str):
        msg = f"{call} takes a str, got {type(job_id).__name__} {job_id!r:.80}"
        raise TypeError(msg)


def read_job(engine: EngineConfig, job_id: str, closed: bool) -> Job:
    """Job ``job_id`` as ``engine``'s store last saved it (``Mediator.get_job``).

    ``JobNotFoundError`` when the store has no such job; ``EngineStoppedError`` when
    the Mediator is ``closed`` and its store refuses the read (a durable one is closed).
    """
    refuse_in_fork(engine.pid, "Mediator.get_job()")
    store = engine.store
    try:
        job = store.get(job_id)
    except StoreError:
        if not closed:
            raise
        msg = (
            f"the mediator is shut down and its store {store.url} is closed: read job "
            f"{shown_id(job_id)} with `actors jobs show` or another Mediator on the store"
        )
        raise EngineStoppedError(msg) from None
    if job is None:
        msg = f"no job {shown_id(job_id)} in {engine.store.url}"
        raise JobNotFoundError(msg)
    return job


def scheduler_busy(call: str, seconds: float) -> TimeoutError:
    """The error for ``call`` when the Scheduler did not answer within ``seconds``.

    The request stays in the Scheduler's inbox: the caller must not take the error for
    a refusal, since an event or a cancel so timed out is carried out later.
    """
    msg = (
        f"{call}: the Scheduler did not answer within {seconds:g}s (its thread is busy: "
        "a slow on_shed or metrics hook, or a store that does not answer); the request "
        "is still queued and may yet be carried out"
    )
    return TimeoutError(msg)


def answer_in_time(answer: Any, call: str, began: float, seconds: float) -> Any:
    """The Scheduler's ``answer`` to ``call``, asked at ``began`` with ``seconds`` in all.

    A future of it is waited for within what is left: a cancel of a job whose runner
    may end it as it stands is answered with the runner's report. ``TimeoutError`` when
    that runner is held in its save by a store that does not answer.
    """
    if not isinstance(answer, pykka.Future):
        return answer
    left = max(0.0, began + seconds - time.monotonic())
    try:
        return answer.get(timeout=left)
    except pykka.Timeout:
        msg = (
            f"{call}: the job's runner did not report on it within {seconds:g}s (its "
            "last save has not returned: a store that does not answer); the cancel is "
            "taken and may yet be carried out"
        )
        raise TimeoutError(msg) from None
