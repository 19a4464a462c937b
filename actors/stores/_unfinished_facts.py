"""What ``actors status`` tells of a store's unfinished jobs, and how each store finds it.

``of_records`` works it out from every unfinished job (the memory store, or any store
without a query of its own); ``of_sql`` asks a SQL store for counts and a page, so its
memory does not grow with the unfinished jobs and no job's data is read but the page's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

from actors._job import ENDED_OPEN, FINAL_STATES, JobRecord, JobState, is_saved_open
from actors.stores._statements import FINAL_VALUES, SELECT_LIST, WAITING_VALUE

if TYPE_CHECKING:
    from actors.stores._sql import SqlStore

__all__ = ["UnfinishedFacts", "of_records", "of_sql"]


@dataclasses.dataclass(frozen=True, slots=True)
class UnfinishedFacts:
    """The store's unfinished jobs, summed up.

    ``oldest`` holds the oldest unfinished jobs (as many as asked for, and at least the
    oldest one), oldest first; ``orphaned`` the ids of the unfinished jobs whose case
    root or parent row is gone (or whose root row names a parent), oldest first;
    ``stranded`` the ids of the unfinished jobs whose case root or parent row is saved
    final, oldest first (a claim looks for unfinished roots: no worker takes such a case
    up again, and the engine never stores one, see ``saved_open``); ``cancelling``
    counts the jobs cancelled while a step of theirs runs (saved in their last state
    until it ends).
    """

    total: int
    oldest: list[JobRecord]
    due: int
    next_due: float | None
    waiting_branches: int
    waiting_events: int
    orphaned: list[str]
    cancelling: int = 0
    stranded: list[str] = dataclasses.field(default_factory=list)


def of_records(
    unfinished: Sequence[JobRecord], existing: Callable[[list[str]], set[str]], limit: int
) -> UnfinishedFacts:
    """The facts of ``unfinished`` (every unfinished job, oldest first)."""
    waiting = [j for j in unfinished if j.state is JobState.WAITING]
    parked = [j.due for j in waiting if j.due is not None]
    # A job that ended while branches of it still run is saved waiting for them too.
    branches = [j for j in waiting if j.split_total > 0 or is_saved_open(j)]
    events = [j for j in waiting if j.due is None and j.split_total == 0 and not is_saved_open(j)]
    # Workers claim cases by their roots: a job whose root or parent row is gone (deleted
    # by hand, say) is never run, and would wait for ever, shown as one more unfinished.
    ids = {job.id for job in unfinished}
    refs = {job.case_id for job in unfinished}
    refs.update(job.parent_id for job in unfinished if job.parent_id is not None)
    elsewhere = sorted(refs - ids)  # finished ones, or gone
    ended = existing(elsewhere) if elsewhere else set()  # not unfinished: saved final
    gone = set(elsewhere) - ended
    # A root row edited into a branch (its parent itself, or a job of its case) is no
    # root a claim finds: its case waits for ever too.
    gone.update(job.id for job in unfinished if job.id == job.case_id and job.parent_id)
    orphaned = [j.id for j in unfinished if j.case_id in gone or j.parent_id in gone]
    lost = set(orphaned)
    return UnfinishedFacts(
        total=len(unfinished),
        oldest=list(unfinished[: max(limit, 1)]),
        due=len(parked),
        next_due=min(parked, default=None),
        waiting_branches=len(branches),
        waiting_events=len(events),
        orphaned=orphaned,
        cancelling=sum(1 for j in unfinished if j.cancel_requested),
        stranded=[
            j.id
            for j in unfinished
            if j.id not in lost and (j.case_id in ended or j.parent_id in ended)
        ],
    )


def of_sql(store: SqlStore, limit: int) -> UnfinishedFacts:
    """The facts of a SQL store's unfinished jobs: counts, and a page of the oldest.

    Each query searches the state index (``jobs_claim``) and reads the rows of the
    waiting jobs or of the unfinished ones, never a finished job's; only the page's rows
    are read whole.
    """
    # The ranges around the final states (a row whose state is no state is unfinished,
    # as it reads FAULTED), so that SQLite searches the state index for each.
    finals = FINAL_VALUES
    pairs = list(pairwise(finals))
    open_state = " OR ".join(
        ["state < ?", *("(state > ? AND state < ?)" for _ in pairs), "state > ?"]
    )
    around = [finals[0], *(v for pair in pairs for v in pair), finals[-1]]
    sqlite = store._hint_indexes
    hint = " INDEXED BY jobs_claim" if sqlite else ""
    # saved_open's rows (ended, branches still live), by the exact text the codec writes.
    open_texts = [store.codec.encode([ENDED_OPEN, s.value, None]) for s in FINAL_STATES]
    ended_open = f"event IN ({', '.join('?' for _ in open_texts)})"
    [(total,)] = store._read(
        f"SELECT COUNT(*) FROM jobs{hint} WHERE {open_state}", around, "count unfinished jobs"
    )
    # The mark a worker stores when told to cancel a job whose step runs (no save is
    # added to show it): read from the unfinished rows alone.
    [(cancelling,)] = store._read(
        f"SELECT COUNT(*) FROM jobs{hint} WHERE ({open_state}) AND cancel_requested = ?",
        [*around, True],
        "count the cancels waiting on a running step",
    )
    [(due, next_due, branches, events)] = store._read(
        "SELECT SUM(CASE WHEN due IS NOT NULL THEN 1 ELSE 0 END), MIN(due), "
        f"SUM(CASE WHEN split_total > 0 OR {ended_open} THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN due IS NULL AND split_total = 0 "
        f"AND (event IS NULL OR NOT {ended_open}) THEN 1 ELSE 0 END) "
        f"FROM jobs{hint} WHERE state = ?",
        [*open_texts, *open_texts, WAITING_VALUE],
        "sum up waiting jobs",
    )
    # SQLite finds the page's rowids in the state index alone, then reads those rows.
    key = "rowid" if sqlite else "id"
    rows = store._read(
        f"SELECT {SELECT_LIST} FROM jobs WHERE {key} IN (SELECT {key} FROM jobs{hint} "
        f"WHERE {open_state} ORDER BY {store._order} LIMIT ?) ORDER BY {store._order}",
        [*around, max(limit, 1)],
        "list the oldest unfinished jobs",
    )
    orphans = store._read(
        f"SELECT id FROM jobs j{hint} WHERE ({open_state}) "
        "AND (NOT EXISTS (SELECT 1 FROM jobs r WHERE r.id = j.case_id AND r.parent_id IS NULL) "
        "OR (parent_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM jobs p WHERE p.id = j.parent_id))) "
        f"ORDER BY j.{store._order}",
        around,
        "find unfinished jobs without their case root or parent",
    )
    # Those under a root or parent saved final (an orphan counted above is not counted here).
    finals_in = ", ".join("?" for _ in finals)
    ended = (
        f"SELECT 1 FROM jobs r WHERE r.id = j.case_id AND r.id <> j.id AND r.state IN ({finals_in})"
    )
    ended_parent = f"SELECT 1 FROM jobs p WHERE p.id = j.parent_id AND p.state IN ({finals_in})"
    lost = {row[0] for row in orphans}
    under_final = store._read(
        f"SELECT id FROM jobs j{hint} WHERE ({open_state}) "
        f"AND (EXISTS ({ended}) OR (parent_id IS NOT NULL AND EXISTS ({ended_parent}))) "
        f"ORDER BY j.{store._order}",
        [*around, *finals, *finals],
        "find unfinished jobs under a case root or parent that ended",
    )
    return UnfinishedFacts(
        total=int(total),
        oldest=store._records(rows, save_faults=False),
        due=int(due or 0),
        next_due=_soonest(next_due),
        waiting_branches=int(branches or 0),
        waiting_events=int(events or 0),
        orphaned=[row[0] for row in orphans],
        cancelling=int(cancelling),
        stranded=[row[0] for row in under_final if row[0] not in lost],
    )


def _soonest(value: object) -> float | None:
    """The earliest due time; ``None`` when only a due time edited by hand is left.

    SQLite orders every number before any text or bytes, and PostgreSQL every number
    before NaN, so MIN(due) is no finite number only when no waiting job has one; the
    rows holding such a value read as FAULTED, naming it.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    return None
