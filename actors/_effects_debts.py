"""What the Scheduler's ``Effects`` owe a store that failed, and how they settle it.

A store that fails (its server restarting) stops nothing: a job whose saved record
cannot be read back, or whose change cannot be stored, is owed to the store
(``Outage``) and settled at the first poll that finds the store answering (``settle``).
A part of ``Effects`` (its base class), on the Scheduler's thread alone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from actors._engine import job_log, log_level, logger
from actors._errors import StoreError
from actors._leases import run_alone
from actors._outage import store_down
from actors._recovery import Fault, unheld_branches
from actors._unsaved_slices import UnsavedSlices

if TYPE_CHECKING:
    from collections.abc import Collection

    from actors._case_book import CaseBook
    from actors._case_store import CaseStore
    from actors._correlations import Correlations
    from actors._engine import EngineConfig
    from actors._job import JobRecord
    from actors._outage import Outage
    from actors._recovery import Recovery, Resume
    from actors._timekeeper import Timekeeper

__all__ = ["StoreDebts"]


class StoreDebts:
    """Runners' slices not stored, jobs taken back as last saved, and saves owed."""

    if TYPE_CHECKING:  # what Effects holds and provides
        _c: EngineConfig
        _book: CaseBook
        _jobs: dict[str, JobRecord]
        _time: Timekeeper
        _correlations: Correlations
        _lost: Collection[str]
        _store: CaseStore
        _recovery: Recovery
        _batch: list[JobRecord] | None
        outage: Outage
        unsaved: UnsavedSlices

        def carry_out(self, decision: Resume | Fault) -> None: ...
        def adopt(self, jobs: list[JobRecord]) -> None: ...
        def lost(self, case_id: str) -> bool: ...
        def rearm(self) -> None: ...
        def _save(self, job: JobRecord) -> bool: ...

    def slice_unsaved(self, runner: int, job: JobRecord, error: BaseException) -> None:
        """What runner ``runner`` did with ``job`` was not stored (``error``): fault it, or rerun.

        An outage waits for the store; a failure that may be another job's (a group rolls
        back whole) runs the job again, alone from the second in a row on, and faults it
        once it failed alone too (``actors._unsaved_slices``).
        """
        # In an outage the store's failure is no news of this job: the outage's one
        # WARNING (``Outage.failed``) and its INFO once the store answers, counting the
        # jobs taken back, say it; a line per job in flight, at each outage, was spam.
        level = logging.DEBUG if store_down(error) else log_level(error)
        logger.log(
            level,
            "job %s: what runner %d saved was not stored (%s)",
            job.id,
            runner,
            error,
            extra=job_log(job),
        )
        why = "its steps could not be stored"
        lost = self.lost(job.case_id)
        try:
            fault = self._recovery.unstored(job, error, self._store, lost=lost)
        except StoreError as exc:  # reading its saved data failed too: once the store answers
            self.defer(job, why, exc, level=level)
            return
        if fault is not None:
            self.carry_out(fault)
        elif store_down(error) and not lost:
            self.defer(job, why, error, level=level)  # run at once, it would fail at once
        elif lost:
            self.resume_saved(job, why, level=level)  # nothing to resume here
        else:
            turn = self.unsaved.failed(job, error)
            self.resume_saved(job, why, level=level, fault=turn.fault, alone=turn.alone)

    def resume_saved(
        self,
        job: JobRecord,
        why: str,
        *,
        level: int = logging.ERROR,
        fault: str | None = None,
        alone: bool = False,
    ) -> bool:
        """Run ``job`` again from its last saved step (its runner's work on it was lost).

        ``level``: how loudly its loss was logged; the resumption is logged one step below
        (WARNING after an ERROR), never above INFO for a failure logged at INFO. ``False``
        when the store could not be read: the job is owed to the store (``defer``).
        ``fault``: end the job as saved FAULTED with this reason instead of running it.
        ``alone``: its next run is a solo one (see ``actors._unsaved_slices``).
        """
        self._correlations.take_early(job.id)  # the saved row holds the event, if one came early
        try:
            saved = self._recovery.reload(
                job,
                why,
                self._store,
                lost=job.case_id in self._lost,
                cancel=job.id in self._book.cancels,
                level=min(logging.WARNING, level),
            )
        except StoreError as exc:  # the store is down: the reload waits for it
            self.defer(job, why, exc, level=level)
            return False
        if isinstance(saved, Fault):
            self.carry_out(saved)
        elif saved is not None and fault is not None:
            logger.error("job %s: %s", saved.id, fault, extra=job_log(saved))
            self.carry_out(Fault(saved, fault))
        elif saved is not None:
            saved.solo = alone
            # Taken over and its try not counted yet (its runner died, or its slice was
            # not stored, before the count): the store's record does not say so, and the
            # run from it is still the try after a takeover, counted first.
            saved.taken_over = job.taken_over
            run_alone(self._c.store, [saved])  # a suspect's try still open runs alone again
            held = self._jobs.keys() | self.outage.resaves.keys()
            self.adopt([saved, *unheld_branches(saved, self._store, held)])
        return True

    # -- what is owed to a store that failed -------------------------------------------------

    def defer(
        self, job: JobRecord, why: str, error: BaseException, *, level: int = logging.WARNING
    ) -> None:
        """Take held ``job`` back as last saved once the store answers; it failed with ``error``.

        What the Scheduler holds of ``job`` is not what the store holds (a runner's slice
        or the Scheduler's own change was not stored), and the store cannot be read now.
        Meanwhile the job counts as handed out, as if a runner still had it: it keeps its
        place and its case's lease, an event for it is saved with its row (early
        delivery) and a cancel is kept for its return, so ``settle`` resumes it like any
        job whose runner's work was lost.
        """
        self._owe(error)
        self._book.hold(job)
        self._book.out.add(job.id)
        self.outage.reloads[job.id] = (job, why, level)

    def settle(self) -> bool:
        """The store answers again: take back and store what it was owed; ``False`` if it failed.

        A deferred job whose case left this worker meanwhile (another worker took it,
        or it was cancelled and ended) is dropped from the debt: its record here is no
        longer the one to resume.
        """
        outage, out = self.outage, self._book.out
        # Until a slice is stored again, a few at a time: 1 at the first settle, twice as
        # many at each next one (a store that answers may still refuse the slices).
        room, outage.ramp = outage.ramp, None if outage.ramp is None else 2 * outage.ramp
        for job_id, (job, why, level) in list(outage.reloads.items()):
            if self._jobs.get(job_id) is not job or job_id not in out:
                del outage.reloads[job_id]  # no longer this worker's to resume
                continue
            if room is not None:
                if room <= 0:
                    break
                room -= 1
            del outage.reloads[job_id]
            out.discard(job_id)
            self._book.returned(job)  # marked cancelled if a cancel came meanwhile
            if not self.resume_saved(job, why, level=level):
                return False  # owed again
        for job_id, job in list(outage.resaves.items()):
            held = self._jobs.get(job_id)
            if job_id in out or (held is not None and held is not job):
                del outage.resaves[job_id]  # taken back as saved since: nothing to store
                continue
            try:
                self._save(job)
            except StoreError as exc:
                outage.failed(exc, self._c.clock.now())
                return False
            del outage.resaves[job_id]
        return True

    def written(self) -> bool:
        """A runner's slice was stored: the store writes again; settle all that is owed now.

        ``False`` if that failed (the next poll settles it).
        """
        self.outage.ramp = None
        if not self.outage.owed:
            return True
        if not self.settle():
            return False
        self.outage.answered(self._c.clock.now())
        return True

    def owe_reply(self, cid: str, error: str, failure: BaseException) -> None:
        """A failed send's fault reply for ``cid`` (``error``) was not delivered: ``failure``.

        Its job is taken back as last saved (parked on ``cid``, see ``save``); the reply
        is delivered after that, at the poll that settles the debt.
        """
        self._owe(failure)
        self.outage.replies.append((cid, error))

    def save_ended(self, job: JobRecord) -> bool:
        """Save a job ended here (or a join fired at a takeover); ``False`` if it was fenced.

        The case tree has moved on when this runs (an ended job is forgotten, its parent
        told), so a failed save cannot be undone. An ended job's record is final: it is
        stored once the store answers (``settle``), and nothing else saves that job
        meanwhile. A fired join is handed to a runner next, whose first save stores the
        job whole (or, if that fails too, the job is taken back as last saved and its
        join fires again).
        """
        if self._batch is not None:
            self._batch.append(job)
        try:
            return self._save(job)
        except StoreError as exc:
            self._owe(exc)
            if job.state.is_final:
                self.outage.resaves.pop(job.id, None)  # kept in the order of the saves
                self.outage.resaves[job.id] = job
            return True

    def _owe(self, error: BaseException) -> None:
        """A store call failed: note it, and make sure a poll comes to settle the debt."""
        c = self._c
        now = c.clock.now()
        self.outage.failed(error, now)
        if not c.store.shared and not self._time.polling():  # shared stores always poll
            self._time.poll_at(now + c.poll_interval)
            self.rearm()
