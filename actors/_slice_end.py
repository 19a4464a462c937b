"""What a runner does with the effect that ends a job's slice: end, park, split, arrive, request.

The Runner's step loop (``actors._runner``) runs a job until a step returns one of the
step interpreter's effects; ``SliceEnd`` carries that effect out against the store, the
clock and the work channel, and returns the messages the runner then sends the Scheduler.
It runs once per slice, never per step.
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any

import pykka

from actors import messages as m
from actors._engine import IdMadeAgainError, job_log, logger
from actors._errors import JobNotFoundError, LeaseLostError, user_error
from actors._interpreter import Arrive, End, Park, Request, Split
from actors._job import JobRecord, JobState, has_open_branches, said_once, saved_open
from actors._redact import error_text
from actors._step_ends import fault

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors._engine import EngineConfig
    from actors._errors import CodecError
    from actors._interpreter import Effect
    from actors._steps import Step
    from actors.stores import Store

__all__ = ["SliceEnd", "back_to_saved_data", "parent_missing"]

# Module globals: an enum member read from its class goes through the enum metaclass's
# attribute hook, several times dearer, and these are read every slice.
_DONE, _FAULTED, _WAITING = JobState.DONE, JobState.FAULTED, JobState.WAITING
_CANCELLED = JobState.CANCELLED


def back_to_saved_data(store: Store, job: JobRecord, exc: BaseException) -> str:
    """Give ``job`` its last saved data back (``exc``: why newer data could not be stored).

    Returns the reason to fault it with. Used by a runner, and by the Scheduler when a
    store committing on a writer thread reports the failure after the runner moved on.
    """
    saved = store.load(job.id)
    if saved is not None:
        job.data = saved.data
    job.event = None
    return f"step {job.step!r}: data cannot be stored: {exc}"


def parent_missing(job: JobRecord) -> str:
    """Why a branch faults when its join finds no row of the split's parent."""
    return f"its split's parent job {job.parent_id!r} is missing from the store"


class SliceEnd:
    """Carries out the effect that ends a slice, for the runner at ``index``.

    Args:
        engine: the engine's configuration (store, clock, channel, ids).
        index: the runner's index, which its reports carry.
        scheduler: the Scheduler's ref (a request parks through it before it is sent).
        last_look: the runner's last look for a stop before a job ends or arrives at a
            join (why it was cancelled, if it was; see ``Runner._cancel``).
    """

    def __init__(
        self,
        engine: EngineConfig,
        index: int,
        scheduler: pykka.ActorRef[Any],
        last_look: Callable[[JobRecord], str | None],
    ) -> None:
        self._e = engine
        self._index = index
        self._scheduler = scheduler
        self._last_look = last_look

    def stored(self, job: JobRecord, outcome: list[Any], *, alone: bool) -> list[Any]:
        """Store the slice ending in ``outcome`` now; the reports to send the Scheduler.

        A slice run ``alone`` (the store refused the job's earlier ones: see
        ``actors._unsaved_slices``) that is not stored is reported so, like a slice a
        writer thread failed to store: the Scheduler decides whether it runs again.
        """
        if not alone:
            self._e.store.end_slice()
            return outcome
        try:
            self._e.store.end_slice()
        except LeaseLostError:
            raise  # the runner's own path: the case is another worker's now
        except Exception as exc:  # the Scheduler judges it (an outage waits for the store)
            return [m.SliceUnsaved(self._index, job, exc)]
        return outcome

    def unstorable(self, job: JobRecord, ran: str | None, exc: CodecError) -> list[Any]:
        """Step ``ran`` left data the store cannot keep: fault the job at *that* step.

        The job ends at the step that put the value there (not the one it would have
        gone on to), with its last saved data and the path of the bad value.
        """
        if ran is not None:
            job.step = ran
        return self.finish(job, JobState.FAULTED, back_to_saved_data(self._e.store, job, exc))

    def apply(self, job: JobRecord, step: Step | None, effect: Effect) -> list[Any]:
        """Carry out the effect that ends the slice; the messages to send the Scheduler."""
        if type(effect) is Arrive:  # the most frequent first: each branch reaching its join
            assert step is not None
            return self._arrive(job, step, effect)
        if type(effect) is End:
            return self.finish(job, effect.state, effect.error, effect.cause)
        stopped = self._stopped(job)  # a split, a park or a request goes on: unless...
        if stopped is not None:
            return stopped
        if type(effect) is Park:
            return self._park(job, effect)
        if type(effect) is Split:
            assert step is not None
            return self._split(job, step, effect)
        assert type(effect) is Request
        return self._request(job, effect)

    def _stopped(self, job: JobRecord) -> list[Any] | None:
        """``job`` ended ``CANCELLED`` if a stop came as its step ran; ``None``: it goes on.

        Saved split or parked instead, the job's row would lose the cancel's mark, and
        the cancel with it should the engine stop before the slice's reports.
        """
        why = self._last_look(job)
        if why is not None:
            return self.finish(job, _CANCELLED, why)
        # It ends no job: a cancel from here on is carried out with the slice's reports.
        self._e.channel.last_look.pop(job.id, None)
        return None

    def finish(
        self,
        job: JobRecord,
        state: JobState,
        error: str | None,
        cause: BaseException | None = None,
    ) -> list[Any]:
        """End ``job`` in ``state`` (with ``error``), saved; the report to send.

        ``cause``: the user's exception that faulted it, logged with its traceback.
        A job cancelled before this last look ends ``CANCELLED`` instead.
        """
        if state is not _CANCELLED and (why := self._last_look(job)) is not None:
            state, error, cause = _CANCELLED, why, None
        job.state = state
        # A task's exception may quote a URL with its password: the error is stored,
        # logged, shown by `jobs show` and put on spans, so it is masked (and cut to a
        # size a row and a log line can hold) once, here.
        job.error = error_text(error) if error is not None else None
        # Branches of it may still run (a Discriminator's others, being cancelled): the
        # case is not over, so its row is not saved final yet (see saved_open).
        still_open = has_open_branches(job)
        self._e.store.save(saved_open(job) if still_open else job)
        if state is _FAULTED:
            logger.warning(
                "job %s faulted at step %r: %s",
                job.id,
                job.step,
                said_once(job.step, str(job.error)),
                exc_info=cause,
                extra=job_log(job),
            )
        return [m.JobEnded(self._index, job, still_open)]

    def _park(self, job: JobRecord, park: Park) -> list[Any]:
        job.state = _WAITING
        job.due = None if park.delay is None else self._e.clock.now() + park.delay
        self._e.store.save(job)
        return [m.JobParked(self._index, job, park.correlations)]

    def _split(self, job: JobRecord, step: Step, split: Split) -> list[Any]:
        new_id, make = self._e.new_id, JobRecord.branch
        try:  # a user's ids factory: its failure is the split's, or the runner would loop
            ids = [new_id() for _ in split.starts]
        except IdMadeAgainError as made:  # made lately, for a job perhaps not yet stored
            return self.apply(job, step, fault(job, step, _taken(made.job_id)))
        except BaseException as exc:
            if not user_error(exc):
                raise
            why = f"making its branches' ids: {type(exc).__name__}: {exc}"
            return self.apply(job, step, fault(job, step, why))
        # An id made twice lately raised above; an older one the store may hold, and a
        # branch saved under it would write over that job.
        taken = self._e.store.existing(ids) if self._e.ids_given else ()
        if taken:
            return self.apply(job, step, fault(job, step, _taken(min(taken))))
        case, name, version, parent, gen = job.case_id, job.workflow, job.version, job.id, job.gen
        branches = [
            make(job_id, case, name, version, start, data, parent, i, gen)
            for i, (job_id, (start, data)) in enumerate(zip(ids, split.starts, strict=True))
        ]
        self._e.store.save_split(job, branches)
        return [
            m.SpawnBranch(branch, parent=job if i == 0 else None)
            for i, branch in enumerate(branches)
        ]

    def _arrive(self, job: JobRecord, step: Step, arrive: Arrive) -> list[Any]:
        assert job.parent_id is not None
        assert job.branch_index is not None
        why = self._last_look(job)
        if why is not None:  # cancelled before it arrived: it ends so, not counted
            return self.finish(job, _CANCELLED, why)
        # Count the arrival in the store first, then end the branch: if the process dies
        # in between, the branch reruns this step and the store ignores the repeat, so
        # no arrival is lost or counted twice.
        try:
            self._e.store.record_arrival(
                job.parent_id,
                job.parent_gen,
                job.branch_index,
                job.data,
                join_step=arrive.step,
                needed=arrive.needed,
            )
        except JobNotFoundError:
            # Running the branch again would reach the same missing row: it ends here.
            return self.apply(job, step, fault(job, step, parent_missing(job)))
        job.step = arrive.step
        job.state = _DONE
        # Past a Discriminator of its own, its losers may still run: saved open, as an
        # ending job is (its parent's join counts it all the same: its arrival is stored).
        still_open = has_open_branches(job)
        self._e.store.save(saved_open(job) if still_open else job)
        return [m.BranchArrived(self._index, job, arrive.step, still_open)]

    def _request(self, job: JobRecord, request: Request) -> list[Any]:
        # Park first: the Scheduler learns the correlation id before any reply can reach
        # it, so a synchronous responder's reply is applied exactly once. The record is
        # the Scheduler's from then on: send() gets the copy of the data made before.
        parked = self._park(job, request.park)
        try:
            self._e.store.end_slice()  # stored before the Scheduler hears of it
        except LeaseLostError:
            raise  # the runner's own path: the case is another worker's now
        except Exception as exc:
            # The park was not stored (a group writer's transaction failed): the
            # Scheduler resumes the job from its last stored save, as for any slice not
            # stored, and the step sends its request when it runs again. Not a runner
            # crash: the runner is sound, and the record it parked is the Scheduler's.
            return [m.SliceUnsaved(self._index, job, exc)]
        # Counted before the job leaves: until it is handled, the report shows the work
        # that ``running`` showed (``WorkChannel.quiet``).
        self._e.channel.sent[self._index] += 1
        self._e.channel.done(job, self._index)
        stopping = False
        try:
            self._scheduler.tell(parked[0])
        except pykka.ActorDeadError:
            # The engine is stopping, and lets this step finish: the park is stored, and
            # the request goes out, so that a reply (to the store, or to the next
            # worker) finds the job waiting for it.
            stopping = True
        # The harness's choice point inside the send (none in production): a worker that
        # freezes here sends later, once, after other actors ran (the case timed out).
        send_hook = getattr(self._e.runtime, "send_hook", None)
        if send_hook is not None and send_hook(
            self._index, job, functools.partial(self._send_late, job, request)
        ):
            return []
        return self._send(job, request, stopping=stopping)

    def _send(self, job: JobRecord, request: Request, *, stopping: bool) -> list[Any]:
        """Send the request of ``job``, parked and stored; a failed send's report, if any."""
        try:
            request.send(request.data, request.context)
        except BaseException as exc:  # a failed send is a fault reply
            if not user_error(exc):
                raise
            why = f"{type(exc).__name__}: {exc}"
            cid = request.park.correlations[0][0]
            if stopping:
                logger.warning(
                    "job %s: its request %s failed as the engine stopped (%s); the job "
                    "waits for a reply as stored, until its timeout if it has one",
                    job.id,
                    cid,
                    why,
                    extra=job_log(job),
                )
                return []
            return [m.JobSendFailed(cid, why)]
        return []

    def _send_late(self, job: JobRecord, request: Request) -> None:
        """Send as a worker frozen in ``send`` does when it wakes: its report goes on."""
        for message in self._send(job, request, stopping=False):
            # The Scheduler judges a failure (a fault reply, or late if the job moved on).
            with contextlib.suppress(pykka.ActorDeadError):
                self._scheduler.tell(message)


def _taken(job_id: str) -> str:
    """Why a split faults whose ids factory made ``job_id``, which names another job."""
    return f"Mediator(ids=...) made id {job_id!r:.80} for a branch, which is taken"
