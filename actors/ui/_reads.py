"""What the dashboard reads from a SQL store itself: aggregates and one case's rows.

Every query is read-only and parameterised. What the admin API reads already (a case's
tree, a job's history) the dashboard takes from there. Job data and events are shown as the JSON
text the store holds, never decoded through the codec: the dashboard needs none of the
user's classes, and a row the codec cannot read is still shown as it is stored.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from actors._errors import StoreError
from actors._job import FINAL_STATES, JobState
from actors.stores._sql import SqlStore
from actors.stores._statements import FREE_LEASE, LEASE_EXPIRY

__all__ = [
    "CaseRow",
    "JobRow",
    "Reader",
    "Throughput",
    "WorkflowCounts",
]

_FINAL = tuple(sorted(s.value for s in FINAL_STATES))
_OPEN = tuple(s.value for s in JobState if s not in FINAL_STATES)
_OPEN_MARKS = ", ".join("?" for _ in _OPEN)
_STATE_ORDER = [s.value for s in JobState]


@dataclass(frozen=True, slots=True)
class WorkflowCounts:
    """How many cases of one workflow version are in each state."""

    workflow: str
    version: int
    states: dict[str, int]

    @property
    def total(self) -> int:
        """Cases of this version, all states."""
        return sum(self.states.values())


@dataclass(frozen=True, slots=True)
class Throughput:
    """Cases that ended per minute over the last minutes, oldest minute first."""

    minutes: int
    done: list[int]
    other: list[int]  # faulted, cancelled or shed

    @property
    def peak(self) -> int:
        """The busiest minute's count (at least 1, to scale bars by)."""
        return max([1, *(d + o for d, o in zip(self.done, self.other, strict=True))])

    @property
    def total(self) -> int:
        """Cases that ended in the window."""
        return sum(self.done) + sum(self.other)


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One case (its root job) as a list shows it."""

    id: str
    workflow: str
    version: int
    step: str | None
    state: str
    error: str | None
    created_at: float
    updated_at: float
    finished_at: float | None
    lease_owner: str | None
    lease_expires: float | None


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job of a case; its data as formatted JSON text, when it was read (``None`` if not)."""

    id: str
    case_id: str
    workflow: str
    version: int
    step: str | None
    state: str
    parent_id: str | None
    branch_index: int | None
    attempt: int
    error: str | None
    due: float | None
    split_total: int
    split_live: int
    join_step: str | None
    lease_owner: str | None
    lease_expires: float | None
    created_at: float
    updated_at: float
    finished_at: float | None
    data: str | None
    gen: int = 0  # which pass through a split this job is at (loops split again)
    parent_gen: int = 0  # a branch: the pass of its parent's split that started it
    # A cancel its worker carries out once the running step ends (its error says so).
    cancel_requested: bool = False

    @property
    def is_final(self) -> bool:
        """Whether the job can change no more."""
        return self.state in _FINAL


# A root's lease_expires as when its lease ends (see LEASE_EXPIRY).
_CASE_COLUMNS = (
    "id, workflow, version, step, state, error, created_at, updated_at, finished_at, "
    f"lease_owner, {LEASE_EXPIRY}"
)
_JOB_COLUMNS = (
    "id, case_id, workflow, version, step, state, parent_id, branch_index, attempt, error, "
    f"due, split_total, split_live, join_step, lease_owner, {LEASE_EXPIRY}, created_at, "
    "updated_at, finished_at, gen, parent_gen, cancel_requested"
)


class Reader:
    """Read-only queries over a SQL store's ``jobs`` and ``step_history`` tables.

    Args:
        store: a SQLite or PostgreSQL store (``memory://`` lives inside one process, so
            there is nothing another process could show).
    """

    def __init__(self, store: object) -> None:
        if not isinstance(store, SqlStore):
            url = getattr(store, "url", type(store).__name__)
            msg = (
                f"the dashboard reads a SQLite or PostgreSQL store, got {url!r}; memory:// "
                "lives inside one process, so point it at the store your workers use"
            )
            raise StoreError(msg)
        self.store = store
        self._postgres = type(store).__name__ == "PostgresStore"
        # The lists filter cases by state, and few cases are unfinished or faulted: the
        # state index finds them. SQLite, without statistics, would rather walk every
        # root through the parent index; PostgreSQL's planner chooses well by itself.
        self._by_state = "jobs" if self._postgres else "jobs INDEXED BY jobs_claim"

    def _rows(self, sql: str, params: tuple[Any, ...], what: str) -> list[Any]:
        return self.store._read(sql, params, what)

    def check(self) -> None:
        """Read one row of ``jobs`` (``StoreError`` while the store cannot be read)."""
        self._rows("SELECT 1 FROM jobs LIMIT 1", (), "check that the store answers")

    # -- overview ---------------------------------------------------------------------------

    def case_counts(self) -> list[WorkflowCounts]:
        """Cases (root jobs) by workflow version and state, workflows by name."""
        rows = self._rows(
            "SELECT workflow, version, state, COUNT(*) FROM jobs WHERE parent_id IS NULL "
            "GROUP BY workflow, version, state",
            (),
            "count cases by workflow and state",
        )
        grouped: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)
        for workflow, version, state, n in rows:
            grouped[(str(workflow), _int(version))][str(state)] = int(n)
        return [
            WorkflowCounts(wf, version, states) for (wf, version), states in sorted(grouped.items())
        ]

    def throughput(self, minutes: int = 15, now: float | None = None) -> Throughput:
        """Cases that ended in each of the last ``minutes`` minutes (wall clock)."""
        now = time.time() if now is None else now
        start = now - 60 * minutes
        # Minutes since the window's start; CAST truncates in SQLite and rounds in
        # PostgreSQL, hence FLOOR there.
        bucket = (
            "CAST(FLOOR((finished_at - ?) / 60) AS INTEGER)"
            if self._postgres
            else "CAST((finished_at - ?) / 60 AS INTEGER)"
        )
        rows = self._rows(
            f"SELECT {bucket} AS minute, state, COUNT(*) FROM jobs "
            "WHERE parent_id IS NULL AND finished_at >= ? AND finished_at <= ? "
            "GROUP BY minute, state",
            (start, start, now),
            "count the cases that ended lately",
        )
        done = [0] * minutes
        other = [0] * minutes
        for minute, state, n in rows:
            index = min(int(minute), minutes - 1)
            if state == JobState.DONE.value:
                done[index] += int(n)
            else:
                other[index] += int(n)
        return Throughput(minutes, done, other)

    def _cases(
        self, where: str, params: tuple[Any, ...], order: str, limit: int, offset: int = 0
    ) -> list[CaseRow]:
        rows = self._rows(
            f"SELECT {_CASE_COLUMNS} FROM {self._by_state} WHERE parent_id IS NULL AND {where} "
            f"ORDER BY {order} LIMIT ? OFFSET ?",
            (*params, limit, offset),
            "list cases",
        )
        return [_case(row) for row in rows]

    def faulted(
        self, limit: int = 20, offset: int = 0, workflow: str | None = None
    ) -> list[CaseRow]:
        """FAULTED cases, the most recently ended first, from the ``offset``-th on.

        With ``workflow``, that workflow's only.
        """
        # The id breaks ties, so that the pages of the list neither repeat nor skip a case
        # when many ended in the same second.
        return self._cases(
            *faulted_where(workflow),
            "finished_at DESC, updated_at DESC, id",
            limit,
            offset,
        )

    def count(self, where: str, params: tuple[Any, ...]) -> int:
        """How many cases match ``where``, a fixed condition on ``state`` (``?`` parameters).

        The condition is on the state so that the state index finds the rows.
        """
        rows = self._rows(
            f"SELECT COUNT(*) FROM {self._by_state} WHERE parent_id IS NULL AND {where}",
            params,
            "count cases",
        )
        return int(rows[0][0])

    def unheld_where(self, now: float) -> tuple[str, tuple[Any, ...]]:
        """Unfinished cases that no live worker holds: never taken, released, or expired."""
        # The unfinished states listed (not "NOT IN" the final ones), so the state index
        # finds the few unfinished rows instead of a scan of every case that ever ran.
        now = self.store.lease_time(now)  # leases go by the database server's clock
        return (f"state IN ({_OPEN_MARKS}) AND {FREE_LEASE}", (*_OPEN, now, now))

    def unheld_counts(self, now: float) -> dict[tuple[str, int], int]:
        """How many cases wait for a worker, by workflow version (as ``Store.unclaimed``)."""
        where, params = self.unheld_where(now)
        rows = self._rows(
            f"SELECT workflow, version, COUNT(*) FROM {self._by_state} "
            f"WHERE parent_id IS NULL AND {where} GROUP BY workflow, version",
            params,
            "count the cases no worker holds",
        )
        return {
            (str(name), _int(version)): int(n) for name, version, n in sorted(rows, key=_by_name)
        }

    def unheld(self, limit: int = 20, now: float | None = None) -> list[CaseRow]:
        """Cases waiting for a worker to take them, the longest waiting first."""
        where, params = self.unheld_where(time.time() if now is None else now)
        return self._cases(where, params, "created_at", limit)

    # -- one case ---------------------------------------------------------------------------

    def case_of(self, job_id: str) -> str | None:
        """The id of the case the job ``job_id`` belongs to (``None``: no such job)."""
        job = self.store.stored_job(job_id) if _storable(job_id) else None
        return None if job is None else job.record.case_id

    # -- one workflow -----------------------------------------------------------------------

    def steps(self, workflow: str) -> dict[int, dict[str, dict[str, int]]]:
        """Unfinished jobs of ``workflow`` by version, step and state."""
        if not _storable(workflow):
            return {}
        rows = self._rows(
            "SELECT version, step, state, COUNT(*) FROM jobs "
            f"WHERE state IN ({_OPEN_MARKS}) AND workflow = ? GROUP BY version, step, state",
            (*_OPEN, workflow),
            f"count the jobs of workflow {workflow} by step",
        )
        out: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
        for version, step, state, n in rows:
            out[_int(version)][str(step)][str(state)] = int(n)
        return {v: dict(steps) for v, steps in out.items()}


def _storable(text: str) -> bool:
    """Whether a store can hold ``text`` (PostgreSQL's text holds no NUL character).

    PostgreSQL refuses a query whose text parameter holds a NUL: an id with one names
    nothing, and must be answered as such rather than fail the query.
    """
    return "\x00" not in text


def _by_name(row: Any) -> tuple[str, int]:
    return (str(row[0]), _int(row[1]))


def _int(value: Any) -> int:
    """A count or number column as an int; 0 for what a damaged row holds instead."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return 0


def _time(value: Any) -> float | None:
    """A time column as a float; ``None`` for NULL or what a damaged row holds instead."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _case(row: Any) -> CaseRow:
    return CaseRow(
        id=str(row[0]),
        workflow=str(row[1]),
        version=_int(row[2]),
        step=row[3],
        state=str(row[4]),
        error=row[5],
        created_at=_time(row[6]) or 0.0,
        updated_at=_time(row[7]) or 0.0,
        finished_at=_time(row[8]),
        lease_owner=row[9],
        lease_expires=_time(row[10]),
    )


def _job(row: Any) -> JobRow:
    return JobRow(
        id=str(row[0]),
        case_id=str(row[1]),
        workflow=str(row[2]),
        version=_int(row[3]),
        step=row[4],
        state=str(row[5]),
        parent_id=row[6],
        branch_index=None if row[7] is None else _int(row[7]),
        attempt=_int(row[8]),
        error=row[9],
        due=_time(row[10]),
        split_total=_int(row[11]),
        split_live=_int(row[12]),
        join_step=row[13],
        lease_owner=row[14],
        lease_expires=_time(row[15]),
        created_at=_time(row[16]) or 0.0,
        updated_at=_time(row[17]) or 0.0,
        finished_at=_time(row[18]),
        data=None,
        gen=_int(row[19]),
        parent_gen=_int(row[20]),
        cancel_requested=_int(row[21]) != 0,
    )


def state_order(state: str) -> int:
    """Position of a state's value in ``JobState`` (unknown values last), for sorting."""
    return _STATE_ORDER.index(state) if state in _STATE_ORDER else len(_STATE_ORDER)


def faulted_where(workflow: str | None = None) -> tuple[str, tuple[Any, ...]]:
    """The condition on a case that it faulted (and is of ``workflow``, if given)."""
    if workflow is None:
        return "state = ?", (JobState.FAULTED.value,)
    return "state = ? AND workflow = ?", (JobState.FAULTED.value, workflow)
