"""The Scheduler's handlers of timers, wake-ups, handed-back jobs and external events.

A mixin of ``Scheduler`` (``actors._scheduler``), whose collaborators it uses: the
handlers are looked up by name (``actors._scheduler_routes``) as the others are.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from actors import messages as m
from actors._errors import StoreError
from actors._job import JobRecord, JobState
from actors._outcomes import EventOutcome
from actors._timekeeper import POLL

if TYPE_CHECKING:
    from actors._case_book import CaseBook
    from actors._case_store import CaseStore
    from actors._correlations import Correlations
    from actors._crew import Crew
    from actors._effects import Effects
    from actors._engine import EngineConfig
    from actors._event_desk import EventDesk
    from actors._poll_round import PollRound
    from actors._polling import Poller
    from actors._timekeeper import Timekeeper

__all__ = ["TimerAndEventRoutes"]


class TimerAndEventRoutes:
    """Timers due, wake-ups, jobs handed back unrun, and events: the Scheduler's handlers."""

    # Set by Scheduler.__init__.
    _e: EngineConfig
    _time: Timekeeper
    _polls: PollRound
    _jobs: dict[str, JobRecord]
    _correlations: Correlations
    _fx: Effects
    _crew: Crew
    _poller: Poller
    _book: CaseBook
    _events: EventDesk
    _store: CaseStore

    def _on_timer_due(self, _: m.TimerDue) -> None:
        now = self._e.clock.now()
        self._time.poll_within(now, self._e.poll_interval)  # after the clock stepped back
        for job_id in self._time.ring(now):
            if job_id == POLL:
                self._polls.poll(now)
                continue
            job = self._jobs.get(job_id)
            if job is None or job.state is not JobState.WAITING:
                continue
            self._correlations.withdraw(job_id, EventOutcome.LATE)
            job.event = ("timer", "", None)
            job.state, job.due = JobState.READY, None
            with contextlib.suppress(StoreError):  # not stored: taken back as saved (defer)
                if self._fx.save(job):
                    self._crew.ready(job)
        self._fx.rearm()

    def _on_wake(self, msg: m.Wake) -> None:
        if msg.requests:  # for this worker alone, whether backlogged or not
            if self._polls.requests_waiting(self._e.clock.now()):
                self._fx.rearm()
            return
        # A backlogged worker knows cases are waiting: it claims as a quarter of its
        # places free (Poller.case_ended) or at its next poll, a tenth of the interval
        # on. Claiming at every wake-up instead took a place or two at a time: on
        # SQLite, whose watcher wakes at every commit of the worker's own writer while
        # a case is free, that was a claim transaction every 10 ms.
        if self._poller.backlogged:
            return
        if self._time.wake(self._e.clock.now(), stopping=self._e.stopping):
            self._fx.rearm()

    def _on_unvouched(self, msg: m.LeaseUnvouched) -> None:
        """A runner handed a job back unrun: renew the leases now, then run it on.

        A cancel that came while this report was on its way is taken up here: the runner
        ends the job cancelled when it runs on.
        """
        self._book.claim_cancel(msg.job)
        self._book.hold(msg.job)
        self._poller.hand_back(msg.job)
        self._time.poll_at(self._e.clock.now())
        self._fx.rearm()

    def _on_event(self, msg: m.DeliverEvent) -> EventOutcome:
        # A payload no store can keep (a lone surrogate in a str) is refused here, before
        # the job is touched: refused at its save, it left the job withdrawn from its
        # correlations and never saved, so no later event could reach it.
        self._e.store.codec.encode(msg.payload, f"event payload for {msg.correlation_id!r}")
        return self._events.deliver(
            msg.correlation_id, msg.payload, msg.fault, self._store, self._fx
        )

    def _on_send_failed(self, msg: m.JobSendFailed) -> None:
        try:
            self._on_event(m.DeliverEvent(msg.correlation_id, msg.error, fault=True))
        except StoreError as exc:  # its job is taken back as saved, then told (PollRound.poll)
            self._fx.owe_reply(msg.correlation_id, msg.error, exc)
