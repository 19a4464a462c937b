"""Delivering an external event: to a parked job, early, by taking its case over, or not.

A plain object owned by the Scheduler. It owns the ``Correlations`` (which parked job
waits on which id, and what became of ids answered lately) and decides what an event
for a correlation id does. What it needs to know or do beyond that (the jobs this worker
holds, saving and readying a job) it asks of an ``EventShell``, which the Scheduler
provides, and it reads the store through ``CaseReads``; a test fakes both. No actor,
thread or clock here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from actors._correlations import Correlations
from actors._engine import job_log, logger
from actors._job import FINAL_STATES, JobRecord, JobState
from actors._outcomes import EventOutcome

if TYPE_CHECKING:
    from actors._case_store import CaseReads

__all__ = ["EventDesk", "EventShell", "job_of"]


def job_of(cid: str) -> str:
    """The id of the job a correlation id names (``<job id>/<name>``)."""
    return cid.split("/", 1)[0]


class EventShell(Protocol):
    """What event delivery asks the Scheduler to do."""

    def held(self, job_id: str) -> JobRecord | None:
        """The record of ``job_id`` if this worker holds it."""

    def claim_case(self, case_id: str) -> bool:
        """Claim case ``case_id`` from the store and resume it here; whether it was taken."""

    def save(self, job: JobRecord) -> bool:
        """Save ``job``; ``False`` if another worker's lease fenced it (the case dropped)."""

    def cancel_timer(self, job_id: str) -> None:
        """Withdraw ``job_id``'s timer, if it has one."""

    def ready(self, job: JobRecord) -> None:
        """Make ``job`` ready to run."""


class EventDesk:
    """What an event for a correlation id does, and who waits on which id."""

    def __init__(
        self,
        correlations: Correlations | None = None,
        served: Collection[tuple[str, int]] | None = None,
    ) -> None:
        self.correlations = correlations if correlations is not None else Correlations()
        # The workflow versions this worker runs (None: all); ``Mediator.receive_event``
        # answers for a job of another one itself, in the store, so it is not logged here.
        self._served = served

    def deliver(
        self,
        cid: str,
        payload: Any,
        fault: bool,
        store: CaseReads,
        shell: EventShell,
    ) -> EventOutcome:
        """Deliver an event for ``cid``; what became of it.

        To the job parked here on ``cid``; else, to a park this worker stored but has not
        heard of yet (``early``); else, on a shared store, to the case's parked job after
        taking the case over if no worker holds it. Otherwise it says why not.
        """
        correlations = self.correlations
        target = correlations.target(cid)
        if target is None:
            # Before what became of ``cid`` lately: a job that looped back to the step,
            # or was reset to it, waits on the same id again, and its new park must not
            # answer "duplicate" merely because its report has not come yet.
            early = self._early(cid, payload, fault, store, shell)
            if early is not None:
                return early
        if target is None and store.shared and self._take_over_for(cid, store, shell):
            target = correlations.target(cid)
        if target is None:
            outcome = self._why_undeliverable(cid, store, shell)
            handed = outcome in (EventOutcome.ELSEWHERE, EventOutcome.UNKNOWN)
            if handed and self._unserved(cid, store):
                return outcome
            note = self._waits_instead(cid, store) if outcome is EventOutcome.UNKNOWN else ""
            logger.info(
                "event for %r not delivered: %s%s", cid, outcome.value, note, extra=job_log(None)
            )
            return outcome
        job = shell.held(target[0])
        assert job is not None, f"{target[0]} waits on {cid} but is not held"
        correlations.withdraw(job.id, EventOutcome.LATE)
        correlations.remember(cid, EventOutcome.DUPLICATE)
        shell.cancel_timer(job.id)
        if not _take_event(job, target[1], payload, fault, shell):
            correlations.forget(cid)
            return EventOutcome.ELSEWHERE
        shell.ready(job)
        return EventOutcome.DELIVERED

    def _early(
        self,
        cid: str,
        payload: Any,
        fault: bool,
        store: CaseReads,
        shell: EventShell,
    ) -> EventOutcome | None:
        """Deliver an event for a park this worker stored but has not heard of yet.

        A runner stores a job's park first and reports it after (with group commit, once
        its group is stored), so an event can come in between. If the store shows the
        job parked on ``cid``, held by this worker and not known here, its report is on
        the way: the event is saved with the job now (durably, as any delivered event),
        and the job is made ready when the report comes. ``None``: not such a case.
        """
        job_id = job_of(cid)
        correlations = self.correlations
        if correlations.waits(job_id) or correlations.got_early(job_id):
            return None
        saved = store.load(job_id)
        if saved is None or saved.state is not JobState.WAITING or saved.event is not None:
            return None
        waits = store.waits_of(saved)
        if waits is None or cid not in waits:
            return None
        if store.shared and store.holder(saved.case_id) != store.owner:
            return None  # parked here before and released, or another worker's
        if not _take_event(saved, waits[cid], payload, fault, shell):
            return EventOutcome.ELSEWHERE
        correlations.early(saved)
        for other in waits:
            correlations.remember(other, EventOutcome.LATE)
        correlations.remember(cid, EventOutcome.DUPLICATE)
        return EventOutcome.DELIVERED

    @staticmethod
    def _take_over_for(cid: str, store: CaseReads, shell: EventShell) -> bool:
        """Shared store: claim the case of the job ``cid`` names, if it is parked unheld.

        A case parked in the database (its worker stopped or died) then resumes here.
        """
        job = store.stored(job_of(cid))
        if job is None or job.state is not JobState.WAITING or shell.held(job.id) is not None:
            return False
        return shell.claim_case(job.case_id)

    def _unserved(self, cid: str, store: CaseReads) -> bool:
        """Whether ``cid`` names a stored job of a workflow version this worker does not run."""
        if self._served is None:
            return False
        job = store.stored(job_of(cid))
        return job is not None and (job.workflow, job.version) not in self._served

    def _why_undeliverable(self, cid: str, store: CaseReads, shell: EventShell) -> EventOutcome:
        seen = self.correlations.answered(cid)
        if seen is not None:
            return seen
        job = store.stored(job_of(cid))
        if job is not None and job.state in FINAL_STATES:
            return EventOutcome.FINISHED
        if (
            job is not None
            and store.shared
            and shell.held(job.id) is None
            and store.holder(job.case_id) != store.owner  # else this worker's own job just
        ):  # does not wait on it
            return EventOutcome.ELSEWHERE
        return EventOutcome.UNKNOWN

    def _waits_instead(self, cid: str, store: CaseReads) -> str:
        """What the job ``cid`` names waits on, for the log line of an unknown event.

        A misspelt event or step name is the commonest stray event: naming the ids the
        job does wait on shows the sender the mistake. Empty when it waits on none.
        """
        job_id = job_of(cid)
        waits: Iterable[str] | None = self.correlations.by_job().get(job_id)
        if waits is None:  # its park may be stored and not reported yet
            saved = store.load(job_id)
            if saved is not None and saved.state is JobState.WAITING:
                waits = store.waits_of(saved)
        if not waits:
            return ""
        return f" (job {job_id} waits on {', '.join(repr(w) for w in sorted(waits))})"


def _take_event(job: JobRecord, name: str, payload: Any, fault: bool, shell: EventShell) -> bool:
    """Give ``job`` the event (READY, timer dropped) and save it; ``False`` if fenced."""
    job.event = ("fault" if fault else "reply", name, payload)
    job.state, job.due = JobState.READY, None
    return shell.save(job)
