"""Cases of workflows a worker does not serve: left untouched, reported once.

A worker claims only cases of the ``(name, version)`` pairs it registers, so a case of
any other workflow waits in the store, untouched, for a worker that serves it. This
worker says so in its log once per workflow version, so an operator who started a
worker with the wrong ``--workflows`` finds out. An event given to its ``Mediator`` for
such a case is saved with the case, for the worker that serves it.
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING, Any

from actors._due_text import server_now
from actors._engine import job_log
from actors._outcomes import EventOutcome
from actors._redact import redacted_logger
from actors.stores._admin_types import OPERATOR_STAMP, Held

if TYPE_CHECKING:
    from collections.abc import Collection

    from actors._engine import EngineConfig
    from actors._job import JobRecord
    from actors.stores import Store

__all__ = ["UnservedLog", "deliver_unserved", "describe_served"]

logger = redacted_logger("actors")

_EVERY = 60.0  # seconds between two looks at the store for unserved cases


def describe_served(served: Collection[tuple[str, int]]) -> str:
    """``order v1, refund v2`` (or ``none``)."""
    return ", ".join(f"{name} v{version}" for name, version in sorted(served)) or "none"


class UnservedLog:
    """Logs, once per workflow version, that cases wait for a worker serving it."""

    def __init__(self, served: Collection[tuple[str, int]]) -> None:
        self._served = frozenset(served)
        self._told: set[tuple[str, int]] = set()
        self._next = float("-inf")

    def check(self, store: Store, now: float) -> None:
        """Look at the store (at most once a minute) and log what is new."""
        if now < self._next:
            return
        self._next = now + _EVERY
        self._tell(store.unclaimed(now))

    def left(self, jobs: Collection[JobRecord]) -> None:
        """Log the cases of ``jobs`` (found unserved in this worker's own store)."""
        cases: dict[tuple[str, int], set[str]] = {}
        for job in jobs:
            cases.setdefault((job.workflow, job.version), set()).add(job.case_id)
        self._tell({key: len(ids) for key, ids in cases.items()})

    def _tell(self, waiting: dict[tuple[str, int], int]) -> None:
        for (name, version), count in sorted(waiting.items()):
            key = (name, version)
            if key in self._served or key in self._told:
                continue
            self._told.add(key)
            logger.warning(
                "%d case(s) of workflow %r version %d wait for a worker that serves it; "
                "this worker serves %s and leaves them untouched",
                count,
                name,
                version,
                describe_served(self._served),
                extra={"job_id": None, "step": None, "attempt": None},
            )


def deliver_unserved(
    engine: EngineConfig, outcome: EventOutcome, correlation_id: str, payload: Any, fault: bool
) -> EventOutcome:
    """What became of an event the Scheduler could not deliver (``outcome``), finally.

    A job of a workflow version ``engine`` does not serve waits in the store for a worker
    serving it (after a deploy that dropped the version from this process, say): no
    runner here may take the event, so it is saved with the job as ``Admin.send_event``
    saves it, and the worker that serves the version runs it. ``outcome`` stands when
    the job is of a version served here, or a live worker holds its case (the event
    belongs there: ``ELSEWHERE``).
    """
    from actors._admin_changes import event_change  # builds on the engine: no cycle

    if outcome not in (EventOutcome.ELSEWHERE, EventOutcome.UNKNOWN):
        return outcome
    store = engine.store
    job = store.get(correlation_id.partition("/")[0])
    if job is None or (job.workflow, job.version) in engine.workflows:
        return outcome
    operator = f"mediator {engine.owner}"
    change = event_change(
        correlation_id, payload, operator, fault=fault, now=partial(server_now, store)
    )
    changed = store.change_case(
        job.case_id, change, now=time.time(), stamp=f"{OPERATOR_STAMP}{operator}"
    )
    where = f"job {job.id} is of workflow {job.workflow!r} version {job.version}, not served here"
    if isinstance(changed, Held):
        told = f"not delivered: elsewhere ({where}; worker {changed.owner!r} holds its case)"
    elif changed == EventOutcome.DELIVERED.value:
        told = f"saved with its job in the store ({where}: a worker serving it runs it)"
    else:
        told = f"not delivered: {changed} ({where})"
    logger.info("event for %r %s", correlation_id, told, extra=job_log(None))
    return EventOutcome.ELSEWHERE if isinstance(changed, Held) else EventOutcome(changed)
