"""What the Scheduler does at each poll of a shared store, on its poll timer.

A poll renews this worker's leases (dropping the cases another worker took), runs on
the jobs handed back while the renewal was due, looks for requests of unserved
workflows, carries out operators' requests for the cases it holds, and takes over free
cases if there is room. ``Poller`` (``actors._polling``) decides; ``PollRound`` asks it
and carries out what it says through the Scheduler's other collaborators. It runs on the
Scheduler's thread alone, once per poll interval, never per step or per message.
"""

from __future__ import annotations

import math
from logging import DEBUG
from typing import TYPE_CHECKING, Any

from actors import messages as m
from actors._engine import job_log, logger
from actors._errors import LeaseLostError, SchemaTooNewError, StoreError
from actors._leases import lost_summary, run_alone
from actors._requests import serve_requests

if TYPE_CHECKING:
    from actors._case_book import CaseBook
    from actors._crew import Crew
    from actors._effects import Effects
    from actors._engine import EngineConfig
    from actors._polling import Poller
    from actors._recovery import Recovery
    from actors._timekeeper import Timekeeper

__all__ = ["PollRound"]


class PollRound:
    """One poll of a shared store at a time, for the Scheduler that owns it.

    Args:
        engine: the engine's configuration (store, clock, gate, channel, owner).
        scheduler: the Scheduler, which carries out operators' requests (its cancel
            and event handlers).
        poller: the worker's leases and claims.
        book: the case tree, whose jobs take places and hold leases.
        crew: the runners, which run on the jobs vouched for again.
        fx: the Scheduler's effects (adopting claimed cases, dropping lost ones).
        time: the timers, where the next poll is set.
        recovery: what watches for requests of workflows this worker does not serve.
    """

    def __init__(
        self,
        engine: EngineConfig,
        scheduler: Any,
        *,
        poller: Poller,
        book: CaseBook,
        crew: Crew,
        fx: Effects,
        time: Timekeeper,
        recovery: Recovery,
    ) -> None:
        self._e = engine
        self._scheduler = scheduler
        self._poller = poller
        self._jobs = book.jobs
        self._places = book.places
        self._crew = crew
        self._fx = fx
        self._time = time
        self._recovery = recovery

    def poll(self, now: float) -> None:
        """Shared store: renew this worker's leases, and take over cases if there is room.

        Cases come from producers that only write the store, from workers that released
        them, or from workers whose leases expired (they died): each job resumes from
        its last saved step. Leases are renewed once per poll interval (``renewal_due``).

        A store that fails (its server restarting) fails the poll, which comes again an
        interval later, however often it fails: the first poll it answers again renews
        the leases (dropping the cases another worker took meanwhile), then settles what
        the Scheduler owes it (``Effects.settle``: jobs taken back as last saved, final
        saves stored), then claims. A store of this process alone is polled only while
        it is owed something.
        """
        e, poller, outage = self._e, self._poller, self._fx.outage
        shared = e.store.shared
        next_poll = now + e.poll_interval
        try:
            if outage.fatal is not None:
                raise outage.fatal
            if shared and poller.renewal_due(now):
                self._renew(now)
                outage.answered(e.clock.now())  # now: the poll may have waited on the store
            # Before claiming: the jobs taken back take places, and go first.
            settled = True
            if outage.owed:
                waiting = len(outage.reloads)
                settled = self._fx.settle()
                if settled:  # if no renewal was due, the store's first answer
                    outage.answered(e.clock.now(), resumed=waiting - len(outage.reloads))
                    if not outage.reloads:  # their replies after the jobs are back
                        self._tell_replies()
            # No new case while jobs still wait to be taken back, a few a poll (a store
            # that answers may still refuse the runners' slices; see Outage.failed).
            if shared and settled and not outage.reloads:
                self._fx.adopt_released()  # before the claim: they go first
                room = 0 if e.stopping else self._free_places()
                taken, next_poll = poller.claim(e.store, now, room, e.workflows)
                if room > 0:
                    outage.answered(e.clock.now())
                self._fx.adopt(self._fx.fresh(taken))
        except SchemaTooNewError as exc:
            self._stop(exc, "its cases go to workers of the newer release once its lease lapses")
            return
        except StoreError as exc:
            if exc.stops_worker:
                self._stop(
                    exc,
                    "its cases go to the next worker to claim them once its lease "
                    "lapses, or at once to it when it is started again under its name",
                )
                return
            poller.backlogged = False  # a failing store is not asked again as cases end
            outage.failed(exc, now)
        if shared or outage.owed:
            self._time.poll_at(next_poll)

    def requests_waiting(self, now: float) -> bool:
        """An operator's request waits for a case this worker holds: carry it out now.

        Served as a poll serves them, after the renewal of the leases when one is due (a
        lease that may have lapsed vouches for no case), or while the store is owed
        jobs: then by a poll now. Whether that poll was set (the alarm to set again). A
        store that fails here leaves the requests to the next poll, which reports it.
        """
        e = self._e
        if self._poller.renewal_due(now) or self._fx.outage.owed:
            if e.stopping:
                return False
            self._time.poll_at(now)
            return True
        try:
            serve_requests(self._scheduler, e.store, e.owner, now)
        except StoreError as exc:
            logger.debug("requests left for the next poll: %s", exc, extra=job_log(None))
        return False

    def _stop(self, error: StoreError, then: str) -> None:
        """No write of this worker may, or can, reach the store any more: stop.

        A newer release applied a migration this one must not write past
        (``SchemaTooNewError``), or the store can never write again in this process
        (``StoreError.stops_worker``). No step starts from here on (the guard vouches for
        no lease), the renewal was not stored, so the cases go to other workers once the
        lease lapses; the engine stops without releasing them (a release is a write too).
        """
        self._poller.guard.deadline = -math.inf
        self._e.stop.halt()
        logger.error("%s; this worker stops: %s", error, then, extra=job_log(None))
        # The runners first, each after its current step: once the Scheduler has stopped,
        # shutdown() can no longer ask it for them, to wait for them.
        self._crew.stop()
        if not getattr(self._e.runtime, "starts_synchronously", False):  # not the harness's
            for runner in list(self._crew.refs):
                runner.actor_stopped.wait(self._e.lease_seconds)
        self._scheduler.actor_ref.stop(block=False)

    def written(self) -> None:
        """A runner's slice was stored: take back at once every job still owed to the store."""
        if self._fx.written() and not self._fx.outage.reloads:
            self._tell_replies()

    def _tell_replies(self) -> None:
        """Deliver the failed sends the store's failure kept from their jobs, oldest first."""
        replies = self._fx.outage.replies
        while replies:
            cid, error = replies[0]
            self._scheduler._on_event(m.DeliverEvent(cid, error, fault=True))
            replies.pop(0)  # not before: a store failing again keeps it for the next poll

    def _free_places(self) -> int:
        """Places for cases claimed now: ``capacity`` less those in progress and queued here.

        The cases in progress are kept as jobs change (``Places``), not counted over
        every job held: a claim costs the same beside 200,000 parked jobs as beside none.
        """
        return self._e.gate.capacity - len(self._e.gate) - self._places.taken()

    def _held(self) -> set[str]:
        """The cases this worker holds: those of its jobs, running, and queued to start."""
        e = self._e
        held = {job.case_id for job in self._jobs.values()}
        # The gate first: a job leaving it is entered in ``running`` before it leaves
        # (``AdmissionGate.pop``), so one taken between the two looks is in the second.
        held.update(e.gate.ids())
        held.update(job.case_id for _, job in list(e.channel.running.values()))
        return held

    def _renew(self, now: float) -> None:
        e, poller = self._e, self._poller
        lost = poller.renew(e.store, now, self._held)
        if lost:  # one line for them all: a worker frozen past its lease may lose thousands
            jobs = sum(
                self._fx.drop_case(case, LeaseLostError(case, case, holder, e.owner), level=DEBUG)
                for case, holder in lost
            )
            logger.warning(lost_summary(lost, jobs), extra=job_log(None))
        # Handed back, and its case is still this worker's: a suspect's open try runs alone.
        handed = [job for job in poller.vouch(now) if self._jobs.get(job.id) is job]
        run_alone(e.store, handed)
        for job in handed:
            self._crew.ready(job)
        self._recovery.unserved.check(e.store, now)
        serve_requests(self._scheduler, e.store, e.owner, now)
