"""Pending timers of parked jobs, kept sorted by due time.

A ``SortedKeyList`` gives O(log n) insert, cancel and pop of the earliest timer, so
admission and dispatch do not slow down as timers pile up. The Scheduler owns one
``Timers`` and one alarm from its clock, armed for the earliest due time: nothing polls.
"""

from __future__ import annotations

import itertools
from types import MappingProxyType
from typing import TYPE_CHECKING

from sortedcontainers import SortedKeyList

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Timers"]

_Entry = tuple[float, int, str]  # (due, sequence for FIFO among equal dues, job id)


class Timers:
    """At most one timer per job id, ordered by due time."""

    def __init__(self) -> None:
        self._sorted: SortedKeyList = SortedKeyList(key=lambda e: (e[0], e[1]))
        self._by_job: dict[str, _Entry] = {}
        self.by_job: Mapping[str, _Entry] = MappingProxyType(self._by_job)
        """The timer of each job that has one (a read-only view)."""
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._by_job)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._by_job

    def add(self, job_id: str, due: float) -> None:
        """Set ``job_id``'s timer to ``due`` (replacing any earlier one). O(log n)."""
        self.cancel(job_id)
        entry = (due, next(self._seq), job_id)
        self._by_job[job_id] = entry
        self._sorted.add(entry)

    def cancel(self, job_id: str) -> bool:
        """Withdraw ``job_id``'s timer; whether there was one. O(log n)."""
        entry = self._by_job.pop(job_id, None)
        if entry is None:
            return False
        self._sorted.remove(entry)
        return True

    def due_of(self, job_id: str) -> float | None:
        """When ``job_id``'s timer is due, or ``None`` when it has none. O(1)."""
        entry = self._by_job.get(job_id)
        return entry[0] if entry is not None else None

    def next_due(self) -> float | None:
        """The earliest due time, or ``None`` when no timer is pending. O(1)."""
        return self._sorted[0][0] if self._sorted else None

    def pending(self) -> dict[str, float]:
        """Due time of every pending timer by job id, earliest first. O(n)."""
        return {job_id: due for due, _, job_id in self._sorted}

    def pop_due(self, now: float) -> list[str]:
        """Remove and return the ids of every job due at or before ``now``, earliest first.

        A timer fires when ``due <= now`` however late that is (a job overdue after
        downtime fires at once), and never before.
        """
        fired: list[str] = []
        while self._sorted and self._sorted[0][0] <= now:
            _, _, job_id = self._sorted.pop(0)
            del self._by_job[job_id]
            fired.append(job_id)
        return fired

    def _check_invariants(self) -> None:
        assert len(self._sorted) == len(self._by_job)
        for entry in self._sorted:  # a plain loop: cheaper than all() on the harness's path
            assert self._by_job[entry[2]] == entry
