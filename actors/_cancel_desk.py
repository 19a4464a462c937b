"""Where a cancel finds its job: on a runner, queued at the gate, only in the store, or held.

A plain object owned by the Scheduler, which hands it every ``CancelJob`` (from a
handle, the Mediator or an operator's request). A job a runner holds is stopped through
the runner's lane; one still queued at the admission gate ends there; one the store has
but no collaborator holds is noted for when its runner's report arrives; one the case
tree holds is cancelled by the tree, with its branches. A job whose runner has taken its
last look for a stop (``WorkChannel.last_look``) may end as its slice ends it whatever
the stop says: that cancel is answered once the runner's report is in (``Owed``). It
runs on the Scheduler's thread alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors import messages as m
from actors._cases import shown_id
from actors._engine import job_log, logger
from actors._errors import EngineStoppedError, StoreError
from actors._job import FINAL_STATES, Job, JobState
from actors._outcomes import CancelOutcome

if TYPE_CHECKING:
    from collections.abc import Callable

    import pykka

    from actors._case_book import CaseBook
    from actors._effects import Effects
    from actors._engine import EngineConfig
    from actors._job import JobRecord

__all__ = ["CancelDesk", "Owed", "settle"]

_ENDS = (m.JobEnded, m.BranchArrived)  # the reports of a slice that may end its job
_FINISHED = FINAL_STATES - {JobState.CANCELLED}  # a job's ends a cancel comes too late for


def settle(future: pykka.Future[Any], outcome: CancelOutcome | EngineStoppedError) -> None:
    """Answer a waiting cancel's ``future`` with ``outcome`` (an error is raised to its waiter)."""
    if isinstance(outcome, BaseException):
        future.set_exception((type(outcome), outcome, None))
    else:
        future.set(outcome)


class Owed:
    """The answer to a cancel of job ``job_id``, due once its runner's report is in.

    Each callback given to ``then`` gets the outcome, or an ``EngineStoppedError`` when
    the engine stopped first; all on the Scheduler's thread.
    """

    __slots__ = ("_then", "job_id")

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self._then: list[Callable[[CancelOutcome | EngineStoppedError], None]] = []

    def then(self, answer: Callable[[CancelOutcome | EngineStoppedError], None]) -> None:
        """Have ``answer`` called with the outcome when it is known."""
        self._then.append(answer)

    def settle(self, outcome: CancelOutcome | EngineStoppedError) -> None:
        """Give every callback the outcome (one that fails is logged; the others still get it)."""
        for answer in self._then:
            try:
                answer(outcome)
            except Exception:  # on the Scheduler's thread: it must go on
                logger.exception(
                    "answering a cancel of job %s failed", self.job_id, extra=job_log(None)
                )


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
        self._looked = engine.channel.last_look
        self.owed: dict[str, Owed] = {}  # by job id: answers due with its runner's report

    def _ours(self, saved: Job) -> bool:
        """Whether this engine runs ``saved``'s case: its version, and (shared) its lease."""
        if (saved.workflow, saved.version) not in self._e.workflows:
            return False
        store = self._e.store
        if not store.shared:
            return True  # a private store: its one engine runs every unfinished case
        return store.lease_owners([saved.case_id]).get(saved.case_id) == self._e.owner

    def cancel(self, job_id: str) -> CancelOutcome | Owed | None:  # noqa: PLR0911 - one per case
        """Cancel the job ``job_id`` (and its branches); what became of it.

        ``None``: the store holds it unfinished, but not for this Scheduler (a version it
        does not serve, a case another worker holds); ``Mediator.cancel`` then cancels
        it as an operator would, through the store. ``Owed``: its runner may have looked
        for a stop for the last time; the answer comes with its report.
        """
        owed = self.owed.get(job_id)
        if owed is not None:
            return owed
        job = self._jobs.get(job_id)
        if job is None:
            # Looked for where a job started from the gate goes, in that order: a runner
            # takes it into ``running`` as it leaves the gate (under the gate's lock), and
            # hands its slice to the store's writer before it leaves ``running``.
            queued = self._e.gate.remove(job_id)
            if queued is not None:
                self._book.hold(queued)
                self._fx.end(queued, JobState.CANCELLED, "cancelled before it started")
                return CancelOutcome.CANCELLED
            # One read: a runner may release its job between two (``done`` takes no lock).
            held = self._channel.running.get(job_id)
            if held is not None:
                # Not reported yet: its runner has the record.
                self._fx.stop_running(held[1], "cancelled")
                return self._after_stop(held[1])
            # Its runner handed its slice to the store's writer, which reports it once it
            # is stored: until then the store holds the job as it was before the slice.
            late = self._when_stored(self._storing(job_id))
            if late is not None:
                return late
            saved = self._e.store.get(job_id)
            if saved is not None and saved.state in FINAL_STATES:
                return CancelOutcome.ALREADY_FINISHED
            if saved is None:
                return CancelOutcome.NOT_FOUND
            if not self._ours(saved):
                return None
            # Unfinished and this Scheduler's: a runner has just parked, split or lost it,
            # or made it a branch of a split, and its message is on the way here; or it
            # saved it to resume as a non-draining shutdown began, and reports nothing.
            # The store's mark carries the cancel to the next start then.
            self._book.cancels.add(job_id)
            self._e.store.mark_cancel(job_id, "cancelled")
            return CancelOutcome.CANCELLED
        return self._cancel_held(job)

    def _cancel_held(self, job: JobRecord) -> CancelOutcome | Owed:
        """Cancel ``job``, which the case tree holds (with a runner, maybe, or parked)."""
        if job.id in self._book.stopping:
            # Told to stop already (its case's cancel): its runner may still end it as its
            # slice ended it, so this answer waits for that runner as the first would have.
            if job.state is not JobState.CANCELLED and self._channel.left(job):
                late = self._when_stored(job)
                if late is not None:
                    return late
            return self._after_stop(job)
        if job.cancel_requested:
            return CancelOutcome.CANCELLED
        if job.id not in self._out:
            late = self._too_late(job)
            if late is not None:
                return late
        if job.id in self._out and self._channel.left(job):
            # Its runner has left it and reports on it next: the record is as its slice
            # left it, and a slice that ended the job stands (once stored).
            late = self._when_stored(job)
            if late is not None:
                return late
        self._fx.apply_cancel(self._book.cancel(job, "cancelled"))
        if not job.state.is_final and job.id not in self._out:
            self._fx.mark_cancel(job, "cancelled")  # a parent its branches' reports end
        return self._after_stop(job)

    def _after_stop(self, job: JobRecord) -> CancelOutcome | Owed:
        """The answer to a cancel whose runner (if one has ``job``) was just told to stop.

        Read after the stop was told, as the runner enters the job in ``last_look``
        before it reads its stops: not there, the runner reads this stop before the
        slice ends; there, it may end as its slice ended it, and the report says.
        """
        if self._looked.get(job.id) is not job:
            return CancelOutcome.CANCELLED
        owed = self.owed[job.id] = Owed(job.id)
        return owed

    def reported(self, kind: type, job: JobRecord) -> None:
        """The Scheduler has a report (``kind``) on ``job`` from its runner: answer its cancels."""
        if self._looked.get(job.id) is job:
            del self._looked[job.id]
        owed = self.owed.pop(job.id, None)
        if owed is not None:
            owed.settle(self._outcome(kind, job))

    def _outcome(self, kind: type, job: JobRecord) -> CancelOutcome:
        """What the cancel of ``job`` came to, given its runner's report of kind ``kind``.

        A slice that ended the job otherwise than cancelled (DONE, FAULTED, arrived at its
        join) stands; one that parked, split or handed it back carries the cancel out.
        A runner that died leaves the job as last saved, which the mark cancels unless
        that save ended it.
        """
        if kind is m.RunnerFailed:
            try:
                saved = self._e.store.get(job.id)
            except StoreError:  # it resumes from a save the mark is on (or that ended it)
                return CancelOutcome.CANCELLED
            if saved is None or saved.state not in _FINISHED:
                return CancelOutcome.CANCELLED
            return CancelOutcome.ALREADY_FINISHED
        if kind not in _ENDS or job.state is JobState.CANCELLED:
            return CancelOutcome.CANCELLED
        return self._too_late(job) or CancelOutcome.CANCELLED

    def stopped(self) -> None:
        """The engine stops: every cancel still owed an answer is told so."""
        owed, self.owed = self.owed, {}
        for answer in owed.values():
            answer.settle(
                EngineStoppedError(
                    f"the mediator stopped before the runner of job {shown_id(answer.job_id)} "
                    "reported on it, so the cancel's outcome is not known: the cancel is "
                    "stored, and a durable store's job is cancelled on the next start "
                    "unless its last step had ended it"
                )
            )

    def _storing(self, job_id: str) -> JobRecord | None:
        """``job_id``'s record, if the store's writer has its slice and has not stored it."""
        # A copy: runners and the writer change the dict (``dict.copy`` is one step).
        for job in self._channel.storing.copy().values():
            if job.id == job_id:
                return job
        return None

    def _when_stored(self, job: JobRecord | None) -> CancelOutcome | Owed | None:
        """``_too_late``, but owed while the slice that ended ``job`` is not stored yet.

        The store's writer may yet lose that slice (a group the store failed to write):
        the job then resumes from its last stored save, and the cancel is carried out
        (``ALREADY_FINISHED`` would not be the truth). So its runner's stop is noted, as
        for a running job, and the answer comes with the writer's report.
        """
        late = self._too_late(job)
        if late is None or job is None or self._storing(job.id) is not job:
            return late
        self._fx.stop_running(job, "cancelled")
        owed = self.owed[job.id] = Owed(job.id)
        return owed

    def _too_late(self, job: JobRecord | None) -> CancelOutcome | None:
        """The answer to a cancel of ``job`` whose runner has left it, if its slice ended it.

        The cancel came too late: the job ends as its slice ended it, as it would once
        stored (``ALREADY_FINISHED``). ``None``: it goes on (parked, split, handed back)
        or, cancelled, has branches running, and the cancel is carried out when its
        report comes.
        """
        if job is None or job.state not in FINAL_STATES:
            return None
        if job.state in _FINISHED:
            # Ended by its last step: branches it still has are a Discriminator's losers,
            # being cancelled already; looked at all the same, as a cancel that changes
            # nothing must not leave a branch running.
            return CancelOutcome.ALREADY_FINISHED if self._ended_below(job) else None
        if job.split_live > 0 or self._kids.get(job.id):
            return None
        return CancelOutcome.ALREADY_FINISHED

    def _ended_below(self, job: JobRecord) -> bool:
        """Whether the cancel of ended ``job`` would change nothing below it either.

        Its branches still running (a split with no join, a ``Discriminator``'s losers)
        are cancelled with it, unless every one of them is being cancelled already (the
        losers are, once the first branch won) and the current split's branches still on
        their way here end cancelled as they come (the split's ``Discriminator`` won).
        """
        jobs, kids, stopping = self._jobs, self._kids, self._book.stopping
        stack = [job]
        while stack:
            parent = stack.pop()
            held = [jobs[k] for k in kids.get(parent.id, ()) if k in jobs]
            spawned = sum(1 for kid in held if kid.parent_gen == parent.gen)
            if parent.split_live > spawned and not parent.joined:
                return False  # branches on their way that would run
            for kid in held:
                if kid.state in FINAL_STATES or kid.cancel_requested or kid.id in stopping:
                    stack.append(kid)  # its own branches may still run on
                else:
                    return False
        return True
