"""What a claim hands the engine: its jobs, those taken over marked, and a line saying so.

A case claimed from a worker whose lease expired (it died, froze, or lost the store for
longer than the lease) had steps in flight there: each of its jobs counts a try before
it runs (``JobRecord.taken_over``, ``solo``), and the claim is logged at WARNING, the
only line a worker that died leaves.
"""

from __future__ import annotations

from actors._job import JobRecord
from actors._leases import taken_summary
from actors._redact import redacted_logger

__all__ = ["mark_taken"]

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
