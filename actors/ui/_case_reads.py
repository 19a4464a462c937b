"""What a case's page reads of the store: its first jobs, and sums over all of them.

A case split into 100,000 branches has 100,000 rows. The page lists the first jobs (the
root, then in the order they were made: each job's ancestors come before it), and draws
the rest as sums the database counts: jobs by step and state (the graph's marks), the
unfinished branches of each split it lists, whether a cancel waits for a running step.
Reading every row instead took 6 to 9 s at each refresh of such a case, every two
seconds while it ran.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from actors.ui._json_text import shown_data
from actors.ui._reads import _FINAL, _JOB_COLUMNS, JobRow, _job, _storable

if TYPE_CHECKING:
    from actors.ui._reads import Reader

__all__ = ["CaseRead", "read_case"]

_FINAL_MARKS = ", ".join("?" for _ in _FINAL)


@dataclass(frozen=True, slots=True)
class CaseRead:
    """A case as its page shows it: ``jobs`` listed, the rest as sums."""

    jobs: list[JobRow]
    """The first jobs, root first, then in the order they were made (the first with data)."""
    total: int
    """Jobs of the case."""
    marks: dict[str, dict[str, int]]
    """Jobs at each step by state, but for a job waiting there for its branches."""
    unfinished: int
    """Jobs of the case not ended."""
    cancel_requested: bool
    """Whether a job not ended has a cancel waiting for its running step to end."""
    branches_live: dict[str, int]
    """For each listed job that split: its current split's branches not ended."""


def read_case(reader: Reader, case_id: str, shown: int, with_data: int) -> CaseRead | None:
    """The case ``case_id`` (``None``: no job of it): ``shown`` jobs, ``with_data`` with data."""
    if not _storable(case_id):
        return None
    rows = reader.store._read(
        f"SELECT {_JOB_COLUMNS} FROM jobs WHERE case_id = ? "
        "ORDER BY CASE WHEN parent_id IS NULL THEN 0 ELSE 1 END, created_at, id LIMIT ?",
        (case_id, shown),
        f"read case {case_id}",
    )
    jobs = [_job(row) for row in rows]
    if not jobs:
        return None
    total, unfinished, cancel = 0, 0, False
    marks: dict[str, dict[str, int]] = {}
    for step, stored, splitting, count, cancels in reader.store._read(
        "SELECT step, state, CASE WHEN split_total > 0 AND state = 'waiting' THEN 1 ELSE 0 END, "
        "COUNT(*), SUM(CASE WHEN cancel_requested THEN 1 ELSE 0 END) "
        "FROM jobs WHERE case_id = ? GROUP BY 1, 2, 3",
        (case_id,),
        f"count the jobs of case {case_id}",
    ):
        state, n = str(stored), int(count)
        total += n
        if state not in _FINAL:
            unfinished += n
            cancel = cancel or int(cancels or 0) > 0
        if step is not None and not splitting:
            by_state = marks.setdefault(str(step), {})
            by_state[state] = by_state.get(state, 0) + n
    return CaseRead(
        _with_data(reader, case_id, jobs, with_data),
        total,
        marks,
        unfinished,
        cancel,
        _branches_live(reader, case_id, jobs),
    )


def _with_data(reader: Reader, case_id: str, jobs: list[JobRow], most: int) -> list[JobRow]:
    """``jobs``, the first ``most`` of them with their data (as formatted JSON)."""
    ids = [job.id for job in jobs[:most]]
    if not ids:
        return jobs
    # PostgreSQL: one array, one statement shape (psycopg parses a statement of more
    # than 50 parameters afresh at every call).
    postgres = type(reader.store).__name__ == "PostgresStore"
    among, params = ("= ANY(?)", (ids,)) if postgres else (f"IN ({', '.join('?' * len(ids))})", ids)
    rows = reader.store._read(
        f"SELECT id, data FROM jobs WHERE case_id = ? AND id {among}",
        (case_id, *params),
        f"read the data of case {case_id}",
    )
    data = {str(job_id): _data_text(text) for job_id, text in rows}
    read = [replace(job, data=shown_data(data.get(job.id))) for job in jobs[:most]]
    return read + jobs[most:]


def _data_text(stored: object) -> str | None:
    """The data column as text; a value no save writes (bytes in SQLite) is described.

    A row edited to hold bytes failed the whole page (500): the job itself is shown
    FAULTED, naming the column, as ``actors jobs show`` reads it.
    """
    if stored is None or isinstance(stored, str):
        return stored
    return f"(not shown: the stored data is {type(stored).__name__}, not JSON text)"


def _branches_live(reader: Reader, case_id: str, jobs: list[JobRow]) -> dict[str, int]:
    """For each of ``jobs`` that split, how many branches of its current split have not ended.

    Counted from the branches' own rows: the parent's stored ``split_live`` is the
    Scheduler's bookkeeping, saved before its branches were counted, and reads 0 while
    they run.
    """
    gens = {job.id: job.gen for job in jobs if job.split_total}
    live = dict.fromkeys(gens, 0)
    if not gens:
        return live
    rows = reader.store._read(
        "SELECT parent_id, parent_gen, COUNT(*) FROM jobs WHERE case_id = ? "
        f"AND parent_id IS NOT NULL AND state NOT IN ({_FINAL_MARKS}) GROUP BY 1, 2",
        (case_id, *_FINAL),
        f"count the live branches of case {case_id}",
    )
    for parent, gen, n in rows:
        if gens.get(str(parent)) == int(gen):
            live[str(parent)] += int(n)
    return live
