"""What the Scheduler does at each poll of a shared store, on its poll timer.

A poll renews this worker's leases (dropping the cases another worker took), runs on
the jobs handed back while the renewal was due, looks for requests of unserved
workflows, carries out operators' requests for the cases it holds, and takes over free
cases if there is room. ``Poller`` (``actors._polling``) decides; ``PollRound`` asks it
and carries out what it says through the Scheduler's other collaborators. It runs on the
Scheduler's thread alone, once per poll interval, never per step or per message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors._engine import job_log, logger
from actors._errors import LeaseLostError, StoreError
from actors._polling import places_taken
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
        self._kids = book.kids
        self._out = book.out
        self._crew = crew
        self._fx = fx
        self._time = time
        self._recovery = recovery

    def poll(self, now: float) -> None:
        """Shared store: renew this worker's leases, and take over cases if there is room.

        Cases come from producers that only write the store, from workers that released
        them, or from workers whose leases expired (they died): each job resumes from
        its last saved step. Leases are renewed once per poll interval (``renewal_due``).
        """
        e, poller = self._e, self._poller
        next_poll = now + e.poll_interval
        try:
            if poller.renewal_due(now):
                self._renew(now)
            room = 0 if e.stopping else self._free_places()
            taken, next_poll = poller.claim(e.store, now, room, e.workflows)
            self._fx.adopt(self._fx.fresh(taken))
        except StoreError:
            poller.backlogged = False  # a failing store is not asked again as cases end
            logger.exception("polling the store failed; trying again", extra=job_log(None))
        self._time.poll_at(next_poll)

    def _free_places(self) -> int:
        """Places for cases claimed now: ``capacity`` less those in progress and queued here."""
        taken = places_taken(self._jobs.values(), self._kids, self._out)
        return self._e.gate.capacity - len(self._e.gate) - taken

    def _renew(self, now: float) -> None:
        e, poller = self._e, self._poller
        held = {job.case_id for job in self._jobs.values()}
        held.update(job.case_id for _, job in list(e.channel.running.values()))
        held.update(e.gate.ids())
        for case_id, holder in poller.renew(e.store, now, held):
            self._fx.drop_case(case_id, LeaseLostError(case_id, case_id, holder, e.owner))
        for job in poller.vouch(now):  # handed back, and its case is still this worker's
            if self._jobs.get(job.id) is job:
                self._crew.ready(job)
        self._recovery.unserved.check(e.store, now)
        serve_requests(self._scheduler, e.store, e.owner, now)
