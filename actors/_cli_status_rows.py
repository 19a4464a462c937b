"""What ``actors status`` read from a store, and the summary rows it shows of it.

Each summary row is a function of the facts read (``STATUS_ROWS``); the table and the
JSON object both show ``summary_rows(facts)``, so a row appended there needs no other change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from actors._admin_model import Workers
from actors._cli import _when_due
from actors._cli_workers import workers_summary
from actors._job import JobRecord, JobState
from actors.stores import Store
from actors.stores._unfinished_facts import UnfinishedFacts

__all__ = ["STATUS_ROWS", "StatusFacts", "SummaryRow", "summary_rows"]


@dataclasses.dataclass(frozen=True, slots=True)
class StatusFacts:
    """What ``status`` read from the store, once, for every summary row to use."""

    store: Store
    counts: dict[JobState, int]
    unfinished: UnfinishedFacts
    now: float
    """Now by the store's clock (the server's, on PostgreSQL), as due times are stored."""
    skew: float
    """What to add to ``unfinished.oldest``'s due times (this machine's clock) for the store's."""
    workers: Workers | None = None
    """The workers' leases (``None``: a store that keeps none)."""

    def due(self, job: JobRecord) -> float | None:
        """``job``'s due time as stored (by the store's clock)."""
        return None if job.due is None else job.due + self.skew


@dataclasses.dataclass(frozen=True, slots=True)
class SummaryRow:
    """One summary row: ``label`` and ``text`` for the table, ``key`` and ``value`` for JSON.

    ``value`` is what a script reads (a number, ``None``, or an object of such), never
    display text: the table's wording may change, the JSON keys stay.
    """

    key: str
    label: str
    value: Any
    text: str


# One function per summary row: it returns a SummaryRow, or None when the store cannot
# tell. A store that exposes more (pending timers, waiting events, expired leases) gets
# its row by appending a function here; the table and the JSON need no other change.
_Row = Callable[[StatusFacts], SummaryRow | None]


def _count(key: str, label: str, n: int) -> SummaryRow:
    return SummaryRow(key, label, n, str(n))


def _row_total(facts: StatusFacts) -> SummaryRow:
    return _count("jobs", "jobs in the store", sum(facts.counts.values()))


def _row_unfinished(facts: StatusFacts) -> SummaryRow:
    return _count("unfinished", "unfinished jobs", facts.unfinished.total)


def _row_oldest(facts: StatusFacts) -> SummaryRow:
    label = "oldest unfinished job"
    if not facts.unfinished.oldest:
        return SummaryRow("oldest_unfinished", label, None, "-")
    job = facts.unfinished.oldest[0]
    where = f"{job.workflow} v{job.version} at {job.step!r}, {job.state.value}"
    value = {
        "id": job.id,
        "workflow": job.workflow,
        "version": job.version,
        "step": job.step,
        "state": job.state.value,
    }
    return SummaryRow("oldest_unfinished", label, value, f"{job.id} ({where})")


def _row_due(facts: StatusFacts) -> SummaryRow:
    parked, soonest = facts.unfinished.due, facts.unfinished.next_due
    text = f"{parked}" + (f", next due {_when_due(soonest, facts.now)}" if parked else "")
    value = {"jobs": parked, "next_due": soonest}
    return SummaryRow("waiting_due", "waiting on a due time (wait, retry, timeout)", value, text)


def _row_branches(facts: StatusFacts) -> SummaryRow:
    n = facts.unfinished.waiting_branches
    return _count("waiting_branches", "waiting for their branches", n)


def _row_events(facts: StatusFacts) -> SummaryRow:
    n = facts.unfinished.waiting_events
    return _count("waiting_events", "waiting for an event, no timeout", n)


def _named(key: str, label: str, ids: list[str], why: str) -> SummaryRow:
    """A count of jobs with the first few of them named, saying ``why`` when there are some."""
    text = str(len(ids))
    if ids:
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        text += f" ({why}: {shown})"
    return SummaryRow(key, label, len(ids), text)


def _row_orphaned(facts: StatusFacts) -> SummaryRow:
    # Workers claim cases by their roots, so such a job is never run: it would wait for
    # ever, shown only as one more unfinished job.
    label = "unfinished, their case root or parent missing"
    return _named("orphaned", label, facts.unfinished.orphaned, "no worker will run them")


def _row_stranded(facts: StatusFacts) -> SummaryRow:
    # Ended with live branches, a job's row is saved waiting until its last branch ends
    # (``saved_open``), and claims look for unfinished roots: a final row over an
    # unfinished one is a case no worker takes up again. The engine stores none; a row
    # edited by hand leaves one, and ``actors jobs cancel ROOT`` cancels those jobs.
    label = "unfinished, their case root or parent ended"
    why = "their case ended without them"
    return _named("under_ended", label, facts.unfinished.stranded, why)


def _row_cancelling(facts: StatusFacts) -> SummaryRow:
    # Cancelled while a step runs: saved in their last state (ready, say) until it ends.
    n = facts.unfinished.cancelling
    return _count("cancel_requested", "cancel requested, their running step to end first", n)


def _row_workers(facts: StatusFacts) -> SummaryRow | None:
    # A worker whose lease expired holds its cases no more: they wait for another's claim.
    if facts.workers is None:
        return None
    value = {"total": facts.workers.total, "live": facts.workers.live}
    return SummaryRow(
        "workers", "workers (lease live, or expired)", value, workers_summary(facts.workers)
    )


def _row_shed(facts: StatusFacts) -> SummaryRow:
    return _count("shed", "shed (DROP_OLDEST evictions)", facts.counts.get(JobState.SHED, 0))


STATUS_ROWS: list[_Row] = [
    _row_total,
    _row_workers,
    _row_unfinished,
    _row_oldest,
    _row_due,
    _row_branches,
    _row_events,
    _row_cancelling,
    _row_shed,
    _row_orphaned,
    _row_stranded,
]


def summary_rows(facts: StatusFacts) -> list[SummaryRow]:
    """The summary rows of ``facts``, in ``STATUS_ROWS``' order, less those a store cannot tell."""
    return [got for got in (row(facts) for row in STATUS_ROWS) if got is not None]
