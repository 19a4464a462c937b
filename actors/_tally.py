"""The Scheduler's figures and the drain requests waiting for a quiet engine.

A plain object owned by the Scheduler: how many jobs ended in each final state, and the
futures of ``Drain`` requests, answered once no job is queued, ready or running.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors._job import JobState
from actors._outcomes import Stats

if TYPE_CHECKING:
    import pykka

    from actors._admission import AdmissionGate
    from actors._channel import WorkChannel

__all__ = ["Tally"]

_NONE_ENDED = dict.fromkeys(JobState, 0)  # copied per Tally: iterating the enum costs more


class Tally:
    """Jobs ended per final state, and who waits for the engine to drain."""

    def __init__(self) -> None:
        self.counts = _NONE_ENDED.copy()
        self.draining: list[pykka.Future[Any]] = []  # drain requests waiting (read per message)

    def ended(self, state: JobState) -> None:
        """A job ended (or was shed) in ``state``."""
        self.counts[state] += 1

    def drain(self, future: pykka.Future[Any]) -> None:
        """``future`` is to be set once the engine is quiet."""
        self.draining.append(future)

    def settle(self, *, quiet: bool) -> list[pykka.Future[Any]]:
        """The drain requests to answer now (all of them when ``quiet``), forgotten."""
        if not quiet:
            return []
        waiters, self.draining = self.draining, []
        return waiters

    def stats(
        self,
        gate: AdmissionGate,
        channel: WorkChannel,
        *,
        waiting: int,
        timers: int,
        runners: int,
    ) -> Stats:
        """The figures ``Mediator.stats()`` reports."""
        counts = self.counts
        return Stats(
            capacity=gate.capacity,
            queued=len(gate),
            peak_queued=gate.peak,
            ready=channel.ready,
            running=len(channel.running),
            waiting=waiting,
            timers=timers,
            admitted=gate.admitted,
            done=counts[JobState.DONE],
            faulted=counts[JobState.FAULTED],
            cancelled=counts[JobState.CANCELLED],
            shed=counts[JobState.SHED],
            runners=runners,
            blocked_producers=gate.waiting_producers,
        )
