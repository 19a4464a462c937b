"""The Scheduler actor: admission, dispatch to idle runners, splits, joins, timers, events.

It is the only actor that decides what is ready to run: it keeps every case's
bookkeeping and puts ready jobs in the work channel, from which idle runners pull,
internal work before new external jobs, so admitted cases finish before new ones start
and memory stays bounded. The decisions live in plain collaborators it owns (the case
tree, event delivery, cancels, timers, leases and polls, recovery, figures); this actor
routes messages to them and carries out the effects they return against the store, the
work channel, the alarm and the handles.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Any, ClassVar

import pykka

from actors import messages as m
from actors._admit import Admissions
from actors._cancel_desk import CancelDesk, Owed, settle
from actors._case_book import CaseBook
from actors._case_store import CaseStore
from actors._crew import JOB_REPORTS, REPORTS, Crew
from actors._effects import Effects
from actors._engine import delivering, job_log, logger
from actors._errors import EngineStoppedError, StoreError
from actors._event_desk import EventDesk
from actors._job import JobRecord, JobState
from actors._outage import WRITTEN
from actors._outcomes import CancelOutcome, Stats
from actors._poll_round import PollRound
from actors._polling import Poller
from actors._recovery import Recovery
from actors._requests import act_for_mediator
from actors._runner import Runner
from actors._runtime import own_inbox
from actors._scheduler_reports import RunnerReportRoutes
from actors._scheduler_routes import HANDLER_NAMES, GetRunners
from actors._scheduler_timers import TimerAndEventRoutes
from actors._scheduler_view import SchedulerView
from actors._stale_copies import STALE_REPORTS
from actors._tally import Tally
from actors._timekeeper import Timekeeper
from actors._unsaved_slices import NOT_STORED

_SPAWN, _SEND_FAILED = m.SpawnBranch, m.JobSendFailed  # module globals: read by every report

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from actors._clock import Alarm
    from actors._engine import EngineConfig

__all__ = ["GetRunners", "Scheduler"]

_START_FAILED_WAIT = 10.0  # seconds for the runners started before a failed start to stop


class Scheduler(TimerAndEventRoutes, RunnerReportRoutes, pykka.Actor):
    """Admits jobs, hands them to idle runners and keeps every case's bookkeeping.

    Mixed with a runtime's actor class (threads, or the deterministic harness).
    """

    case_book: type[CaseBook] = CaseBook  # the case tree and joins it keeps
    # A Schedule sent with tell reaches the handler wrapped (see TellMarkingInbox): its
    # refusal is told to reply_to, where an ask's is raised to the asker.
    told_as: ClassVar[Mapping[type, Callable[[Any], Any]]] = {m.Schedule: m.ToldSchedule}

    def __init__(
        self, engine: EngineConfig, runners: int, resume: list[JobRecord], vouched: float
    ) -> None:
        """``vouched``: when the leases of the cases in ``resume`` were taken (shared store)."""
        super().__init__()
        self._resumable = resume
        self._e = engine
        self._runner_count = runners
        self._channel = engine.channel
        self._store = CaseStore(engine)  # what the collaborators read of the store
        self._admissions = Admissions(engine, self.actor_ref.tell)
        store, shared = self._store, engine.store.shared  # a shared store's claims read places
        self._book = self.case_book(
            store.first_wins, store.join_of, keep_places=shared, missing_of=store.missing_branches
        )
        self._jobs = self._book.jobs  # read by every concern; changed by the tree alone
        self._out = self._book.out  # jobs handed out: read here; changed with the book
        self._crew = Crew(engine.channel, self._start_runner, runners, self._out, engine.roster)
        self._time = Timekeeper()
        self._alarm: Alarm | None = None
        self._events = EventDesk(served=engine.workflows)
        self._correlations = self._events.correlations
        self._poller = Poller(
            engine.clock,
            engine.owner,
            shared=engine.store.shared,
            lease_seconds=engine.lease_seconds,
            poll_interval=engine.poll_interval,
            vouched=vouched,
        )
        self._lost = self._poller.leases.lost  # read here; changed by the poller alone
        self._recovery = Recovery(engine.workflows)
        self._tally = Tally()
        self._fx = Effects(  # carries out what they decide
            engine,
            book=self._book,
            crew=self._crew,
            time=self._time,
            correlations=self._correlations,
            poller=self._poller,
            tally=self._tally,
            recovery=self._recovery,
            store=self._store,
        )
        self._unsaved = self._fx.unsaved.counts  # read here; changed there
        self._failures = self._fx.failures  # jobs whose runners died, to fault the poison
        self._dying = self._failures.counts  # read here (a report clears one); changed there
        self._outage = self._fx.outage
        self._ghosts = self._fx.stale.ghosts  # read here (empty unless a case was lost)
        self._cancels = CancelDesk(engine, book=self._book, fx=self._fx)
        self._looked = engine.channel.last_look  # read here; changed by runners and the desk
        self._owed = self._cancels.owed  # cancels answered with a report: read here
        self._polls = PollRound(  # a shared store's poll: leases, requests, takeovers
            engine,
            self,
            poller=self._poller,
            book=self._book,
            crew=self._crew,
            fx=self._fx,
            time=self._time,
            recovery=self._recovery,
        )
        self._unwatch: list[Callable[[], None]] = []  # what stops the store's wake-ups

    def _on_operator(self, msg: m.OperatorAction) -> Any:
        return act_for_mediator(self, self._e.store, msg.request)

    def _on_take_case(self, msg: m.TakeCase) -> Any:
        return self._fx.take_case(msg.case_id)

    def _on_get_runners(self, _msg: GetRunners) -> list[Any]:
        return list(self._crew.refs)

    def view(self) -> SchedulerView:
        """A read-only view of what this Scheduler holds (for the test harness's probe)."""
        others = (self._e.channel, self._e.gate, self._poller)
        return SchedulerView(self._book, self._correlations, self._time, others)

    # -- life cycle --------------------------------------------------------------------------

    def on_start(self) -> None:
        """Arm the alarm, start the runners, and resume unfinished jobs found in the store."""
        try:
            self._start()
        except Exception:  # pykka would stop it without on_failure or on_stop: runners ran on
            self.on_failure(*sys.exc_info())
            # The Mediator's constructor raises once this has: nothing it started runs on.
            self._crew.wait_stopped(_START_FAILED_WAIT)
            raise

    def _start(self) -> None:
        if not getattr(self._e.runtime, "starts_synchronously", False):
            # This thread is the Scheduler's for good: a Mediator call made on it (from an
            # on_shed or metrics hook) would wait for this very thread, and is refused;
            # pykka's stop_all() made there is answered at once.
            delivering.scheduler = self._e
            own_inbox(self)
        self._alarm = self._fx.alarm = self._e.clock.alarm(self._ring)
        self._crew.start()
        resumed, self._resumable = self._resumable, []
        self._fx.adopt(self._fx.fresh(resumed))
        if self._e.store.shared:
            with contextlib.suppress(StoreError):  # the polls look again
                self._recovery.unserved.check(self._e.store, self._e.clock.now())
            now = self._e.clock.now()
            self._time.poll_at(self._poller.started(now, resumed, self._e.gate.capacity))
            self._fx.rearm()
            if not getattr(self._e.runtime, "starts_synchronously", False):
                # Cases enqueued for this database are looked for at once, not at the
                # next poll (the harness delivers nothing from outside its schedule).
                # So are the operators' requests left for the cases this worker holds.
                ref, store = self.actor_ref, self._e.store
                self._unwatch = [
                    store.watch(lambda: ref.tell(m.Wake())),
                    store.watch_requests(self._e.owner, lambda: ref.tell(m.Wake(requests=True))),
                ]

    def on_stop(self) -> None:
        """Stop the alarm and the runners; fail the handles of cases that did not finish."""
        self._shutdown()

    def on_failure(self, *exc_info: Any) -> None:
        """Log the error that stopped the engine (pykka's own log is often unheard); clean up."""
        logger.error("the engine stopped on an error it did not handle", exc_info=exc_info)
        self._e.stop.failure = exc_info[1]
        self._shutdown()

    def _shutdown(self) -> None:
        for unwatch in self._unwatch:
            unwatch()
        if self._alarm is not None:
            self._alarm.close()
        self._e.gate.close()
        self._e.stop.set()  # no more work is handed out: runners stop before their next step
        self._crew.stop()
        unfinished = self._e.handles.fail_all(
            EngineStoppedError("the mediator stopped before the case ended")
        )
        if unfinished:
            logger.warning(
                "stopped with %d unfinished case(s) still watched", unfinished, extra=job_log(None)
            )
        for fut in self._tally.settle(quiet=True):
            fut.set(None)
        self._cancels.stopped()

    def _start_runner(self, index: int) -> pykka.ActorRef[Any]:
        cls = self._e.runtime.actor_class(Runner)  # type: ignore[type-abstract]
        return cls.start(self._e, index, self.actor_ref, self._poller.guard)

    def _ring(self) -> None:
        with contextlib.suppress(pykka.ActorDeadError):  # it rang as the engine stopped
            self.actor_ref.tell(m.TimerDue())

    def on_receive(self, message: Any) -> Any:  # noqa: PLR0912 - every report: no call
        """Route a message to its handler; answer drain requests once all is quiet."""
        kind = type(message)
        name = HANDLER_NAMES.get(kind)
        if name is None:
            return super().on_receive(message)
        if kind in REPORTS:
            # Crew.reported, written out (every report passes here): the backlog that held
            # admission back shrank, and a runner is idle for it.
            channel = self._channel
            channel.handled += 1
            if channel.idle and channel.wants_admission():
                self._dispatch()
            # The record a report carries is the Scheduler's again.
            if kind is _SPAWN:
                job = message.parent  # a split's parent comes back with its first branch
            else:
                job = None if kind is _SEND_FAILED else message.job
            if job is not None:
                # CancelDesk.reported, written out for the common case: the runner's last
                # look is over, and no cancel waits for this report.
                looked, job_id = self._looked, job.id
                if looked and looked.get(job_id) is job:
                    del looked[job_id]
                if self._owed:
                    self._cancels.reported(kind, job)
            if self._ghosts and kind in STALE_REPORTS and self._fx.stale.stale_report(message):
                # Its runner left the job before it told this: the case may be back
                # and its job resumed from the store meanwhile; looked at while the case
                # is still lost too, to know a split's later branches (StaleCopies).
                return self._ignore(message, "its runner held it when its case was lost")
            if self._lost and kind in JOB_REPORTS and message.job.case_id in self._lost:
                return self._ignore(message, "its case is another worker's now")
            if job is not None:
                self._out.discard(job.id)
                if self._book.stopping:
                    self._book.returned(job)
                if self._dying:  # a dict's truth, not a call: every report passes here
                    self._failures.went_on(job.id)
                if self._unsaved and kind not in NOT_STORED:  # a slice of it was stored
                    self._fx.unsaved.went_on(job.id)
        answer = getattr(self, name)(message)
        if self._outage.ramp is not None and kind in WRITTEN:  # the store writes again
            self._polls.written()
        if self._tally.draining:
            self._check_drain()
        return answer

    def _ignore(self, report: Any, why: str) -> None:
        logger.info(
            "ignoring a report on job %s: %s", report.job.id, why, extra=job_log(report.job)
        )
        self._check_drain()

    # -- dispatch ------------------------------------------------------------------------------

    def _make_ready(self, job: JobRecord) -> None:
        self._crew.ready(job)

    def _dispatch(self) -> None:
        """Hand admitted jobs to idle runners."""
        self._crew.admitted()

    # -- messages from producers ---------------------------------------------------------------

    def _on_admitted(self, _: m.Admitted) -> None:
        self._dispatch()

    def _on_schedule(self, msg: m.Schedule) -> Any:
        return self._admissions.scheduled(msg)

    def _on_told_schedule(self, msg: m.ToldSchedule) -> None:
        try:
            self._on_schedule(msg.schedule)
        except Exception as exc:  # refused, an ids factory's failure too: the engine goes on
            self._admissions.told_refused(msg.schedule, exc)

    def _on_shed(self, msg: m.JobShed) -> None:
        job = self._admissions.evicted(msg.job)
        if self._fx.save_ended(job):
            self._tally.ended(JobState.SHED)
            self._admissions.shed(job)

    # -- cancellation and operators' requests ----------------------------------------------------

    def _on_cancel(self, msg: m.CancelJob) -> CancelOutcome | pykka.Future[Any] | None:
        """The outcome, or a future of it when it comes with the job's runner's report."""
        answer = self.cancel_job(msg.job_id)
        if not isinstance(answer, Owed):
            return answer
        future = self._e.runtime.create_future()
        answer.then(lambda outcome: settle(future, outcome))
        return future

    def cancel_job(self, job_id: str) -> CancelOutcome | Owed | None:
        """Cancel ``job_id`` (``CancelDesk.cancel``): for an operator's request too."""
        return self._cancels.cancel(job_id)

    # -- queries ----------------------------------------------------------------------------------

    def _on_stats(self, _: m.GetStats) -> Stats:
        out = self._out  # records the channel and runners hold are not read here
        waiting = sum(
            1 for j in self._jobs.values() if j.state is JobState.WAITING and j.id not in out
        )
        return self._tally.stats(
            self._e.gate,
            self._channel,
            waiting=waiting,
            timers=self._time.jobs(),
            runners=self._runner_count,
        )

    def _on_drain(self, _: m.Drain) -> pykka.Future[Any]:
        future = self._e.runtime.create_future()
        self._tally.drain(future)
        self._channel.drain_requested = True
        return future

    def _check_drain(self) -> None:
        # A job a runner handed back for a lease renewal is ready work too: it runs once
        # the renewal (a poll due now) is through.
        # So is a job owed to a store that failed, to take back or to store.
        quiet = self._crew.quiet() and not self._poller.leases.waiting and not self._fx.outage.owed
        for fut in self._tally.settle(quiet=quiet):
            fut.set(None)
