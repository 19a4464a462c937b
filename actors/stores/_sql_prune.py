"""``Store.prune_cases`` on a SQL store: finished cases deleted a batch per transaction.

Each batch deletes whole cases (every job, its history, requests and join rows) in one
transaction: a prune stopped part-way (Ctrl-C, a lost connection) leaves each case
deleted or not, never half. ``batch_done`` hears of each batch once it is committed, so
a caller can count what is gone and stop between two batches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from actors.stores._statements import Execute, in_lists

if TYPE_CHECKING:
    from actors.stores._sql_admin import SqlAdmin

__all__ = ["PRUNE_BATCH", "BatchDone", "prune"]

PRUNE_BATCH = 500
"""Cases a prune deletes per transaction."""

BatchDone = Callable[[int, int], object]
"""Told (cases, jobs) a committed batch deleted; a true answer stops the prune there."""

# The rows of a pruned case's jobs kept outside ``jobs``, by the column naming the job.
_CASE_ROWS = (
    ("step_history", "job_id"),
    ("join_arrivals", "parent_id"),
    ("join_counts", "parent_id"),
)


def prune(
    store: SqlAdmin, finished_before: float, batch_done: BatchDone | None = None
) -> tuple[int, int]:
    """``Store.prune_cases``: (cases, jobs) deleted, a batch per transaction."""
    # The roots are locked as they are picked (PostgreSQL; SQLite's BEGIN IMMEDIATE
    # locks the file): an operator's change to such a case (a retry reopens its root)
    # waits for the batch, then finds no case; one that committed first leaves the
    # root unfinished, and the lock's recheck leaves the case out. Batches follow the
    # ids, so a case kept (unfinished) is looked at once, not by every batch; SQLite,
    # without statistics, would read every root through jobs_parent and sort them.
    # PostgreSQL would merge the roots with the jobs of every case after the cursor
    # (85 ms a batch at 200,000 cases); OFFSET 0 keeps the check a look-up per root.
    by_id = " INDEXED BY sqlite_autoindex_jobs_1" if store._hint_indexes else ""
    look_up = "" if store._hint_indexes else " OFFSET 0"
    pick = (
        f"SELECT r.id FROM jobs r{by_id} WHERE r.parent_id IS NULL "
        "AND r.finished_at IS NOT NULL "
        "AND r.finished_at < ? AND r.id > ? AND NOT EXISTS (SELECT 1 FROM jobs u "
        "WHERE u.case_id = r.id AND (u.finished_at IS NULL OR u.finished_at >= ?)"
        f"{look_up}) "
        f"ORDER BY r.id LIMIT ?{store._for_update}"
    )

    def batch(after: str) -> Callable[[Execute], tuple[list[str], int]]:
        def write(execute: Execute) -> tuple[list[str], int]:
            params = (finished_before, after, finished_before, PRUNE_BATCH)
            roots = [row[0] for row in execute(pick, params).fetchall()]
            jobs = 0
            for chunk, marks in in_lists(roots):
                # Every job of the case may have split (a branch splits again), and
                # each split's arrivals are keyed by the job that split.
                for table, key in _CASE_ROWS:
                    execute(
                        f"DELETE FROM {table} WHERE {key} IN "
                        f"(SELECT id FROM jobs WHERE case_id IN ({marks}))",
                        chunk,
                    )
                execute(f"DELETE FROM job_requests WHERE case_id IN ({marks})", chunk)
                deleted = execute(f"DELETE FROM jobs WHERE case_id IN ({marks})", chunk)
                jobs += int(deleted.rowcount)
            return roots, jobs

        return write

    cases = jobs = 0
    after = ""  # below every id: ids are never empty
    while True:
        roots, deleted = store._write(batch(after), "prune finished cases")
        cases, jobs = cases + len(roots), jobs + deleted
        stop = bool(roots) and batch_done is not None and bool(batch_done(len(roots), deleted))
        if len(roots) < PRUNE_BATCH or stop:
            return cases, jobs
        after = roots[-1]
