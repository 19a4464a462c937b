"""PostgreSQL's saves outside a group: one statement a save, one statement a batch of admissions.

A save (or an admission) and its step-history row go in one statement, so that in
autocommit one round trip is the whole transaction. A batch of admissions
(``enqueue_many``) goes as one statement too: its rows as one JSON document, which the
server reads with ``jsonb_array_elements`` (as a group's rows, see ``_pg_group``),
instead of one pipelined statement per case, each of which the server plans and runs on
its own. A save that stored fewer rows than it sent raises the errors made here: an
admission's id taken (``taken_error``), or a row another worker holds (``lost_error``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from actors._errors import JobExistsError, LeaseLostError
from actors._job import JobRecord
from actors.stores._pg_group import ROW_TYPES, UPSERT_INTO
from actors.stores._statements import INSERT_NEW, UPSERT, UPSERT_FENCED

__all__ = [
    "CREATE_MANY",
    "CREATE_MANY_BARE",
    "STAMP",
    "Taken",
    "lost_error",
    "save_statement",
    "taken_error",
]

# The fenced form (a worker's save) writes neither when another worker's stamp is on the
# row: its rowcount is then 0. It reads and locks nothing but the job's own row.
_HISTORY_COLUMNS = "job_id, seq, step, attempt, state, at, worker, error, started"
_HISTORY_OF_SAVED = (
    f" RETURNING id) INSERT INTO step_history ({_HISTORY_COLUMNS}) "
    "SELECT id, ?, ?, ?, ?, ?, ?, ?, ? FROM saved"
)
SAVE = f"WITH saved AS ({UPSERT}{_HISTORY_OF_SAVED}"
# An admission: the row only if its id is free (else no row, no history: rowcount 0).
CREATE = f"WITH saved AS ({INSERT_NEW}{_HISTORY_OF_SAVED}"
SAVE_FENCED = f"WITH saved AS ({UPSERT_FENCED}{_HISTORY_OF_SAVED}"
STAMP = "SELECT lease_owner FROM jobs WHERE id = ?"
_STAMP_PG = STAMP.replace("?", "%s")  # run on the driver's cursor, in its placeholders

# A batch of admissions: each element of the one JSON parameter is a CREATE's parameters
# (the row's columns, then its history row's but the job's id). The rows are inserted in
# the batch's order (jobs.seq orders claims), each only if its id is free; the statement
# returns how many were, and the caller rolls the batch back if that is not all of them
# (the history rows of the others are then undone with it). The rows are read once.
_HISTORY_TYPES = ["bigint", "text", "integer", "text", "double precision", "text", "text"]
_HISTORY_TYPES.append("double precision")
_N = len(ROW_TYPES)
_ROWS = "rows AS (SELECT r, n FROM jsonb_array_elements(?::jsonb) WITH ORDINALITY AS e(r, n))"
_INSERT_ROWS = (
    f"{UPSERT_INTO}SELECT {', '.join(f'(r->>{k})::{t}' for k, t in enumerate(ROW_TYPES))} "
    "FROM rows ORDER BY n ON CONFLICT (id) DO NOTHING RETURNING 1"
)
_INSERT_HISTORY = (
    f"INSERT INTO step_history ({_HISTORY_COLUMNS}) SELECT (r->>0)::text, "
    + ", ".join(f"(r->>{_N + k})::{t}" for k, t in enumerate(_HISTORY_TYPES))
    + " FROM rows"
)
CREATE_MANY = (
    f"WITH {_ROWS}, saved AS ({_INSERT_ROWS}), history AS ({_INSERT_HISTORY}) "
    "SELECT count(*) FROM saved"
)
# The same for a store that keeps no step history.
CREATE_MANY_BARE = f"WITH {_ROWS}, saved AS ({_INSERT_ROWS}) SELECT count(*) FROM saved"


def save_statement(*, new: bool, fence: bool, history: bool) -> str:
    """The statement of one save: an admission (``new``), fenced or not; its history row too."""
    if history:
        return CREATE if new else SAVE_FENCED if fence else SAVE
    return INSERT_NEW if new else UPSERT_FENCED if fence else UPSERT


class Taken(Exception):  # noqa: N818 - a signal inside a save, never raised out of it
    """An admission's row met one already stored (raised to roll its transaction back)."""


def taken_error(jobs: list[JobRecord], held: Collection[str], url: str) -> JobExistsError:
    """The error for an admission that met a row: the first of its ids the store holds."""
    job_id = next((job.id for job in jobs if job.id in held), jobs[0].id)
    return JobExistsError(f"a job with id {job_id!r} already exists in {url}")


def lost_error(cur: Any, jobs: list[JobRecord], owner: str | None) -> LeaseLostError:
    """The error for a fenced multi-row save: the first row another worker holds."""
    for job in jobs:
        row = cur.execute(_STAMP_PG, (job.id,)).fetchone()
        if row is not None and row[0] not in (None, owner):
            return LeaseLostError(job.id, job.case_id, row[0], owner)
    return LeaseLostError(jobs[0].id, jobs[0].case_id, "another worker", owner)
