"""Where a cancel finds its job: on a runner, queued at the gate, only in the store, or held.

A plain object owned by the Scheduler, which hands it every ``CancelJob`` (from a
handle, the Mediator or an operator's request). A job a runner holds is stopped through
the runner's lane; one still queued at the admission gate ends there; one the store has
but no collaborator holds is noted for when its runner's report arrives; one the case
tree holds is cancelled by the tree, with its branches. It runs on the Scheduler's
thread alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors._job import FINAL_STATES, JobState
from actors._outcomes import CancelOutcome

if TYPE_CHECKING:
    from actors._case_book import CaseBook
    from actors._effects import Effects
    from actors._engine import EngineConfig

__all__ = ["CancelDesk"]


class CancelDesk:
    """Decides what cancelling a job means wherever the job is, and has it carried out.

    Args:
        engine: the engine's configuration (gate, channel, store).
        book: the case tree, which cancels the jobs it holds.
        fx: the Scheduler's effects (stopping a running job, ending a queued one).
    """

    def __init__(self, engine: EngineConfig, *, book: CaseBook, fx: Effects) -> None:
        self._e = engine
        self._channel = engine.channel
        self._book = book
        self._jobs = book.jobs
        self._kids = book.kids
        self._out = book.out
        self._fx = fx

    def cancel(self, job_id: str) -> CancelOutcome:
        """Cancel the job ``job_id`` (and its branches); what became of it."""
        job = self._jobs.get(job_id)
        if job is None and job_id in self._channel.running:
            # Started from the gate and not reported yet: its runner has the record.
            self._fx.stop_running(self._channel.running[job_id][1], "cancelled")
            return CancelOutcome.CANCELLED
        if job is None:
            queued = self._e.gate.remove(job_id)
            if queued is not None:
                self._book.hold(queued)
                self._fx.end(queued, JobState.CANCELLED, "cancelled before it started")
                return CancelOutcome.CANCELLED
            saved = self._e.store.get(job_id)
            if saved is not None and saved.state in FINAL_STATES:
                return CancelOutcome.ALREADY_FINISHED
            if saved is not None:  # unfinished: a runner has just parked, split or lost it,
                self._book.cancels.add(job_id)  # and its message is on the way here
                return CancelOutcome.CANCELLED
            return CancelOutcome.NOT_FOUND
        if job.cancel_requested or job.id in self._book.stopping:
            return CancelOutcome.CANCELLED
        if (
            job.id not in self._out
            and job.state in FINAL_STATES
            and job.split_live <= 0
            and not self._kids.get(job.id)
        ):
            return CancelOutcome.ALREADY_FINISHED
        self._fx.apply(self._book.cancel(job, "cancelled"))
        return CancelOutcome.CANCELLED
