"""What a claim hands the engine: its jobs, those taken over marked, and a line saying so.

A case claimed from a worker whose lease expired (it died, froze, or lost the store for
longer than the lease) had steps in flight there: each of its jobs counts a try before
it runs (``JobRecord.taken_over``, ``solo``), and the claim is logged at WARNING, the
only line a worker that died leaves.
"""

from __future__ import annotations

from typing import Any

from actors._job import JobRecord
from actors._leases import taken_summary
from actors._redact import redacted_logger
from actors.stores._statements import Execute, in_lists

__all__ = ["foreign_parents", "mark_taken"]

logger = redacted_logger("actors.stores")


def mark_taken(
    records: list[JobRecord],
    stopped: set[str],
    solo: set[str],
    previous: dict[str, tuple[str, bool]],
) -> list[JobRecord]:
    """The claimed ``records``, the jobs of the cases in ``stopped`` marked taken over.

    ``solo``: the jobs whose try from their saved point already ended with their worker
    (they run alone). ``previous``: each case taken from another worker, by its root,
    with that worker's name and whether it stopped without a release.
    """
    if gone := [(root, holder) for root, (holder, expired) in previous.items() if expired]:
        logger.warning(taken_summary(gone))
    if stopped:
        for job in records:
            job.taken_over = job.case_id in stopped
            job.solo = job.taken_over and job.id in solo
    return records


def foreign_parents(execute: Execute, rows: list[Any]) -> dict[str, str]:
    """The claimed ``rows`` whose ``parent_id`` names a job of another case, and why.

    ``rows`` are every row of the cases claimed (``SELECT_LIST`` first). A branch's
    parent is a job of its own case; a row edited to name another case's job ran, and
    its arrival was counted at that case's join, whose merge then took it for one of
    its own branches. Read FAULTED instead (a parent that is no job at all is left to
    the arrival, which names it missing). Nothing is read unless a parent is not among
    the rows.
    """
    found: dict[Any, Any] = {row[0]: row[1] for row in rows}  # id -> case, as claimed
    away = {
        row[0]: (row[1], row[7])
        for row in rows
        if row[7] is not None and found.get(row[7]) != row[1]
    }
    if not away:
        return {}
    unread = sorted({parent for _, parent in away.values() if parent not in found}, key=str)
    for chunk, marks in in_lists(unread):
        found.update(execute(f"SELECT id, case_id FROM jobs WHERE id IN ({marks})", chunk))
    return {
        job_id: (
            f"column parent_id names job {parent!r} of case {found[parent]!r}, "
            f"not of its own case {case!r}"
        )
        for job_id, (case, parent) in away.items()
        if parent in found and found[parent] != case
    }
