"""The SQL store's count of tries of jobs taken over from a worker that stopped.

Functions of a ``SqlStore`` (its methods of the same names). A try of a job counts on
from the last one while the job's row is the one that try saw (``tried_at`` is the
row's ``updated_at``), and starts at 1 once a save came between.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from actors._errors import JobNotFoundError, LeaseLostError
from actors.stores._statements import STAMP_OF, Execute, in_lists

if TYPE_CHECKING:
    from actors._job import JobRecord
    from actors.stores._sql import SqlStore

__all__ = ["count_tries", "count_try"]

_COUNT = (
    "UPDATE jobs SET tries = CASE WHEN tried_at = updated_at THEN tries + 1 ELSE 1 END, "
    "tried_at = updated_at WHERE {which} AND (lease_owner IS NULL OR lease_owner = ?)"
)
_COUNT_TRY = _COUNT.format(which="id = ?")


def count_try(store: SqlStore, job: JobRecord) -> int:
    """Count a try of ``job`` (taken over) at its saved point; how many in a row (see Store)."""
    owner = store.owner

    def write(execute: Execute) -> int:
        if execute(_COUNT_TRY, (job.id, owner)).rowcount == 0:
            row = execute(STAMP_OF, (job.id,)).fetchone()
            if row is None:
                msg = f"no job {job.id!r} in {store.url} (deleted while it was taken over)"
                raise JobNotFoundError(msg)
            raise LeaseLostError(job.id, row[0], row[1], owner)
        return int(execute("SELECT tries FROM jobs WHERE id = ?", (job.id,)).fetchone()[0])

    return store._write(write, f"count a try of job {job.id!r}")


def count_tries(store: SqlStore, jobs: Sequence[JobRecord]) -> dict[str, int]:
    """Count a try of each of ``jobs`` in one transaction; the counts by job id (see Store).

    One statement per 500 jobs, not a transaction per job: a worker resuming a wide
    split counts its branches' tries in batches. A job missing from the answer was not
    counted (its case is another worker's now, or the job was deleted): its runner
    counts it alone, which says why.
    """
    if not jobs:
        return {}
    owner = store.owner

    def write(execute: Execute) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk, marks in in_lists([job.id for job in jobs]):
            sql = _COUNT.format(which=f"id IN ({marks})") + " RETURNING id, tries"
            out.update((str(i), int(n)) for i, n in execute(sql, (*chunk, owner)).fetchall())
        return out

    return store._write(write, f"count a try of {len(jobs)} job(s) taken over")
