"""The Scheduler's handlers of what its runners report: splits, ends, joins, parks, deaths.

A mixin of ``Scheduler`` (``actors._scheduler``), whose collaborators it uses: the
handlers are looked up by name (``actors._scheduler_routes``) as the others are. What
every report shares (the backlog it frees, a cancel it answers, a lost case's stale
report) is done first, in ``Scheduler.on_receive``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from actors import messages as m
from actors._engine import job_log, logger
from actors._job import JobState

if TYPE_CHECKING:
    from actors._cancel_desk import CancelDesk
    from actors._case_book import CaseBook
    from actors._correlations import Correlations
    from actors._crew import Crew
    from actors._effects import Effects
    from actors._engine import EngineConfig
    from actors._job import JobRecord
    from actors._runner_failures import RunnerFailures

__all__ = ["RunnerReportRoutes"]


class RunnerReportRoutes:
    """Branches spawned, jobs ended, arrived or parked, runners failed: the Scheduler's handlers."""

    # Set by Scheduler.__init__.
    _e: EngineConfig
    _fx: Effects
    _book: CaseBook
    _crew: Crew
    _correlations: Correlations
    _cancels: CancelDesk
    _failures: RunnerFailures
    _looked: dict[str, JobRecord]

    def _on_spawn(self, msg: m.SpawnBranch) -> None:
        self._fx.apply(self._book.spawn(msg.parent, msg.job))

    def _on_ended(self, msg: m.JobEnded) -> None:
        self._fx.apply(self._book.ended(msg.job, msg.open))

    def _on_arrived(self, msg: m.BranchArrived) -> None:
        effects = self._book.arrived(msg.job, msg.join_step, msg.open)
        if effects is None:
            logger.info("ignoring a repeated arrival of job %s", msg.job.id, extra=job_log(msg.job))
            return
        self._fx.apply(effects)

    def _on_parked(self, msg: m.JobParked) -> None:
        # An event that came before this report was saved with the job (EventDesk's
        # early delivery): the job goes on at once, as that saved record, instead of parking.
        early = self._correlations.take_early(msg.job.id)
        job = msg.job if early is None else early
        if early is not None:
            early.cancel_requested = msg.job.cancel_requested
        self._book.claim_cancel(job)
        self._book.hold(job)
        if job.cancel_requested:
            self._fx.end(job, JobState.CANCELLED, "cancelled")
        elif early is not None:
            self._crew.ready(job)
        else:
            self._fx.park(job, msg.correlations)

    def _on_runner_failed(self, msg: m.RunnerFailed) -> None:
        job = msg.job
        # Named here: pykka's traceback goes to its own logger, which nothing shows by default.
        died = f" ({msg.error})" if msg.error else ""
        # The store down (its save failed): the outage's one WARNING says it, not each runner.
        level = logging.DEBUG if msg.store_down is not None else msg.level
        logger.log(level, "runner %d failed%s; restarting it", msg.runner, died, extra=job_log(job))
        self._crew.failed(msg.runner, job)
        if job is not None:
            if self._looked:
                self._cancels.reported(m.RunnerFailed, job)
            self._book.returned(job)
            fault = self._failures.died(job, msg.error) if msg.blames_job else None
            if msg.store_down is not None and fault is None and not self._fx.lost(job.case_id):
                self._fx.defer(job, "its runner failed", msg.store_down, level=level)
            else:
                self._fx.resume_saved(job, "its runner failed", level=level, fault=fault)
        if not self._e.stopping:
            self._crew.restart(msg.runner)

    def _on_slice_unsaved(self, msg: m.SliceUnsaved) -> None:
        self._fx.slice_unsaved(msg.runner, msg.job, msg.error)

    def _on_case_lost(self, msg: m.CaseLost) -> None:
        self._fx.drop_case(msg.job.case_id, msg.error)

    def _on_runner_idle(self, _msg: m.RunnerIdle) -> None:
        return None  # a draining shutdown looks again after every message
