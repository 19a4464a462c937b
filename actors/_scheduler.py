"""The Scheduler actor: admission, dispatch to idle runners, splits, joins, timers, events.

It is the only actor that decides what is ready to run: it keeps every case's
bookkeeping (branches, joins, timers, correlations, cancellation) and puts ready jobs in
the work channel, from which idle runners pull, internal work before new external jobs,
so admitted cases finish before new ones start and memory stays bounded.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import pykka

from actors import messages as m
from actors._engine import job_log, logger
from actors._errors import (
    CodecError,
    EngineStoppedError,
    JobNotFoundError,
    LeaseLostError,
    StoreError,
    UnknownWorkflowError,
)
from actors._job import FINAL_STATES, JobRecord, JobState, branch_fault
from actors._outcomes import CancelOutcome, EventOutcome, Stats
from actors._requests import serve_requests
from actors._runner import Runner, back_to_saved_data, correlations_for, parent_missing
from actors._served import UnservedLog
from actors._steps import Discriminator
from actors._timers import Timers

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors._clock import Alarm
    from actors._engine import Engine
    from actors._workflow import Workflow

__all__ = ["Scheduler"]

# Messages a runner sends about the job it ran: counted for the runner/Scheduler flow control.
_REPORTS = frozenset(
    {
        m.SpawnBranch,
        m.BranchArrived,
        m.JobParked,
        m.JobEnded,
        m.JobSendFailed,
        m.CaseLost,
        m.SliceUnsaved,
        m.LeaseUnvouched,
    }
)
# Reports about one job of a case: ignored once this worker has lost the case.
_JOB_REPORTS = frozenset(
    {m.SpawnBranch, m.BranchArrived, m.JobParked, m.JobEnded, m.LeaseUnvouched}
)
_LOST_MEMORY = 10_000  # lost case ids remembered, to ignore late reports about them
_ANSWERED_MEMORY = 10_000  # correlation ids remembered to tell DUPLICATE from UNKNOWN
_POLL = "\x00poll"  # the Scheduler's own timer on a shared store (no job id starts so)
_BACKLOG_POLLS = 10  # polls per interval while every claim fills the worker up


class Scheduler(pykka.Actor):
    """Admits jobs, hands them to idle runners and keeps every case's bookkeeping.

    Mixed with a runtime's actor class (threads, or the deterministic harness).
    """

    def __init__(self, engine: Engine, runners: int, resume: list[JobRecord]) -> None:
        super().__init__()
        self._resumable = resume
        self._e = engine
        self._runner_count = runners
        self._runners: list[pykka.ActorRef[Any]] = engine.runner_refs
        self._channel = engine.channel
        self._jobs: dict[str, JobRecord] = {}
        self._kids: dict[str, set[str]] = {}
        # Jobs whose own thread ended while branches of theirs still run (after a
        # Discriminator): they end for good with their last branch. Kept here rather than
        # read off the record, which a runner may be changing at the same moment.
        self._held: set[str] = set()
        # Cancels of jobs whose own message (parked, split, runner failed) was still on
        # its way here: applied when the job arrives.
        self._cancels: set[str] = set()
        self._timers = Timers()
        self._alarm: Alarm | None = None
        self._armed: float | None = None
        self._corr: dict[str, tuple[str, str]] = {}
        # Jobs that got an event while their park's report was still on the way (stored,
        # not yet heard of): made ready when the report comes, instead of parked.
        self._early: dict[str, JobRecord] = {}
        self._job_corrs: dict[str, tuple[str, ...]] = {}
        self._answered: OrderedDict[str, EventOutcome] = OrderedDict()
        # Cases another worker took over from this one (a fenced save or a heartbeat
        # told us): late reports about their jobs are ignored.
        self._lost: OrderedDict[str, None] = engine.lost_cases
        # Jobs runners handed back because the leases could not be vouched for: made
        # ready again after the next renewal, unless their case was taken over.
        self._unvouched: dict[str, JobRecord] = {}
        self._drain: list[pykka.Future[Any]] = []
        self._counts = dict.fromkeys(JobState, 0)
        # Whether a join step is a Discriminator, by (workflow, version, step): asked on
        # every branch arrival, and workflows never change.
        self._first_wins: dict[tuple[str, int, str], bool] = {}
        self._unserved = UnservedLog(engine.workflows)
        self._handlers: dict[type, Callable[[Any], Any]] = {
            m.Admitted: self._on_admitted,
            m.SpawnBranch: self._on_spawn,
            m.BranchArrived: self._on_arrived,
            m.JobParked: self._on_parked,
            m.JobEnded: self._on_ended,
            m.RunnerFailed: self._on_runner_failed,
            m.CaseLost: lambda msg: self._drop_case(msg.job.case_id, msg.error),
            m.LeaseUnvouched: self._on_unvouched,
            m.SliceUnsaved: self._on_slice_unsaved,
            m.JobShed: self._on_shed,
            m.RunnerIdle: lambda _: self._check_drain() if self._drain else None,
            m.TimerDue: self._on_timer_due,
            m.DeliverEvent: self._on_event,
            m.JobSendFailed: lambda msg: self._on_event(
                m.DeliverEvent(msg.correlation_id, msg.error, fault=True)
            ),
            m.CancelJob: self._on_cancel,
            m.TakeCase: self._on_take_case,
            m.GetStats: self._on_stats,
            m.Drain: self._on_drain,
            m.Schedule: self._on_schedule,
        }

    # -- life cycle --------------------------------------------------------------------------

    def on_start(self) -> None:
        """Arm the alarm, start the runners, and resume unfinished jobs found in the store."""
        self._alarm = self._e.clock.alarm(self._ring)
        for index in range(self._runner_count):
            self._runners.append(self._start_runner(index))
        self._adopt([job for job in self._resumable if job.id not in self._jobs])
        self._resumable = []
        if self._e.store.shared:
            with contextlib.suppress(StoreError):  # the polls look again
                self._unserved.check(self._e.store, self._e.clock.now())
            self._timers.add(_POLL, self._e.clock.now() + self._e.poll_interval)
            self._rearm()

    def on_stop(self) -> None:
        """Stop the alarm and the runners; fail the handles of cases that did not finish."""
        self._shutdown()

    def on_failure(self, *_: object) -> None:
        """Same clean-up as a normal stop, after pykka has logged the error."""
        self._shutdown()

    def _shutdown(self) -> None:
        if self._alarm is not None:
            self._alarm.close()
        self._e.gate.close()
        for ref in self._runners:
            ref.stop(block=False)
        unfinished = self._e.fail_all(
            EngineStoppedError("the mediator stopped before the case ended")
        )
        if unfinished:
            logger.warning(
                "stopped with %d unfinished case(s) still watched", unfinished, extra=job_log(None)
            )
        for fut in self._drain:
            fut.set(None)

    def _start_runner(self, index: int) -> pykka.ActorRef[Any]:
        cls = self._e.runtime.actor_class(Runner)  # type: ignore[type-abstract]
        return cls.start(self._e, index, self.actor_ref)

    def _ring(self) -> None:
        with contextlib.suppress(pykka.ActorDeadError):  # it rang as the engine stopped
            self.actor_ref.tell(m.TimerDue())

    def on_receive(self, message: Any) -> Any:
        """Route a message to its handler."""
        kind = type(message)
        handler = self._handlers.get(kind)
        if handler is None:
            return super().on_receive(message)
        if kind in _REPORTS:
            channel = self._channel
            channel.handled += 1
            if channel.wants_admission():  # the backlog that held admission back shrank
                self._dispatch()
            if self._lost and kind in _JOB_REPORTS and message.job.case_id in self._lost:
                logger.info(
                    "ignoring a report on job %s: its case is another worker's now",
                    message.job.id,
                    extra=job_log(message.job),
                )
                if self._drain:
                    self._check_drain()
                return None
        return handler(message)

    # -- dispatch ------------------------------------------------------------------------------

    def _make_ready(self, job: JobRecord) -> None:
        runner = self._channel.put(job)
        if runner is not None:
            self._runners[runner].tell(m.RunJob(job))

    def _dispatch(self) -> None:
        """Hand admitted jobs to idle runners; answer drain requests once all is quiet."""
        for runner, job in self._channel.assign_admitted():
            self._runners[runner].tell(m.RunJob(job))
        if self._drain:
            self._check_drain()

    # -- messages from producers ---------------------------------------------------------------

    def _on_admitted(self, _: m.Admitted) -> None:
        self._dispatch()

    def _on_schedule(self, msg: m.Schedule) -> Any:
        return self._e.admit(
            msg.workflow, msg.data, version=msg.version, block=False, reply_to=msg.reply_to
        )

    def _on_shed(self, msg: m.JobShed) -> None:
        job = msg.job
        job.state = JobState.SHED
        job.error = "shed: evicted from the full admission mailbox (DROP_OLDEST)"
        if not self._save(job):
            return
        self._counts[JobState.SHED] += 1
        if self._e.metrics is not None:
            self._e.metrics.shed(job.workflow)
        snapshot = job.snapshot()
        logger.warning(
            "job %s (%s) shed from the admission mailbox", job.id, job.workflow, extra=job_log(job)
        )
        if self._e.on_shed is not None:
            try:
                self._e.on_shed(snapshot)
            except Exception:
                logger.exception("on_shed hook failed for job %s", job.id, extra=job_log(job))
        self._e.resolve(snapshot)

    # -- messages from runners -----------------------------------------------------------------

    def _on_spawn(self, msg: m.SpawnBranch) -> None:
        if msg.parent is not None:  # the first branch of a split brings its parent
            self._jobs[msg.parent.id] = msg.parent
            self._kids.setdefault(msg.parent.id, set())
            # Count the split's branches now: a branch may end before its siblings'
            # messages arrive, so the set of spawned branches cannot tell "all ended".
            msg.parent.split_live = msg.parent.split_total
        child = msg.job
        assert child.parent_id is not None
        parent = self._jobs[child.parent_id]
        self._jobs[child.id] = child
        self._kids[parent.id].add(child.id)
        if parent.cancel_requested:
            self._end(child, JobState.CANCELLED, "cancelled with its parent before it started")
        elif parent.joined and child.parent_gen == parent.gen:  # a Discriminator already won
            self._end(child, JobState.CANCELLED, "a sibling won the Discriminator")
        else:
            self._make_ready(child)
        if child.branch_index == parent.split_total - 1 and parent.id in self._cancels:
            self._cancels.discard(parent.id)  # cancelled as it split: now all its branches are in
            self._cancel_tree(parent, "cancelled")
        if self._drain:
            self._check_drain()

    def _on_arrived(self, msg: m.BranchArrived) -> None:
        child = msg.job
        if child.id not in self._kids.get(child.parent_id or "", ()):
            # A repeated arrival (a branch re-run after a crash, a duplicated message):
            # the branch has ended already and counted once; nothing more to do.
            logger.info("ignoring a repeated arrival of job %s", child.id, extra=job_log(child))
            return
        self._jobs[child.id] = child
        parent = self._jobs.get(child.parent_id or "")
        if (
            parent is not None
            and not child.cancel_requested
            and parent.state is JobState.WAITING
            and not parent.joined
            and child.parent_gen == parent.gen
        ):
            self._arrive(parent, child, msg.join_step)
            if child.id not in self._jobs:
                return  # the case was lost as the parent was saved
        self._finalize(child)
        if self._drain:
            self._check_drain()

    def _arrive(self, parent: JobRecord, child: JobRecord, join_step: str) -> None:
        if parent.join_step is None:
            parent.join_step = join_step
        elif parent.join_step != join_step:
            parent.branch_error = parent.branch_error or (
                f"branch {child.branch_index} arrived at {join_step!r} but its siblings at "
                f"{parent.join_step!r}; all branches of a split must meet at one join"
            )
            return
        assert child.branch_index is not None
        parent.arrivals[child.branch_index] = child.data
        key = (parent.workflow, parent.version, join_step)
        first_wins = self._first_wins.get(key)
        if first_wins is None:
            join = self._e.workflow(parent.workflow, parent.version).step(join_step)
            first_wins = self._first_wins[key] = isinstance(join, Discriminator)
        if first_wins or len(parent.arrivals) == parent.split_total:
            parent.joined = True
            parent.step = join_step
            parent.event = ("join", join_step, None)
            parent.state = JobState.READY
            # Nothing to save: the arrival that fired the join stored the parent READY at
            # it, with every branch's data (the runner's record_arrival, before it reported).
            self._make_ready(parent)
            if first_wins:
                for kid in list(self._kids.get(parent.id, ())):
                    if kid != child.id and kid in self._jobs:
                        self._cancel_tree(self._jobs[kid], "a sibling won the Discriminator")

    def _on_parked(self, msg: m.JobParked) -> None:
        # An event that came before this report was saved with the job (_deliver_early):
        # the job goes on at once, as that saved record, instead of parking.
        early = self._early.pop(msg.job.id, None)
        job = msg.job if early is None else early
        if early is not None:
            early.cancel_requested = msg.job.cancel_requested
        self._claim_cancel(job)
        self._jobs[job.id] = job
        if job.cancel_requested:
            self._end(job, JobState.CANCELLED, "cancelled")
        elif early is not None:
            self._make_ready(job)
        else:
            self._park(job, msg.correlations)
        if self._drain:
            self._check_drain()

    def _park(self, job: JobRecord, correlations: tuple[tuple[str, str], ...]) -> None:
        if job.due is not None:
            self._timers.add(job.id, job.due)
            self._rearm()
        if correlations:
            for cid, name in correlations:
                self._corr[cid] = (job.id, name)
            self._job_corrs[job.id] = tuple(cid for cid, _ in correlations)

    def _on_ended(self, msg: m.JobEnded) -> None:
        job = msg.job
        self._jobs[job.id] = job
        if job.split_live > 0 or self._kids.get(job.id):
            self._held.add(job.id)
        else:
            self._finalize(job)
        if self._drain:
            self._check_drain()

    def _on_runner_failed(self, msg: m.RunnerFailed) -> None:
        job = msg.job
        logger.error("runner %d failed; restarting it", msg.runner, extra=job_log(job))
        self._channel.forget_runner(msg.runner)
        if job is not None:
            self._channel.done(job, msg.runner)
            self._resume_saved(job, "its runner failed")
        if not self._e.stopping:
            self._runners[msg.runner] = self._start_runner(msg.runner)
        if self._drain:
            self._check_drain()

    def _on_slice_unsaved(self, msg: m.SliceUnsaved) -> None:
        logger.error(
            "job %s: what runner %d saved was not stored (%s)",
            msg.job.id,
            msg.runner,
            msg.error,
            extra=job_log(msg.job),
        )
        job = msg.job
        if isinstance(msg.error, CodecError):
            # Not a passing failure (an unreadable row): running the slice again would
            # fail the same way, so the job faults, as a runner faults it in other modes.
            self._fault_saved(job, msg.error)
        elif isinstance(msg.error, JobNotFoundError) and job.parent_id is not None:
            # The branch's join found no parent row (how a slice meets this error): the
            # same holds on every run, so it faults as a runner faults it in other modes.
            self._fault_saved(job, msg.error, f"step {job.step!r}: {parent_missing(job)}")
        else:
            self._resume_saved(msg.job, "its steps could not be stored")
        if self._drain:
            self._check_drain()

    def _fault_saved(self, job: JobRecord, error: BaseException, why: str | None = None) -> None:
        """End ``job`` FAULTED with its last saved data (what its runner did was not stored).

        ``why`` is the reason to record; by default, that its data cannot be stored.
        """
        if job.case_id in self._lost:
            return
        cannot_store = back_to_saved_data(self._e.store, job, error)
        self._jobs[job.id] = job
        self._end(job, JobState.FAULTED, why or cannot_store)

    def _resume_saved(self, job: JobRecord, why: str) -> None:
        """Run ``job`` again from its last saved step (its runner's work on it was lost)."""
        self._early.pop(job.id, None)  # the saved row holds the event, if one came early
        if job.case_id in self._lost:
            return  # another worker holds the case now: nothing to resume here
        saved = self._e.store.load(job.id)
        if saved is None:
            self._end(job, JobState.FAULTED, f"{why} and no saved state exists")
            return
        saved.cancel_requested = job.cancel_requested or job.id in self._cancels
        logger.warning(
            "job %s resumes from its last saved step %r",
            job.id,
            saved.step,
            extra=job_log(saved),
        )
        self._adopt([saved])

    # -- cases another worker took over ------------------------------------------------------

    def _save(self, job: JobRecord) -> bool:
        """Save a job the Scheduler holds; ``False`` (and the case dropped) if it was fenced."""
        try:
            self._e.store.save(job)
        except LeaseLostError as exc:
            self._drop_case(job.case_id, exc)
            return False
        return True

    def _drop_case(self, case_id: str, error: Exception) -> None:
        """Another worker holds case ``case_id`` now: forget every job of it here.

        Its jobs leave the bookkeeping (running, ready, timers, correlations, children,
        held), nothing of it is saved, runners still in one of its jobs are fenced at
        their next save, and a handle waiting here on the case fails with ``error``.
        """
        self._lost[case_id] = None
        self._lost.move_to_end(case_id)
        for job_id in [k for k, v in self._unvouched.items() if v.case_id == case_id]:
            del self._unvouched[job_id]
        if len(self._lost) > _LOST_MEMORY:
            self._lost.popitem(last=False)
        rearm = False
        dropped = [job for job in self._jobs.values() if job.case_id == case_id]
        for job_id in [k for k, v in self._early.items() if v.case_id == case_id]:
            del self._early[job_id]
        for job in dropped:
            job_id = job.id
            self._jobs.pop(job_id, None)
            self._kids.pop(job_id, None)
            self._held.discard(job_id)
            self._cancels.discard(job_id)
            rearm = self._timers.cancel(job_id) or rearm
            for cid in self._job_corrs.pop(job_id, ()):
                self._corr.pop(cid, None)
        self._channel.withdraw_case(case_id)
        self._e.gate.remove(case_id)  # its root, if admitted here and not started yet
        if rearm:
            self._rearm()
        failed = self._e.fail_case(case_id, error)
        logger.warning(
            "case %s is another worker's now (%s); dropped %d job(s) of it%s",
            case_id,
            error,
            len(dropped),
            ", its handle fails" if failed else "",
            extra=job_log(None),
        )
        if self._drain:
            self._check_drain()

    # -- ends of threads and of cases -----------------------------------------------------------

    def _end(self, job: JobRecord, state: JobState, error: str | None) -> None:
        """End a job the scheduler holds (not one a runner is running)."""
        job.state = state
        job.error = error
        job.due = None
        if not self._save(job):
            return
        if job.split_live > 0 or self._kids.get(job.id):
            self._held.add(job.id)
        else:
            self._finalize(job)

    def _finalize(self, job: JobRecord) -> None:
        job_id = job.id
        self._held.discard(job_id)
        self._cancels.discard(job_id)
        self._jobs.pop(job_id, None)
        self._kids.pop(job_id, None)
        if self._timers.cancel(job_id):
            self._rearm()
        if job_id in self._job_corrs:
            self._withdraw(job, EventOutcome.FINISHED)
        self._counts[job.state] += 1
        if self._e.metrics is not None:
            self._e.metrics.finished(job.workflow, job.state)
        if job.parent_id is None:
            self._e.resolve(job.snapshot())
            return
        parent = self._jobs.get(job.parent_id)
        if parent is not None:
            kids = self._kids.get(parent.id)
            if kids is None or job_id not in kids:
                return  # already counted
            kids.discard(job_id)
            if job.parent_gen == parent.gen:
                parent.split_live -= 1
            self._child_ended(parent, job)

    def _child_ended(self, parent: JobRecord, child: JobRecord) -> None:
        if not (parent.joined or child.parent_gen != parent.gen):
            if child.state is JobState.FAULTED and parent.branch_error is None:
                parent.branch_error = branch_fault(child)
            elif child.state is JobState.CANCELLED:
                parent.branch_cancelled = True
        kids = self._kids.get(parent.id)
        if parent.id in self._held:  # its own thread had already ended
            if not kids and parent.split_live <= 0:
                self._held.discard(parent.id)
                self._finalize(parent)
        elif (
            # Only the parent's current split decides how that split ended: a Discriminator's
            # losing branch may end after its looping parent has split again (even before the
            # new branches are spawned), and must neither end the new split nor hold it open.
            # split_live counts the current split's branches not yet ended, spawned or not.
            child.parent_gen == parent.gen
            and parent.split_live <= 0
            and not parent.joined
            and parent.split_total
            and parent.state is JobState.WAITING
        ):
            self._end(parent, *self._split_outcome(parent))

    def _split_outcome(self, parent: JobRecord) -> tuple[JobState, str | None]:
        """How a split that no join continued ends, once all its branches have ended."""
        if parent.cancel_requested or parent.branch_cancelled:
            return JobState.CANCELLED, parent.error or "a branch was cancelled before its join"
        if parent.arrivals:
            got = f"{len(parent.arrivals)} of {parent.split_total}"
            why = parent.branch_error or "the others ended without reaching it"
            return JobState.FAULTED, f"join {parent.join_step!r} got {got} branches: {why}"
        if parent.branch_error:
            return JobState.FAULTED, parent.branch_error
        return JobState.DONE, None

    # -- timers and events ---------------------------------------------------------------------

    def _rearm(self) -> None:
        due = self._timers.next_due()
        if due != self._armed and self._alarm is not None:
            self._armed = due
            self._alarm.set(due)

    def _on_timer_due(self, _: m.TimerDue) -> None:
        self._armed = None
        now = self._e.clock.now()
        for job_id in self._timers.pop_due(now):
            if job_id == _POLL:
                self._poll(now)
                continue
            job = self._jobs.get(job_id)
            if job is None or job.state is not JobState.WAITING:
                continue
            self._withdraw(job, EventOutcome.LATE)
            job.event = ("timer", "", None)
            job.state, job.due = JobState.READY, None
            if self._save(job):
                self._make_ready(job)
        self._rearm()

    def _poll(self, now: float) -> None:
        """Shared store: renew this worker's leases, and take over cases if there is room.

        Cases come from producers that only write the store, from workers that released
        them, or from workers whose leases expired (they died): each job resumes from
        its last saved step.
        """
        store, e = self._e.store, self._e
        interval = e.poll_interval
        try:
            # Frozen past the deadline, or runners handed jobs back: some cases may be
            # another worker's by now, so look them all up before any step runs again.
            lapsed = now >= e.lease_deadline or bool(self._unvouched)
            renewed = store.heartbeat(e.owner, now, e.lease_seconds)
            self._check_leases(renewed, everyone=lapsed)
            e.vouch(now)
            self._revouch()
            self._unserved.check(store, now)
            serve_requests(self, store, e.owner, now)
            room = e.gate.capacity - len(e.gate) - self._channel.ready
            if room > 0 and not e.stopping:
                taken = store.claim(
                    e.owner, now, e.lease_seconds, limit=room, workflows=e.workflows
                )
                self._adopt([job for job in taken if job.id not in self._jobs])
                if len({job.case_id for job in taken}) >= room:
                    # Every free place was filled, so more cases are likely waiting: look
                    # again soon rather than run at most ``capacity`` cases per interval.
                    interval /= _BACKLOG_POLLS
        except StoreError:
            logger.exception("polling the store failed; trying again", extra=job_log(None))
        self._timers.add(_POLL, now + interval)

    def _check_leases(self, renewed: int, *, everyone: bool = False) -> None:
        """Drop the cases the heartbeat shows another worker has taken over.

        The heartbeat renews one lease per case root this worker holds. Renewing fewer
        than the cases it runs means some lease is gone (taken over, or cleared by a
        case's final save while its last branches end): only then read who holds them,
        or always with ``everyone`` (the leases may have lapsed). A save would be fenced
        anyway; this stops a case that is parked or running here, too.
        """
        cases = {job.case_id for job in self._jobs.values()}
        cases.update(job.case_id for _, job in list(self._channel.running.values()))
        cases.update(self._e.gate.ids())
        if renewed >= len(cases) and not everyone:
            return
        owner = self._e.owner
        for case_id, holder in self._e.store.lease_owners(sorted(cases)).items():
            if holder is not None and holder != owner:
                self._drop_case(case_id, LeaseLostError(case_id, case_id, holder, owner))

    def _on_unvouched(self, msg: m.LeaseUnvouched) -> None:
        """A runner handed a job back unrun: renew the leases now, then run it on."""
        self._jobs[msg.job.id] = msg.job
        self._unvouched[msg.job.id] = msg.job
        self._timers.add(_POLL, self._e.clock.now())
        self._rearm()

    def _revouch(self) -> None:
        """After a renewal: the jobs handed back whose case is still this worker's run on."""
        jobs, self._unvouched = self._unvouched, {}
        for job in jobs.values():
            if self._jobs.get(job.id) is job:
                self._make_ready(job)

    def _withdraw(self, job: JobRecord, why: EventOutcome) -> None:
        for cid in self._job_corrs.pop(job.id, ()):
            self._corr.pop(cid, None)
            self._remember(cid, why)

    def _remember(self, cid: str, outcome: EventOutcome) -> None:
        self._answered[cid] = outcome
        self._answered.move_to_end(cid)
        if len(self._answered) > _ANSWERED_MEMORY:
            self._answered.popitem(last=False)

    def _on_event(self, msg: m.DeliverEvent) -> EventOutcome:
        cid = msg.correlation_id
        target = self._corr.get(cid)
        if target is None and cid not in self._answered:
            early = self._deliver_early(cid, msg)
            if early is not None:
                return early
        if target is None and self._e.store.shared and self._take_over_for(cid):
            target = self._corr.get(cid)
        if target is None:
            outcome = self._why_undeliverable(cid)
            logger.info("event for %r not delivered: %s", cid, outcome.value, extra=job_log(None))
            return outcome
        job = self._jobs[target[0]]
        self._withdraw(job, EventOutcome.LATE)
        self._remember(cid, EventOutcome.DUPLICATE)
        if self._timers.cancel(job.id):
            self._rearm()
        if not self._take_event(job, target[1], msg):
            self._answered.pop(cid, None)
            return EventOutcome.ELSEWHERE
        self._make_ready(job)
        return EventOutcome.DELIVERED

    def _take_event(self, job: JobRecord, name: str, msg: m.DeliverEvent) -> bool:
        """Give ``job`` the event (READY, timer dropped) and save it; ``False`` if fenced."""
        job.event = ("fault" if msg.fault else "reply", name, msg.payload)
        job.state, job.due = JobState.READY, None
        return self._save(job)

    def _deliver_early(self, cid: str, msg: m.DeliverEvent) -> EventOutcome | None:
        """Deliver an event for a park this worker stored but has not heard of yet.

        A runner stores a job's park first and reports it after (with group commit, once
        its group is stored), so an event can come in between. If the store shows the
        job parked on ``cid``, held by this worker and not known here, its report is on
        the way: the event is saved with the job now (durably, as any delivered event),
        and the job is made ready when the report comes. ``None``: not such a case.
        """
        job_id = cid.split("/", 1)[0]
        if job_id in self._early or job_id in self._job_corrs:
            return None
        saved = self._e.store.load(job_id)
        if saved is None or saved.state is not JobState.WAITING or saved.event is not None:
            return None
        try:
            step = self._e.workflow(saved.workflow, saved.version).step(saved.step or "")
        except (UnknownWorkflowError, KeyError):
            return None
        waits = dict(correlations_for(saved, step))
        if cid not in waits:
            return None
        store = self._e.store
        if store.shared and store.lease_owners([saved.case_id]).get(saved.case_id) != (
            self._e.owner
        ):
            return None  # parked here before and released, or another worker's
        if not self._take_event(saved, waits[cid], msg):
            return EventOutcome.ELSEWHERE
        self._early[job_id] = saved
        for other in waits:
            self._remember(other, EventOutcome.LATE)
        self._remember(cid, EventOutcome.DUPLICATE)
        return EventOutcome.DELIVERED

    def _take_over_for(self, cid: str) -> bool:
        """Shared store: claim the case of the job an event names, if no worker holds it.

        A case parked in the database (its worker stopped or died) then resumes here.
        """
        job = self._e.store.get(cid.split("/", 1)[0])
        if job is None or job.state is not JobState.WAITING or job.id in self._jobs:
            return False
        e = self._e
        taken = e.store.claim(
            e.owner, e.clock.now(), e.lease_seconds, 1, case_id=job.case_id, workflows=e.workflows
        )
        self._adopt([j for j in taken if j.id not in self._jobs])
        return bool(taken)

    def _why_undeliverable(self, cid: str) -> EventOutcome:
        seen = self._answered.get(cid)
        if seen is not None:
            return seen
        job = self._e.store.get(cid.split("/", 1)[0])
        if job is not None and job.state in FINAL_STATES:
            return EventOutcome.FINISHED
        if job is not None and self._e.store.shared and job.id not in self._jobs:
            holder = self._e.store.lease_owners([job.case_id]).get(job.case_id)
            if holder != self._e.owner:  # this worker's own job is just not waiting on it
                return EventOutcome.ELSEWHERE
        return EventOutcome.UNKNOWN

    # -- cancellation ----------------------------------------------------------------------

    def _on_cancel(self, msg: m.CancelJob) -> CancelOutcome:
        job = self._jobs.get(msg.job_id)
        if job is None and msg.job_id in self._channel.running:
            job = self._channel.running[msg.job_id][1]  # started from the gate, not yet reported
        if job is None:
            queued = self._e.gate.remove(msg.job_id)
            if queued is not None:
                self._jobs[queued.id] = queued
                self._end(queued, JobState.CANCELLED, "cancelled before it started")
                return CancelOutcome.CANCELLED
            saved = self._e.store.get(msg.job_id)
            if saved is not None and saved.state in FINAL_STATES:
                return CancelOutcome.ALREADY_FINISHED
            if saved is not None:  # unfinished: a runner has just parked, split or lost it,
                self._cancels.add(msg.job_id)  # and its message is on the way here
                return CancelOutcome.CANCELLED
            return CancelOutcome.NOT_FOUND
        if job.cancel_requested:
            return CancelOutcome.CANCELLED
        if job.state in FINAL_STATES and job.split_live <= 0 and not self._kids.get(job.id):
            return CancelOutcome.ALREADY_FINISHED
        self._cancel_tree(job, "cancelled")
        return CancelOutcome.CANCELLED

    def _claim_cancel(self, job: JobRecord) -> None:
        if job.id in self._cancels:
            self._cancels.discard(job.id)
            job.cancel_requested = True
            job.error = job.error or "cancelled"

    def _cancel_tree(self, job: JobRecord, why: str) -> None:
        job.cancel_requested = True
        if job.error is None and job.state not in FINAL_STATES:
            job.error = why
        for kid in list(self._kids.get(job.id, ())):
            if kid in self._jobs:
                self._cancel_tree(self._jobs[kid], why)
        if job.id not in self._jobs:
            return  # it ended through its branches
        if job.state is JobState.READY and not self._channel.withdraw(job):
            return  # a runner just took it: it stops before its next step
        if job.state is JobState.CANCELLED or (
            job.state is JobState.WAITING and job.split_live <= 0 and not self._kids.get(job.id)
        ):
            self._end(job, JobState.CANCELLED, why)

    def _on_take_case(self, msg: m.TakeCase) -> int:
        """Take a case an operator made runnable again (a retry), without waiting to poll."""
        store, e = self._e.store, self._e
        if store.shared:
            taken = store.claim(
                e.owner,
                e.clock.now(),
                e.lease_seconds,
                1,
                case_id=msg.case_id,
                workflows=e.workflows,
            )
        else:
            taken = [job for job in store.unfinished() if job.case_id == msg.case_id]
        fresh = [job for job in taken if job.id not in self._jobs]
        self._adopt(fresh)
        return len(fresh)

    # -- adoption after a crash or restart ---------------------------------------------------------

    def _adopt(self, jobs: list[JobRecord]) -> list[JobRecord]:
        """Take charge of jobs as last saved; each resumes from its last saved step.

        Returns the jobs left alone: those of a workflow (name or version) this process
        does not serve (a worker that serves it can run them; they stay as saved). A
        shared store never hands this worker such a job (its claims name the workflows
        it serves); a store of this process alone may hold some.
        """
        left: list[JobRecord] = []
        mine: list[JobRecord] = []
        for job in jobs:
            if (job.workflow, job.version) not in self._e.workflows:
                left.append(job)
            else:
                mine.append(job)
                self._jobs[job.id] = job
                self._lost.pop(job.case_id, None)  # claimed back
        for job in mine:
            if job.parent_id is not None and job.parent_id in self._jobs:
                self._kids.setdefault(job.parent_id, set()).add(job.id)
        for job in mine:
            self._resume(job)
        if left:
            self._unserved.left(left)
        return left

    def _resume(self, job: JobRecord) -> None:
        if job.id not in self._jobs:
            return  # its case was lost while its siblings were resumed
        try:
            wf = self._e.workflow(job.workflow, job.version)
            step = wf.step(job.step or "")
        except (UnknownWorkflowError, KeyError) as exc:
            reason = exc.args[0] if exc.args else str(exc)
            self._end(job, JobState.FAULTED, f"cannot resume job {job.id}: {reason}")
            return
        # Its adopted, unfinished branches of its current split.
        job.split_live = sum(
            1 for k in self._kids.get(job.id, ()) if self._jobs[k].parent_gen == job.gen
        )
        if job.state in FINAL_STATES:
            self._finalize(job)
        elif job.state is JobState.WAITING and job.split_total and not job.joined:
            self._kids.setdefault(job.id, set())
            if job.split_live <= 0:
                self._settle_split(job, wf)  # every branch ended before the restart
        elif job.state is JobState.WAITING and job.event is None:
            self._park(job, correlations_for(job, step))
        else:
            self._make_ready(job)

    def _settle_split(self, parent: JobRecord, wf: Workflow) -> None:
        """A split whose branches have all ended: fire its join, or end it."""
        join = wf.steps.get(parent.join_step or "")
        complete = len(parent.arrivals) == parent.split_total
        if join is not None and parent.arrivals and (complete or isinstance(join, Discriminator)):
            parent.joined = True
            parent.step = join.name
            parent.event = ("join", join.name, None)
            parent.state = JobState.READY
            if self._save(parent):
                self._make_ready(parent)
        else:
            self._end(parent, *self._split_outcome(parent))

    # -- queries ----------------------------------------------------------------------------------

    def _on_stats(self, _: m.GetStats) -> Stats:
        gate = self._e.gate
        waiting = sum(1 for j in self._jobs.values() if j.state is JobState.WAITING)
        return Stats(
            capacity=gate.capacity,
            queued=len(gate),
            peak_queued=gate.peak,
            ready=self._channel.ready,
            running=len(self._channel.running),
            waiting=waiting,
            timers=len(self._timers) - (_POLL in self._timers),
            admitted=gate.admitted,
            done=self._counts[JobState.DONE],
            faulted=self._counts[JobState.FAULTED],
            cancelled=self._counts[JobState.CANCELLED],
            shed=self._counts[JobState.SHED],
            runners=self._runner_count,
            blocked_producers=gate.waiting_producers,
        )

    def _on_drain(self, _: m.Drain) -> pykka.Future[Any]:
        future = self._e.runtime.create_future()
        self._drain.append(future)
        self._channel.drain_requested = True
        self._check_drain()
        return future

    def _check_drain(self) -> None:
        if not self._channel.quiet():
            return
        waiters, self._drain = self._drain, []
        for fut in waiters:
            fut.set(None)

    def _check_invariants(self) -> None:
        """Internal consistency, checked by the harness after every delivery."""
        self._channel._check_invariants()
        for parent_id, kids in self._kids.items():
            for kid in kids:
                assert self._jobs[kid].parent_id == parent_id
        for cid, (job_id, _) in self._corr.items():
            assert self._jobs[job_id].state is JobState.WAITING, f"{cid} targets a non-waiting job"
        self._timers._check_invariants()
        self._e.gate._check_invariants()
