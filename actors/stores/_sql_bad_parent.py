"""The branches under a row that cannot be read, cancelled as the row is saved FAULTED.

A row that cannot be read is saved FAULTED where it is read (``fault_bad_row``), often
by a claim. When that row is a parent, its unfinished branches (at any depth) would be
left under a final job: a root saved final is claimed by no worker (claims look for
unfinished roots), and a worker that died before they ended left them unfinished for
ever; a parent saved final never told its own parent of their ends. So they are
cancelled in the same transaction, each with a history row saying why, and the records
read with the row are cancelled too (``cancel_read``), so no step of them runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from actors._job import JobRecord, JobState
from actors.stores._statements import CANCELLED_VALUE, FINAL_VALUES, HISTORY, Execute, in_lists

if TYPE_CHECKING:
    from actors.stores._sql import SqlStore

__all__ = ["cancel_read", "cancel_under", "cancelled_why"]

_FINALS = ", ".join("?" for _ in FINAL_VALUES)
# Every job below the row (its branches, theirs, ...) still unfinished. UNION, not UNION
# ALL: a loop of rows edited to name each other as parents ends the walk.
_UNDER = (
    "WITH RECURSIVE below(id) AS ("
    "SELECT id FROM jobs WHERE parent_id = ? AND case_id = ? "
    "UNION SELECT j.id FROM jobs j JOIN below u ON j.parent_id = u.id WHERE j.case_id = ?) "
    "SELECT j.id, j.step, j.attempt FROM jobs j JOIN below u ON j.id = u.id "
    f"WHERE j.state NOT IN ({_FINALS}) AND j.id <> ?"
)


def cancelled_why(job_id: str) -> str:
    """The error of a branch cancelled under ``job_id``, a row that cannot be read."""
    return f"cancelled: its parent {job_id} could not be read"


def cancel_under(store: SqlStore, execute: Execute, job: JobRecord, now: float) -> set[str]:
    """Cancel the unfinished jobs under ``job`` (being saved FAULTED), in its transaction.

    Returns their ids, for the records read with ``job``'s row (``cancel_read``).
    """
    found = execute(_UNDER, (job.id, job.case_id, job.case_id, *FINAL_VALUES, job.id)).fetchall()
    if not found:
        return set()
    why = cancelled_why(job.id)
    for chunk, marks in in_lists([row[0] for row in found]):
        execute(
            "UPDATE jobs SET state = ?, error = ?, due = NULL, finished_at = ?, updated_at = ? "
            f"WHERE id IN ({marks})",
            (CANCELLED_VALUE, why, now, now, *chunk),
        )
    if store.keep_history:
        for job_id, step, attempt in found:
            history = (job_id, store._seq(), step, attempt, CANCELLED_VALUE, now, None, why, None)
            execute(HISTORY, history)
    return {row[0] for row in found}


def cancel_read(cancelled: dict[str, str], records: Iterable[JobRecord]) -> None:
    """Cancel the ``records`` whose rows ``cancel_under`` cancelled (id -> the faulted job)."""
    for job in records:
        top = cancelled.get(job.id)
        if top is not None and not job.state.is_final:
            job.state, job.error, job.due = JobState.CANCELLED, cancelled_why(top), None
