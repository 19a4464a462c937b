"""Why ``actors status`` lists a job FAULTED: its row cannot be read.

Status lists unfinished jobs only; a row it cannot read comes back as a FAULTED
stand-in whose error names the problem (the row is left as it is). The table says so
in its state, and a few lines under it say why, each cut short: ``actors jobs show``
prints the whole of it.
"""

from __future__ import annotations

from actors._job import JobRecord
from actors.stores._admin_types import unreadable_problem

__all__ = ["REASONS_SHOWN", "reason_lines", "unreadable", "unreadable_state"]

REASONS_SHOWN = 5
"""Unreadable rows whose problem ``status`` prints under its table; the rest are counted."""
_REASON_CHARS = 200


def unreadable(job: JobRecord) -> str | None:
    """What of ``job``'s row cannot be read (``None``: it was read whole)."""
    return unreadable_problem(job.state, job.error)


def unreadable_state(job: JobRecord, shown: str) -> str:
    """``shown`` (the state cell), saying when it is a row that cannot be read."""
    return f"{shown} (unreadable row)" if unreadable(job) is not None else shown


def reason_lines(jobs: list[JobRecord]) -> list[str]:
    """Lines naming why each of the first ``REASONS_SHOWN`` unreadable ``jobs`` is so."""
    found = [(job.id, why) for job in jobs if (why := unreadable(job)) is not None]
    if not found:
        return []
    lines = ["Unreadable rows (shown faulted, left as they are in the store):"]
    for job_id, why in found[:REASONS_SHOWN]:
        cut = why if len(why) <= _REASON_CHARS else why[: _REASON_CHARS - 3] + "..."
        lines.append(f"  {job_id}: {cut}")
    if len(found) > REASONS_SHOWN:
        lines.append(
            f"  {len(found) - REASONS_SHOWN} more unreadable rows among those listed: "
            "'actors jobs show ID' names each problem"
        )
    return lines
