"""What a store gives the operator's API (``actors.admin``): rows with their times and leases.

These are the store-side shapes; ``actors.admin`` builds its public views from them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from actors._admin_model import ActionRefusedError
from actors._errors import StoreError
from actors._job import JobRecord, JobState
from actors._stamps import OPERATOR_STAMP

__all__ = [
    "EXPIRED",
    "OPERATOR_STAMP",
    "TAKEOVER",
    "UNREADABLE",
    "UNREADABLE_ROW",
    "CaseChange",
    "Held",
    "HistoryRow",
    "JobQuery",
    "ListingPosition",
    "RawText",
    "Request",
    "RowsLockedError",
    "StoredJob",
    "UnreadPayload",
    "WorkerLease",
    "WorkerLeases",
    "listing_order",
    "refuse_unread",
    "taken_over",
    "unreadable_problem",
    "was_worker",
]

TAKEOVER = "taken over from "
EXPIRED = "expired"
"""A request's outcome when no worker took it before its sender stopped waiting for it."""
# The ``action`` of the history entry a reader makes for packed entries it cannot read
# (a ``step_history.more`` edited by hand): not a save, and no operator's action.
UNREADABLE = "unreadable history"
"""How a takeover's history row begins (``taken_over``): not an operator's action."""
UNREADABLE_ROW = "stored job row is unreadable: "
"""How the error of a row that cannot be read begins (its stand-in reads FAULTED)."""


def unreadable_problem(state: JobState, error: str | None) -> str | None:
    """What of a job's row cannot be read, when its record is the FAULTED stand-in."""
    if state is JobState.FAULTED and error is not None and error.startswith(UNREADABLE_ROW):
        return error.removeprefix(UNREADABLE_ROW)
    return None


def was_worker(previous: str | None, owner: str) -> bool:
    """Whether a case stamped ``previous`` is taken over from another worker by ``owner``.

    Not when nobody held it, ``owner`` did, or an operator changed it last.
    """
    return previous is not None and previous != owner and not previous.startswith(OPERATOR_STAMP)


class RawText(bytes):
    """A text column's value as its bytes, which are not UTF-8 (SQLite keeps any)."""

    __slots__ = ()


ListingPosition = tuple[float | str | bytes, str]
"""A place in a listing: a job's creation time as its row holds it, and its id."""


def listing_order(created: float | str | bytes) -> tuple[int, Any]:
    """A creation time's place in listings, as SQL orders what a row may hold.

    Numbers (infinities included), then NaN (PostgreSQL), then text by its UTF-8 bytes
    (as by code point), then bytes (SQLite); the memory store compares a cursor's time
    with its jobs' so.
    """
    if isinstance(created, RawText):
        return (2, bytes(created))
    if isinstance(created, str):
        return (2, created.encode("utf-8", "surrogatepass"))
    if isinstance(created, bytes):
        return (3, created)
    return (1, 0.0) if math.isnan(created) else (0, created)


@dataclass(frozen=True, slots=True)
class StoredJob:
    """A job's record as last saved, with what the row holds besides it."""

    record: JobRecord
    created_at: float | None
    updated_at: float | None
    finished_at: float | None
    lease_owner: str | None
    """The worker stamped on the row: the case's holder, or its last holder."""
    lease_expires: float | None
    """On a case's root: when its holder's lease runs out (``None``: nobody holds it)."""
    tries: int = 0
    """Runs of the job from its last save by workers that took it over from a worker that
    stopped, counted before each ran (the first beside other jobs, the rest alone; the
    fifth faults it); 0 when none."""
    unread: tuple[str, ...] = ()
    """What of the row could not be read (its record is then a FAULTED stand-in, which no
    action may save over the row); empty, normally."""
    listed_at: float | str | bytes | None = None
    """The creation time as the row holds it, when that is no number (edited by hand:
    SQLite's text, bytes or an infinity; PostgreSQL's NaN or an infinity), which
    listings order it by and their cursors name; ``None``: at ``created_at``."""


@dataclass(frozen=True, slots=True)
class JobQuery:
    """Which jobs to list. Every filter given must match; ``None`` or empty matches all."""

    states: tuple[JobState, ...] = ()
    workflow: str | None = None
    version: int | None = None
    step: str | None = None
    created_after: float | None = None
    """Wall-clock seconds: jobs created at or after this time."""
    created_before: float | None = None
    error: str | None = None
    """Text the job's error contains (case-insensitive)."""
    roots: bool = False
    """Cases only: jobs that are no branch of another."""
    case_id: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One row of a job's history: a save by the engine, or an operator's action."""

    job_id: str
    seq: int
    step: str | None
    """The step the job was to run next (or ended at) after this save."""
    attempt: int
    state: str
    at: float
    worker: str | None
    """The worker that saved it, or the operator who acted."""
    error: str | None
    action: str | None
    """What an operator did (``None`` for the engine's own saves)."""
    started: float | None = None
    """For a runner's save: when the step it ends began (``None`` for other saves)."""


class Held(NamedTuple):
    """A case a live worker holds: an action on it goes to that worker."""

    owner: str
    expires: float


class WorkerLease(NamedTuple):
    """A worker's row in ``workers``: when its lease ends, and how many cases it holds."""

    owner: str
    expires: float | None
    """By the store's clock; ``None``: a value no worker writes (edited in), no lease."""
    cases: int
    """Unfinished cases stamped with it and marked held: its own while its lease runs."""


class WorkerLeases(NamedTuple):
    """Some of the workers a store knows (``listed``), how many it knows, how many live."""

    listed: list[WorkerLease]
    total: int
    live: int


class RowsLockedError(StoreError):
    """A case's rows stayed locked by another transaction past a change's ``lock_wait``.

    (SQLite: the database's write lock.) A worker in the middle of a write holds them,
    or one frozen in it (stopped by SIGSTOP, or by a debugger). Nothing was changed.
    """

    blames_job = False


@dataclass(slots=True)
class Request:
    """An operator's action on a case, handed to the worker that holds it."""

    id: int
    case_id: str
    job_id: str
    kind: str
    """``"cancel"`` or ``"event"``."""
    payload: Any
    """For an event: ``[correlation_id, data, fault]``; ``UnreadPayload`` if not JSON."""
    operator: str
    posted_at: float
    taken_by: str | None = None
    taken_at: float | None = None
    done_at: float | None = None
    outcome: str | None = None
    """``"withdrawn"`` by its sender, ``EXPIRED``, or what its worker did."""
    void_after: float | None = None
    """When its sender stopped waiting, by the store's clock (``Store.lease_time``): no
    worker takes it after that. ``None``: never void."""


@dataclass(frozen=True, slots=True)
class UnreadPayload:
    """A request's stored payload that is not JSON (a row another program wrote).

    Kept as its text, so that the worker's answer names what the row holds.
    """

    text: str


# A change an operator makes to a case no live worker holds: given every job of the case
# as last saved (rows locked), it returns the records to save, history rows to append, and
# a result for the caller. It raises to change nothing.
CaseChange = Callable[[list[StoredJob]], tuple[list[JobRecord], list[HistoryRow], Any]]


def taken_over(
    root: tuple[str, str | None, int, str], owner: str, previous: str, *, expired: bool, at: float
) -> HistoryRow:
    """The history row of a case that ``owner`` claimed from ``previous``.

    ``root``: the case root's id, step, attempt and state (its value) as stored. A
    takeover is why steps run again (those whose saves ``previous`` had not stored);
    recorded on the case's root, it shows in ``actors jobs show --history``.
    """
    why = "its lease expired" if expired else "it released the case"
    job_id, step, attempt, state = root
    return HistoryRow(
        job_id=job_id,
        seq=0,  # numbered by the store as it appends the row
        step=step,
        attempt=attempt,
        state=state,
        at=at,
        worker=owner,
        error=None,
        action=f"{TAKEOVER}{previous} ({why})",
    )


def refuse_unread(job: StoredJob) -> None:
    """``ActionRefusedError`` for an action on a row that could not be read.

    Its record is a stand-in, FAULTED with no data: saved, it replaced the row (a retry
    ran a DONE job again, its data ``null``, when that data held a dataclass the
    operator's process had not registered).
    """
    if not job.unread:
        return
    why = "; ".join(job.unread)
    msg = (
        f"job {job.record.id} of the case cannot be read here ({why}), "
        "and the action would overwrite what it holds: nothing was changed. "
    )
    if "not registered" in why:
        msg += (
            "A dataclass in its data must be registered in this process: import the module "
            "that defines it (actors jobs ... --workflows MODULE), or repair the row"
        )
    else:  # damaged: no module reads it
        msg += "Repair the row in the database (or delete its case), then act again"
    raise ActionRefusedError(msg)
