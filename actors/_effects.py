"""Carrying out what the Scheduler's collaborators decide, against the world outside them.

The collaborators (the case tree, event delivery, timers, leases, recovery) return
effects and decisions; ``Effects`` carries them out against the store, the work channel
(through the crew), the alarm and the case handles, in order, and keeps the one rule
that ties them together: a save another worker's lease fences drops the whole case from
every collaborator, and the effects left for that case are skipped. It is owned by the
Scheduler actor and runs on its thread alone; it is also the ``EventShell`` event
delivery asks to save, ready, take over and un-time jobs.

A store that fails (its server restarting) stops nothing here: a job whose saved record
cannot be read back, or whose change cannot be stored, is owed to the store
(``Outage``) and settled at the first poll that finds the store answering (``settle``):
that part is its base class, ``StoreDebts`` (``actors._effects_debts``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from actors._case_effects import Effect, Finished, Park, Ready, Save, Withdraw
from actors._effects_debts import StoreDebts
from actors._engine import job_log, logger
from actors._errors import LeaseLostError, StoreError
from actors._job import Job, JobRecord, JobState
from actors._outage import Outage, store_down
from actors._outcomes import EventOutcome
from actors._recovery import Fault, Resume
from actors._runner import correlations_for
from actors._runner_failures import RunnerFailures
from actors._stale_copies import StaleCopies
from actors._stamps import operator_of
from actors._unsaved_slices import UnsavedSlices

if TYPE_CHECKING:
    from collections.abc import Collection

    from actors._case_book import CaseBook
    from actors._case_store import CaseStore
    from actors._clock import Alarm
    from actors._correlations import Correlations
    from actors._crew import Crew
    from actors._engine import EngineConfig
    from actors._polling import Poller
    from actors._recovery import Recovery
    from actors._tally import Tally
    from actors._timekeeper import Timekeeper

__all__ = ["Effects"]


class Effects(StoreDebts):
    """The Scheduler's hands: saves, readies, parks, ends and drops what it was told to."""

    def __init__(  # noqa: PLR0913 - the collaborators it acts for
        self,
        config: EngineConfig,
        *,
        book: CaseBook,
        crew: Crew,
        time: Timekeeper,
        correlations: Correlations,
        poller: Poller,
        tally: Tally,
        recovery: Recovery,
        store: CaseStore,
    ) -> None:
        self._c = config
        self._book = book
        self._jobs = book.jobs
        self._crew = crew
        self._time = time
        self._timed = time.timed  # read here, to skip the calls for a job with no timer
        self._correlations = correlations
        self._waiting = correlations.by_job()  # likewise for a job that waits on no event
        self._poller = poller
        self._lost = poller.leases.lost  # read here; changed by the poller alone
        self._tally = tally
        self._store = store
        self._recovery = recovery
        self.alarm: Alarm | None = None  # the Scheduler's, set once it has started
        self._batch: list[JobRecord] | None = None  # saves apply_cancel stores together
        self._batch_ends: list[Job] = []  # cases it ended: their handles, once stored
        self.unsaved = UnsavedSlices()  # jobs whose slices were not stored, in a row
        self.failures = RunnerFailures()  # jobs whose runners died, in a row
        self.outage = Outage(getattr(config.store, "url", type(config.store).__name__))
        self.stale = StaleCopies(config.channel.running, config.channel.storing)

    # -- the case tree's effects -----------------------------------------------------------------

    def apply(self, effects: list[Effect], withdrawn: Collection[str] = ()) -> None:
        """Carry out the case tree's effects in order, skipping those of a case lost midway.

        ``withdrawn``: the jobs of its ``Withdraw`` effects taken from the work channel
        already (``apply_cancel``).
        """
        lost = self._lost
        for effect in effects:
            job = effect.job
            if lost and job.case_id in lost:
                continue  # a save was fenced: the case is another worker's now
            if isinstance(effect, Ready):  # the most frequent first
                self._crew.ready(job)
            elif isinstance(effect, Finished):
                self._finished(job)
            elif isinstance(effect, Save):
                self.save_ended(job)
            elif isinstance(effect, Park):
                step = self._c.workflow(job.workflow, job.version).step(job.step or "")
                self.park(job, correlations_for(job, step))
            elif isinstance(effect, Withdraw):
                if job.id in withdrawn or self._crew.withdraw(job):
                    self._book.returned(job)
                    self.end(job, JobState.CANCELLED, effect.why)
                else:  # a runner took it: it stops before its next step
                    self.stop_running(job, effect.why)
            else:
                self.apply_cancel(self._book.cancel(job, effect.why))

    def apply_cancel(self, effects: list[Effect]) -> None:
        """Carry out a cancel's effects, its ready jobs taken from the work channel first.

        Each job ended here is saved in turn, and runners went on taking the case's other
        ready jobs meanwhile: cancelling a split of 20,000 branches with 15,000 left to
        run, 10,000 of them still ran to their end while the cancel was carried out.
        """
        withdraw = self._crew.withdraw
        taken = {e.job.id for e in effects if type(e) is Withdraw and withdraw(e.job)}
        if self._batch is not None:  # a cancel within a cancel: stored with it
            self.apply(effects, taken)
            return
        # Its saves are stored together: a commit each took longer than a Mediator call
        # may wait (15,000 on PostgreSQL). A case it ended is told to its handle once
        # they are stored, so a handle never tells of an end a crash could still undo.
        batch: list[JobRecord] = []
        self._batch = batch
        self._c.store.begin_slice()
        try:
            self.apply(effects, taken)
        finally:
            self._batch = None
            self._store_batch(batch)
            ended, self._batch_ends = self._batch_ends, []
            for case in ended:
                self._c.handles.resolve(case)

    def _store_batch(self, batch: list[JobRecord]) -> None:
        """Store the saves ``apply_cancel`` grouped; as ``save_ended`` does, if that fails."""
        try:
            self._c.store.end_slice()
        except LeaseLostError as exc:
            self.drop_case(exc.case_id, exc)
        except StoreError as exc:
            self._owe(exc)
            for job in batch:
                if job.state.is_final:
                    self.outage.resaves.pop(job.id, None)  # kept in the order of the saves
                    self.outage.resaves[job.id] = job

    def stop_running(self, job: JobRecord, why: str) -> None:
        """A runner has ``job``: tell it to stop before its next step; mark it when it returns.

        The record is the runner's until its report comes back, so nothing is written on
        it here (``CaseBook.returned`` puts the mark on it then). The store marks the job
        at once: should this worker die before its runner stops it, the worker that takes
        the case over cancels it rather than running it on.
        """
        if self._book.stop(job, why):  # else told already
            # The stop first: a save the runner makes after the mark (which would clear
            # it) comes after the runner saw the stop, and so carries the cancel.
            self._crew.stop_job(job.id, why)
            self._store.mark_cancel(job, why)

    def mark_cancel(self, job: JobRecord, why: str) -> None:
        """Mark ``job``, whose cancel its branches' reports carry out, cancelled in the store.

        Should the engine stop before those reports come (a non-draining shutdown), the
        mark carries the cancel to the next start.
        """
        self._store.mark_cancel(job, why)

    def end(self, job: JobRecord, state: JobState, error: str | None) -> None:
        """End a job the Scheduler holds (not one a runner is running)."""
        self.apply(self._book.end(job, state, error))

    def park(self, job: JobRecord, correlations: tuple[tuple[str, str], ...]) -> None:
        """``job`` waits: its timer, if it has a due time, and the events it waits on.

        A case waiting on a timer or an event frees its place, as a case that ends does.
        """
        if job.due is not None:
            self._time.park(job.id, job.due)
            self.rearm()
        self._correlations.register(job.id, correlations)
        if job.parent_id is None:
            self._place_freed()

    def _finished(self, job: JobRecord) -> None:
        """``job`` ended for good: its timer, correlations, figures and handle."""
        job_id = job.id
        # Most jobs end with no timer and no event pending: two lookups, no calls.
        if job_id in self._timed and self._time.cancel(job_id):
            self.rearm()
        if job_id in self._waiting:
            self._correlations.withdraw(job_id, EventOutcome.FINISHED)
        self._tally.ended(job.state)
        # Ended here with no report (a cancel while it waited): its counts go with it.
        if self.unsaved.counts:
            self.unsaved.went_on(job_id)
        if self.failures.counts:
            self.failures.went_on(job_id)
        if self._c.metrics is not None:
            self._c.metrics.finished(job.workflow, job.state)
        if job.parent_id is None:
            if self._batch is None:
                self._c.handles.resolve(job.snapshot())
            else:  # told once the cancel's saves are stored (apply_cancel)
                self._batch_ends.append(job.snapshot())
            self._place_freed()

    def _place_freed(self) -> None:
        """A case ended or parked: claim as a quarter of the places free (if backlogged)."""
        if self._poller.case_ended(self._c.gate.capacity) and self._time.wake(
            self._c.clock.now(), stopping=self._c.stopping
        ):
            self.rearm()

    def rearm(self) -> None:
        """Set the alarm again if the earliest pending timer moved."""
        arm = self._time.rearm()
        if arm is not None and self.alarm is not None:
            self.alarm.set(arm.due)

    # -- recovery's decisions --------------------------------------------------------------------

    def carry_out(self, decision: Resume | Fault) -> None:
        """Carry out a recovery decision about a job the Scheduler holds."""
        if isinstance(decision, Fault):
            job = decision.job
            self._book.hold(job)
            self.end(job, JobState.FAULTED, decision.why)
            # A split parent that cannot go on takes its live branches down with it: left
            # to run, they would repeat their steps' effects for a case already over.
            self.apply_cancel(
                self._book.cancel_branches(job, f"cancelled: its parent {job.id} faulted")
            )
        else:
            self.apply(self._book.resume(decision.job, decision.steps))

    def fresh(self, jobs: list[JobRecord]) -> list[JobRecord]:
        """The jobs of ``jobs`` the Scheduler does not hold yet."""
        return [job for job in jobs if job.id not in self._jobs]

    def adopt(self, jobs: list[JobRecord]) -> None:
        """Take charge of jobs as last saved; each resumes from its last saved step.

        A case claimed back while a runner is still inside a job of it from before it
        was lost waits until that runner is done with it (``StaleCopies``).
        """
        mine = self._recovery.served(self.stale.hold(jobs))
        for job in mine:
            self._poller.claim_back(job.case_id)
            # Read from the store, with an event that came early for a park whose report
            # was ignored (a stale copy's): kept, it would answer the job's next park.
            self._correlations.take_early(job.id)
        self._book.adopt(mine)
        for job in self._recovery.parents_first(mine, self._jobs):
            if job.id in self._jobs:  # else its case was lost while its siblings resumed
                self.carry_out(self._recovery.resume(job, self._store))

    def adopt_released(self) -> None:
        """Resume the cases claimed back whose stale copies have left the runners."""
        jobs = self.stale.released(self._store.load, self._c.store.stored_jobs)
        if jobs:
            self.adopt(self.fresh(jobs))

    def take_case(self, case_id: str) -> int:
        """Take a case an operator made runnable again (a retry) now; how many jobs."""
        c = self._c
        if c.store.shared:
            taken = self._poller.claim_case(c.store, c.clock.now(), case_id, c.workflows)
        else:
            taken = [job for job in c.store.unfinished() if job.case_id == case_id]
        fresh = self.fresh(taken)
        self.adopt(fresh)
        return len(fresh)

    # -- cases another worker took over ----------------------------------------------------------

    def drop_case(self, case_id: str, error: Exception, *, level: int = logging.WARNING) -> int:
        """Another worker holds case ``case_id`` now: forget every job of it here.

        Its jobs leave the bookkeeping (running, ready, timers, correlations, children,
        held, deaths and unsaved slices counted), nothing of it is saved, runners still
        in one of its jobs are fenced at their next save, and a handle waiting here on
        the case fails with ``error``. Logged at ``level``; returns how many jobs were
        dropped.
        """
        self._poller.lose(case_id)
        self.stale.dropped(case_id)
        dropped = self._book.drop_case(case_id)
        self._correlations.forget_case(case_id)
        for job in dropped:
            self._time.cancel(job.id)
            self._correlations.withdraw(job.id, None)
            self.unsaved.went_on(job.id)  # no report of it comes here any more
            self.failures.went_on(job.id)
        self._c.channel.withdraw_case(case_id)
        self._c.gate.remove(case_id)  # its root, if admitted here and not started yet
        self.rearm()
        failed = self._c.handles.fail_case(case_id, error)
        by_operator = isinstance(error, LeaseLostError) and operator_of(error.owner) is not None
        logger.log(
            level,
            "case %s %s (%s); dropped %d job(s) of it%s",
            case_id,
            "was changed by an operator" if by_operator else "is another worker's now",
            error,
            len(dropped),
            ", its handle fails" if failed else "",
            extra=job_log(None),
        )
        return len(dropped)

    # -- what event delivery asks (EventShell) ---------------------------------------------------

    def held(self, job_id: str) -> JobRecord | None:
        """The record of ``job_id`` if the Scheduler holds it."""
        return self._jobs.get(job_id)

    def lost(self, case_id: str) -> bool:
        """Whether another worker holds case ``case_id`` now."""
        return case_id in self._lost

    def claim_case(self, case_id: str) -> bool:
        """Claim case ``case_id`` from a shared store and resume it here."""
        c = self._c
        taken = self._poller.claim_case(c.store, c.clock.now(), case_id, c.workflows)
        self.adopt(self.fresh(taken))
        return bool(taken)

    def save(self, job: JobRecord) -> bool:
        """Save a job the Scheduler holds; ``False`` (and the case dropped) if it was fenced.

        A ``StoreError`` is raised after the job is ``defer``-red: its record here was
        changed for the save and is not what the store holds.
        """
        try:
            return self._save(job)
        except StoreError as exc:
            if self._jobs.get(job.id) is job:  # else a record read for an early event
                # Its resumption is the outage's news, said once (see slice_unsaved).
                level = logging.DEBUG if store_down(exc) else logging.WARNING
                self.defer(job, "what the Scheduler saved of it was not stored", exc, level=level)
            raise

    def _save(self, job: JobRecord) -> bool:
        try:
            self._c.store.save(job)
        except LeaseLostError as exc:
            self.drop_case(job.case_id, exc)
            return False
        return True

    def cancel_timer(self, job_id: str) -> None:
        """Withdraw ``job_id``'s timer."""
        if self._time.cancel(job_id):
            self.rearm()

    def ready(self, job: JobRecord) -> None:
        """Make ``job`` ready to run."""
        self._crew.ready(job)
