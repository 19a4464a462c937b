"""Which parked job waits on which correlation id, and what became of the ids answered.

A plain object owned by the Scheduler: no actor, clock or store. A parked job registers
the correlation ids its step waits on; the first event (or its timer, or the job's end)
withdraws all of them at once, and each withdrawn id is remembered with its outcome for
a while, so a second event for it is told ``DUPLICATE``, ``LATE`` or ``FINISHED``
rather than ``UNKNOWN``. It also holds the jobs that got their event before the report
of their park came (the runner stores a park first and reports it after): such a job
is made ready when its report comes, instead of parked.
"""

from __future__ import annotations

from collections import OrderedDict
from types import MappingProxyType
from typing import TYPE_CHECKING

from actors._outcomes import EventOutcome

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from actors._job import JobRecord

__all__ = ["Correlations"]

ANSWERED_MEMORY = 10_000  # correlation ids remembered to tell DUPLICATE from UNKNOWN


class Correlations:
    """The correlation ids parked jobs wait on, and the outcomes of ids withdrawn lately."""

    def __init__(self, memory: int = ANSWERED_MEMORY) -> None:
        self._memory = memory
        self._targets: dict[str, tuple[str, str]] = {}  # id -> (job id, event name)
        self._by_job: dict[str, tuple[str, ...]] = {}
        self._by_job_view = MappingProxyType(self._by_job)
        self._answered: OrderedDict[str, EventOutcome] = OrderedDict()
        self._early: dict[str, JobRecord] = {}  # by job id: saved with its event

    def register(self, job_id: str, waits: Iterable[tuple[str, str]]) -> None:
        """Job ``job_id`` waits on each ``(correlation id, event name)`` of ``waits``.

        Replaces what it waited on before. Correlation ids name their job, so no two
        jobs wait on one id.
        """
        self.withdraw(job_id, None)
        ids = []
        for cid, name in waits:
            self._targets[cid] = (job_id, name)
            ids.append(cid)
        if ids:
            self._by_job[job_id] = tuple(ids)

    def target(self, cid: str) -> tuple[str, str] | None:
        """``(job id, event name)`` of the job waiting on ``cid``, if one is."""
        return self._targets.get(cid)

    def waits(self, job_id: str) -> bool:
        """Whether job ``job_id`` waits on any correlation id."""
        return job_id in self._by_job

    def by_job(self) -> Mapping[str, tuple[str, ...]]:
        """The correlation ids each waiting job waits on (a read-only view)."""
        return self._by_job_view

    def withdraw(self, job_id: str, outcome: EventOutcome | None) -> tuple[str, ...]:
        """Job ``job_id`` waits no more; its ids are remembered with ``outcome``.

        ``None`` forgets them without remembering (the case left this worker). Returns
        the ids withdrawn.
        """
        ids = self._by_job.pop(job_id, ())
        for cid in ids:
            self._targets.pop(cid, None)
            if outcome is not None:
                self.remember(cid, outcome)
        return ids

    def remember(self, cid: str, outcome: EventOutcome) -> None:
        """Answer later events for ``cid`` with ``outcome`` (the oldest is forgotten first)."""
        self._answered[cid] = outcome
        self._answered.move_to_end(cid)
        if len(self._answered) > self._memory:
            self._answered.popitem(last=False)

    def forget(self, cid: str) -> None:
        """Forget what became of ``cid`` (its event did not take after all)."""
        self._answered.pop(cid, None)

    def answered(self, cid: str) -> EventOutcome | None:
        """What became of ``cid`` if it was withdrawn lately; else ``None``."""
        return self._answered.get(cid)

    def early(self, job: JobRecord) -> None:
        """``job`` got its event (and was saved so) before the report of its park came."""
        self._early[job.id] = job

    def got_early(self, job_id: str) -> bool:
        """Whether job ``job_id`` got its event before the report of its park came."""
        return job_id in self._early

    def take_early(self, job_id: str) -> JobRecord | None:
        """The record saved with the event job ``job_id`` got early, if it did; forgotten."""
        return self._early.pop(job_id, None)

    def forget_case(self, case_id: str) -> None:
        """Forget the jobs of case ``case_id`` that got an event early (the case is lost)."""
        for job_id in [k for k, v in self._early.items() if v.case_id == case_id]:
            del self._early[job_id]

    def _check_invariants(self) -> None:
        """Both indexes agree, and the memory of answers is bounded."""
        registered = 0
        for job_id, ids in self._by_job.items():
            assert ids, f"job {job_id} registered with no correlation id"
            registered += len(ids)
            for cid in ids:
                assert self._targets[cid][0] == job_id, f"{cid} does not target {job_id}"
        assert registered == len(self._targets)
        assert len(self._answered) <= self._memory
