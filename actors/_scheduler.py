"""The Scheduler actor: admission, dispatch to idle runners, splits, joins, timers, events.

It is the only actor that decides what is ready to run: it keeps every case's
bookkeeping (branches, joins, timers, correlations, cancellation) and puts ready jobs in
the work channel, from which idle runners pull, internal work before new external jobs,
so admitted cases finish before new ones start and memory stays bounded.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import pykka

from actors import messages as m
from actors._case_book import CaseBook, Effect, Finished, Park, Ready, Save, Withdraw
from actors._correlations import Correlations
from actors._engine import job_log, logger
from actors._errors import (
    CodecError,
    EngineStoppedError,
    JobNotFoundError,
    LeaseLostError,
    StoreError,
    UnknownWorkflowError,
)
from actors._job import FINAL_STATES, JobRecord, JobState
from actors._leases import Leases
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
_POLL = "\x00poll"  # the Scheduler's own timer on a shared store (no job id starts so)
_BACKLOG_POLLS = 10  # polls per interval while every claim fills the worker up


class Scheduler(pykka.Actor):
    """Admits jobs, hands them to idle runners and keeps every case's bookkeeping.

    Mixed with a runtime's actor class (threads, or the deterministic harness).
    """

    case_book: type[CaseBook] = CaseBook  # the case tree and joins it keeps

    def __init__(self, engine: Engine, runners: int, resume: list[JobRecord]) -> None:
        super().__init__()
        self._resumable = resume
        self._e = engine
        self._runner_count = runners
        self._runners: list[pykka.ActorRef[Any]] = engine.runner_refs
        self._channel = engine.channel
        self._book = self.case_book(self._first_wins_at)
        self._jobs = self._book.jobs  # read by every concern; changed by the tree alone
        self._kids = self._book.kids
        self._out = self._book.out  # jobs handed out: read here; changed with the book
        self._timers = Timers()
        self._alarm: Alarm | None = None
        self._armed: float | None = None
        self._correlations = Correlations()
        # Cases another worker took over from this one (a fenced save or a heartbeat
        # told us): late reports about their jobs are ignored. Jobs runners handed back
        # because the leases could not be vouched for: made ready again after the next
        # renewal, unless their case was taken over.
        self._leases = Leases(engine.lost_cases)
        self._lost = self._leases.lost  # read here; changed by the leases alone
        self._drain: list[pykka.Future[Any]] = []
        self._unwatch: Callable[[], None] = lambda: None
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
            m.Wake: self._on_wake,
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
            if not getattr(self._e.runtime, "starts_synchronously", False):
                # Cases enqueued for this database are looked for at once, not at the
                # next poll (the harness delivers nothing from outside its schedule).
                ref = self.actor_ref
                self._unwatch = self._e.store.watch(lambda: ref.tell(m.Wake()))

    def on_stop(self) -> None:
        """Stop the alarm and the runners; fail the handles of cases that did not finish."""
        self._shutdown()

    def on_failure(self, *_: object) -> None:
        """Same clean-up as a normal stop, after pykka has logged the error."""
        self._shutdown()

    def _shutdown(self) -> None:
        self._unwatch()
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
            # The record the report carries is the Scheduler's again (a split's parent
            # comes back with its first branch; the branches are new).
            if kind is m.SpawnBranch:
                job = message.parent
            else:
                job = None if kind is m.JobSendFailed else message.job
            if job is not None:
                self._out.discard(job.id)
                if self._book.stopping:
                    self._book.returned(job)
        return handler(message)

    # -- dispatch ------------------------------------------------------------------------------

    def _make_ready(self, job: JobRecord) -> None:
        self._book.hand_over(job)  # not touched here until it comes back
        self._put(job)

    def _put(self, job: JobRecord) -> None:
        """Put ``job``, handed over already, in the work channel."""
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
        self._apply(self._book.spawn(msg.parent, msg.job))
        if self._drain:
            self._check_drain()

    def _on_arrived(self, msg: m.BranchArrived) -> None:
        effects = self._book.arrived(msg.job, msg.join_step)
        if effects is None:
            logger.info("ignoring a repeated arrival of job %s", msg.job.id, extra=job_log(msg.job))
            return
        self._apply(effects)
        if self._drain:
            self._check_drain()

    def _first_wins_at(self, parent: JobRecord, join_step: str) -> bool:
        """Whether ``join_step`` of ``parent``'s workflow is a Discriminator (cached)."""
        key = (parent.workflow, parent.version, join_step)
        first_wins = self._first_wins.get(key)
        if first_wins is None:
            join = self._e.workflow(parent.workflow, parent.version).step(join_step)
            first_wins = self._first_wins[key] = isinstance(join, Discriminator)
        return first_wins

    def _on_parked(self, msg: m.JobParked) -> None:
        # An event that came before this report was saved with the job (_deliver_early):
        # the job goes on at once, as that saved record, instead of parking.
        early = self._correlations.take_early(msg.job.id)
        job = msg.job if early is None else early
        if early is not None:
            early.cancel_requested = msg.job.cancel_requested
        self._book.claim_cancel(job)
        self._book.hold(job)
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
        self._correlations.register(job.id, correlations)

    def _on_ended(self, msg: m.JobEnded) -> None:
        self._apply(self._book.ended(msg.job))
        if self._drain:
            self._check_drain()

    def _on_runner_failed(self, msg: m.RunnerFailed) -> None:
        job = msg.job
        logger.error("runner %d failed; restarting it", msg.runner, extra=job_log(job))
        self._channel.forget_runner(msg.runner)
        if job is not None:
            self._channel.done(job, msg.runner)
            self._book.returned(job)
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
        self._book.hold(job)
        self._end(job, JobState.FAULTED, why or cannot_store)

    def _resume_saved(self, job: JobRecord, why: str) -> None:
        """Run ``job`` again from its last saved step (its runner's work on it was lost)."""
        self._correlations.take_early(job.id)  # the saved row holds the event, if one came early
        if job.case_id in self._lost:
            return  # another worker holds the case now: nothing to resume here
        saved = self._e.store.load(job.id)
        if saved is None:
            self._end(job, JobState.FAULTED, f"{why} and no saved state exists")
            return
        saved.cancel_requested = job.cancel_requested or job.id in self._book.cancels
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
        self._leases.lose(case_id)
        rearm = False
        dropped = self._book.drop_case(case_id)
        self._correlations.forget_case(case_id)
        for job in dropped:
            job_id = job.id
            rearm = self._timers.cancel(job_id) or rearm
            self._correlations.withdraw(job_id, None)
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

    def _apply(self, effects: list[Effect]) -> None:
        """Carry out the case tree's effects in order, skipping those of a case lost midway."""
        lost = self._lost
        for effect in effects:
            job = effect.job
            if lost and job.case_id in lost:
                continue  # a save was fenced: the case is another worker's now
            if isinstance(effect, Ready):  # the most frequent first; handed over by the book
                self._put(job)
            elif isinstance(effect, Finished):
                self._finished(job)
            elif isinstance(effect, Save):
                self._save(job)
            elif isinstance(effect, Park):
                step = self._e.workflow(job.workflow, job.version).step(job.step or "")
                self._park(job, correlations_for(job, step))
            elif isinstance(effect, Withdraw):
                if self._channel.withdraw(job):
                    self._book.returned(job)
                    self._end(job, JobState.CANCELLED, effect.why)
                else:  # a runner took it: it stops before its next step
                    self._stop_running(job, effect.why)
            else:
                self._cancel_tree(job, effect.why)

    def _end(self, job: JobRecord, state: JobState, error: str | None) -> None:
        """End a job the scheduler holds (not one a runner is running)."""
        self._apply(self._book.end(job, state, error))

    def _finalize(self, job: JobRecord) -> None:
        self._apply(self._book.finalize(job))

    def _finished(self, job: JobRecord) -> None:
        """``job`` ended for good: its timer, correlations, figures and handle."""
        job_id = job.id
        if self._timers.cancel(job_id):
            self._rearm()
        self._correlations.withdraw(job_id, EventOutcome.FINISHED)
        self._counts[job.state] += 1
        if self._e.metrics is not None:
            self._e.metrics.finished(job.workflow, job.state)
        if job.parent_id is None:
            self._e.resolve(job.snapshot())

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
            self._correlations.withdraw(job_id, EventOutcome.LATE)
            job.event = ("timer", "", None)
            job.state, job.due = JobState.READY, None
            if self._save(job):
                self._make_ready(job)
        self._rearm()

    def _on_wake(self, _: m.Wake) -> None:
        # Poll now, unless a poll is due now anyway: the wake-ups of a burst of enqueues
        # queue up behind the first, whose poll claims every case of the burst, and find
        # it due already, so a burst costs one poll, not one per case.
        now = self._e.clock.now()
        due = self._timers.due_of(_POLL)
        if self._e.stopping or (due is not None and due <= now):
            return
        self._timers.add(_POLL, now)  # replaces the poll due later
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
            lapsed = now >= e.lease_deadline or self._leases.waiting
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
        if not Leases.must_look(renewed, len(cases), everyone=everyone):
            return
        owner = self._e.owner
        for case_id, holder in self._e.store.lease_owners(sorted(cases)).items():
            if holder is not None and holder != owner:
                self._drop_case(case_id, LeaseLostError(case_id, case_id, holder, owner))

    def _on_unvouched(self, msg: m.LeaseUnvouched) -> None:
        """A runner handed a job back unrun: renew the leases now, then run it on."""
        self._book.hold(msg.job)
        self._leases.hand_back(msg.job)
        self._timers.add(_POLL, self._e.clock.now())
        self._rearm()

    def _revouch(self) -> None:
        """After a renewal: the jobs handed back whose case is still this worker's run on."""
        for job in self._leases.renewed():
            if self._jobs.get(job.id) is job:
                self._make_ready(job)

    def _on_event(self, msg: m.DeliverEvent) -> EventOutcome:
        cid = msg.correlation_id
        correlations = self._correlations
        target = correlations.target(cid)
        if target is None and correlations.answered(cid) is None:
            early = self._deliver_early(cid, msg)
            if early is not None:
                return early
        if target is None and self._e.store.shared and self._take_over_for(cid):
            target = correlations.target(cid)
        if target is None:
            outcome = self._why_undeliverable(cid)
            logger.info("event for %r not delivered: %s", cid, outcome.value, extra=job_log(None))
            return outcome
        job = self._jobs[target[0]]
        correlations.withdraw(job.id, EventOutcome.LATE)
        correlations.remember(cid, EventOutcome.DUPLICATE)
        if self._timers.cancel(job.id):
            self._rearm()
        if not self._take_event(job, target[1], msg):
            correlations.forget(cid)
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
        if self._correlations.waits(job_id) or self._correlations.got_early(job_id):
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
        self._correlations.early(saved)
        for other in waits:
            self._correlations.remember(other, EventOutcome.LATE)
        self._correlations.remember(cid, EventOutcome.DUPLICATE)
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
        seen = self._correlations.answered(cid)
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
            # Started from the gate and not reported yet: its runner has the record.
            self._stop_running(self._channel.running[msg.job_id][1], "cancelled")
            return CancelOutcome.CANCELLED
        if job is None:
            queued = self._e.gate.remove(msg.job_id)
            if queued is not None:
                self._book.hold(queued)
                self._end(queued, JobState.CANCELLED, "cancelled before it started")
                return CancelOutcome.CANCELLED
            saved = self._e.store.get(msg.job_id)
            if saved is not None and saved.state in FINAL_STATES:
                return CancelOutcome.ALREADY_FINISHED
            if saved is not None:  # unfinished: a runner has just parked, split or lost it,
                self._book.cancels.add(msg.job_id)  # and its message is on the way here
                return CancelOutcome.CANCELLED
            return CancelOutcome.NOT_FOUND
        if job.cancel_requested or job.id in self._book.stopping:
            return CancelOutcome.CANCELLED
        if (
            job.id not in self._book.out
            and job.state in FINAL_STATES
            and job.split_live <= 0
            and not self._kids.get(job.id)
        ):
            return CancelOutcome.ALREADY_FINISHED
        self._cancel_tree(job, "cancelled")
        return CancelOutcome.CANCELLED

    def _cancel_tree(self, job: JobRecord, why: str) -> None:
        self._apply(self._book.cancel(job, why))

    def _stop_running(self, job: JobRecord, why: str) -> None:
        """A runner has ``job``: tell it to stop before its next step; mark it when it returns.

        The record is the runner's until its report comes back, so nothing is written
        on it here (``CaseBook.returned`` puts the mark on it then).
        """
        if not self._book.stop(job, why):
            return  # told already
        runner = self._channel.runner_of(job.id)
        if runner is not None:  # else its report is on the way here already
            with contextlib.suppress(pykka.ActorDeadError):  # its failure report is, then
                self._runners[runner].tell(m.StopJob(job.id, why))

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
                self._leases.claim_back(job.case_id)
        self._book.adopt(mine)
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
            wf.step(job.step or "")
        except (UnknownWorkflowError, KeyError) as exc:
            reason = exc.args[0] if exc.args else str(exc)
            self._end(job, JobState.FAULTED, f"cannot resume job {job.id}: {reason}")
            return
        self._apply(self._book.resume(job, wf.steps))

    # -- queries ----------------------------------------------------------------------------------

    def _on_stats(self, _: m.GetStats) -> Stats:
        gate = self._e.gate
        out = self._book.out  # records the channel and runners hold are not read here
        waiting = sum(
            1 for j in self._jobs.values() if j.state is JobState.WAITING and j.id not in out
        )
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
        self._book._check_invariants()
        self._correlations._check_invariants()
        for job_id in self._correlations.by_job():
            assert self._jobs[job_id].state is JobState.WAITING, (
                f"{job_id} waits but is not WAITING"
            )
        self._timers._check_invariants()
        self._e.gate._check_invariants()
