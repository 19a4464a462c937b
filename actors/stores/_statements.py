"""The ``jobs`` table's columns and the statements both SQL backends share.

Statements are written with ``?`` placeholders; the PostgreSQL store rewrites them to
``%s``. Every value reaches SQL as a parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from actors._job import FINAL_STATES, JobRecord, JobState

__all__ = [
    "CANCELLED_VALUE",
    "COLUMNS",
    "DATA_AT",
    "FAULTED_VALUE",
    "FENCE",
    "FINAL_LITERALS",
    "FINAL_VALUES",
    "FREE_LEASE",
    "FREE_ROOT",
    "GROUP_READ",
    "HELD",
    "HISTORY",
    "JOIN_COLUMNS_AT",
    "JOIN_STEP_AT",
    "LAPSED",
    "LEASE_EXPIRY",
    "LIVE_WORKERS",
    "OPEN_VALUES",
    "READY_VALUE",
    "RUNNING_VALUE",
    "SELECT_LIST",
    "STAMP_AT",
    "STAMP_OF",
    "STATE_VALUES",
    "UNFINISHED_ROOT",
    "UPSERT",
    "UPSERT_FENCED",
    "UPSERT_OVER",
    "WAITING_VALUE",
    "Execute",
    "ExecuteMany",
    "SaveRow",
    "group_rows",
    "in_lists",
    "latest",
    "padded",
]

# Runs one statement inside the current transaction and returns a DB-API cursor.
Execute = Callable[[str, Sequence[Any]], Any]
# Runs one statement once per parameter tuple, inside the current transaction.
ExecuteMany = Callable[[str, Sequence[Sequence[Any]]], Any]
# One save, as a store writes it: its UPSERT parameters, its step-history row (None when
# the store keeps no history), and the job it saved.
SaveRow = tuple[tuple[Any, ...], Any, JobRecord]

STATE_VALUES = {s.value: s for s in JobState}
FINAL_VALUES = tuple(sorted(s.value for s in FINAL_STATES))
# The unfinished states (literals in the statements): with the expiry, jobs_claim's key.
OPEN_VALUES = tuple(s.value for s in JobState if s not in FINAL_STATES)
# The same as SQL literals (constants of the engine, not data): a partial index on
# unfinished rows serves a query only if the query names the same states, not parameters.
FINAL_LITERALS = ", ".join(f"'{v}'" for v in FINAL_VALUES)
# Roots no worker has finished: what a claim looks among (see migration 6).
UNFINISHED_ROOT = f"parent_id IS NULL AND state NOT IN ({FINAL_LITERALS})"
# Unfinished roots no worker holds (enqueued, or released): what a SQLite watcher looks
# for (see migration 9). The lease first: as the predicate of a partial index, SQLite
# evaluates it for every row an update of lease_expires or state touches, and a held
# root (a heartbeat renews every one) then stops at the first term.
FREE_ROOT = f"lease_expires IS NULL AND {UNFINISHED_ROOT}"
# A worker's lease (migration 12): its row in ``workers``, which its heartbeat renews, one
# write whatever it holds. The root of a case a worker of this release holds carries HELD
# as lease_expires: the case is held while the row of the worker stamped on it has not
# expired (a missing row has). HELD is far in the future (9999-01-01), so a worker of the
# release before, which takes a case once lease_expires < now, never takes such a case;
# any other value is a lease of that release, which expires at that time.
HELD = 253370764800.0
# A lease of the release before that ended (one parameter: now), or a value past HELD
# that no worker writes: a time edited in by hand, or what SQL orders after every number
# (a SQLite text or bytes, PostgreSQL's NaN), which would otherwise hold its case for ever.
LAPSED = f"(lease_expires < ? OR lease_expires > {HELD!r})"
# The workers whose lease has not expired (one parameter: now); a row past HELD (edited
# by hand, as above) is no lease.
LIVE_WORKERS = f"SELECT owner FROM workers WHERE expires >= ? AND expires <= {HELD!r}"
# Free to claim: never taken, released, an expired lease of the release before, or held
# by a worker whose lease expired. Two parameters: now, now. The live workers are read
# once per statement (a hashed subplan in PostgreSQL), not once per root.
FREE_LEASE = (
    f"(lease_expires IS NULL OR {LAPSED} OR (lease_expires = {HELD!r} "
    f"AND lease_owner NOT IN ({LIVE_WORKERS})))"
)
# When the lease of a root of ``jobs`` ends, for the operator: the holder's row's expiry for
# a case held by a worker of this release (NULL without a row: nobody holds it).
LEASE_EXPIRY = (
    f"CASE WHEN lease_expires = {HELD!r} THEN (SELECT w.expires FROM workers w "
    "WHERE w.owner = jobs.lease_owner) ELSE lease_expires END"
)
RUNNING_VALUE = JobState.RUNNING.value
READY_VALUE = JobState.READY.value
WAITING_VALUE = JobState.WAITING.value
FAULTED_VALUE = JobState.FAULTED.value
CANCELLED_VALUE = JobState.CANCELLED.value

# The record's own columns, in the order of JobRecord's fields.
COLUMNS = (
    "id",
    "case_id",
    "workflow",
    "version",
    "step",
    "data",
    "state",
    "parent_id",
    "branch_index",
    "attempt",
    "error",
    "due",
    "event",
    "split_step",
    "split_total",
    "split_live",
    "arrivals",
    "join_step",
    "joined",
    "branch_error",
    "branch_cancelled",
    "gen",
    "parent_gen",
    "cancel_requested",
)
SELECT_LIST = ", ".join(COLUMNS)
_MARKS = ", ".join("?" for _ in COLUMNS)
# A job's case, workflow, version, parent and place among its parent's branches never
# change once it is created: a replace leaves them out, so SQLite does not rewrite the
# entries of the indexes on them (jobs_case, jobs_parent) at every save.
_FIXED = frozenset({"id", "case_id", "workflow", "version", "parent_id", "branch_index"})
# A cancel's mark (Store.mark_cancel) outlives every save of the unfinished job: a runner
# that saves it (a park, a split, a step) after its last look for a stop has not seen it,
# and the next start must still cancel the job. A save that ends the job writes its own.
_MARK = frozenset({"cancel_requested"})
_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in _FIXED | _MARK)

# One statement creates or replaces a job, so save() needs no read first. The insertion
# order (SQLite's rowid, PostgreSQL's seq) and created_at survive a replace.
#
# Leases: every row of a case carries the worker that holds the case in lease_owner (a
# stamp: rows a worker creates are stamped with it, a claim stamps every row of the case),
# and the case's root also carries the lease's expiry, which heartbeats renew. A save
# leaves the stamp alone; a final save clears the expiry but keeps the stamp, so a worker
# that lost the case stays fenced out of it even once the case has ended.
UPSERT = f"""
INSERT INTO jobs ({SELECT_LIST}, created_at, updated_at, finished_at, lease_owner, lease_expires)
VALUES ({_MARKS}, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET {_UPDATES},
    cancel_requested = excluded.cancel_requested
                       OR (excluded.finished_at IS NULL AND jobs.cancel_requested),
    updated_at = excluded.updated_at,
    finished_at = CASE WHEN excluded.finished_at IS NULL THEN NULL
                       ELSE COALESCE(jobs.finished_at, excluded.finished_at) END,
    lease_expires = CASE WHEN excluded.finished_at IS NULL THEN jobs.lease_expires END
"""
# The same for an operator's change (a reset, a retry), which clears a mark on purpose.
UPSERT_OVER = UPSERT.replace(
    "cancel_requested = excluded.cancel_requested\n"
    "                       OR (excluded.finished_at IS NULL AND jobs.cancel_requested)",
    "cancel_requested = excluded.cancel_requested",
)
# A new case's row (an admission): inserted only if no row holds its id. A conflict
# changes nothing and counts no row, so the store refuses the second case of an id in the
# same statement that would have written it (two admissions of one id, in two threads or
# processes, never both succeed).
INSERT_NEW = UPSERT[: UPSERT.index("ON CONFLICT")] + "ON CONFLICT (id) DO NOTHING\n"
# The same, fenced: an existing row is replaced only if no other worker's stamp is on it
# (the one parameter more is the saving worker). The check is part of the write, so
# nothing can change the stamp between the two; a fenced upsert changes no row.
FENCE = "jobs.lease_owner IS NULL OR jobs.lease_owner = ?"
UPSERT_FENCED = f"{UPSERT}WHERE {FENCE}\n"
HISTORY = (
    "INSERT INTO step_history (job_id, seq, step, attempt, state, at, worker, error, started) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# Who a job's row is stamped with, and its case (read only to name a fenced save's holder).
STAMP_OF = "SELECT case_id, lease_owner FROM jobs WHERE id = ?"

# What a group's transaction reads of every row it writes or counts an arrival at: the
# stamp (the fence), the columns a join arrival updates, and the indexed columns a save
# may change (SQLite rewrites their index entries only when they did).
GROUP_READ = (
    "id, lease_owner, case_id, gen, split_total, joined, arrivals, state, "
    "due, finished_at, lease_expires, join_step"
)
# Where those columns (after the stamp) sit in a save's parameters, and the stamp of a
# new row (the parameters end: created_at, updated_at, finished_at, lease_owner, expiry).
JOIN_COLUMNS_AT = tuple(
    COLUMNS.index(c) for c in ("case_id", "gen", "split_total", "joined", "arrivals", "state")
)
JOIN_STEP_AT = COLUMNS.index("join_step")
DATA_AT = COLUMNS.index("data")
STAMP_AT = -2


def in_lists(ids: Sequence[str]) -> Iterator[tuple[list[str], str]]:
    """``ids`` in chunks small enough for one statement, each with its ``?`` marks.

    SQLite allows 999 parameters per statement at the least; 500 leaves room for others.
    """
    for i in range(0, len(ids), 500):
        chunk = list(ids[i : i + 500])
        yield chunk, ", ".join("?" for _ in chunk)


def padded(ids: Sequence[Any]) -> tuple[list[Any], int]:
    """``ids`` (not empty) padded to the next of a few sizes by repeating the last one.

    For a statement whose ``?`` marks grow with ``ids`` and that reads a set (an ``IN``
    list, a join on keys): a repeated id changes nothing of what it finds, and a group's
    reads then come in a few shapes that SQLite prepares once, not one per group size.
    """
    size = len(ids)
    bucket = next((b for b in _PADS if b >= size), size)
    chunk = list(ids)
    chunk.extend([chunk[-1]] * (bucket - size))
    return chunk, bucket


_PADS = (4, 8, 16, 32, 64, 128, 256, 500)


def group_rows(
    execute: Execute, ids: Sequence[str], lock: str = "", columns: str = GROUP_READ
) -> dict[str, Sequence[Any]]:
    """The ``GROUP_READ`` columns of the rows ``ids`` (those that exist), by id.

    ``lock`` ends each query (PostgreSQL's `` FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``
    has locked the whole file already); ``columns`` may add columns after ``GROUP_READ``'s.
    """
    out: dict[str, Sequence[Any]] = {}
    for i in range(0, len(ids), 500):
        chunk, size = padded(ids[i : i + 500])
        marks = ", ".join(["?"] * size)
        sql = f"SELECT {columns} FROM jobs WHERE id IN ({marks}){lock}"
        out.update((row[0], row) for row in execute(sql, chunk).fetchall())
    return out


def latest(
    rows: Sequence[SaveRow],
) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """A group's rows as written: each job's parameters as last saved, and every history row."""
    last = {job.id: params for params, _, job in rows}
    return list(last.values()), [h for _, h, _ in rows if h is not None]
