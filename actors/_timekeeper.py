"""When the Scheduler's alarm should ring: parked jobs' timers and a shared store's poll.

A plain object owned by the Scheduler (no actor, clock or store). It keeps every pending
timer sorted by due time (``Timers``) and what the one alarm of the Scheduler's clock is
set to, and says when that alarm must be set again (``Arm``): after every change the
alarm is due at the earliest pending timer, and it is set only when that moves.
"""

from __future__ import annotations

from dataclasses import dataclass

from actors._timers import Timers

__all__ = ["POLL", "Arm", "Timekeeper"]

POLL = "\x00poll"  # the poll's own timer on a shared store (no job id starts so)


@dataclass(frozen=True, slots=True)
class Arm:
    """Effect: set the alarm to ring at ``due`` (``None``: no timer is pending)."""

    due: float | None


class Timekeeper:
    """Pending timers (one per job, plus the poll) and the due time the alarm is set to."""

    def __init__(self) -> None:
        self._timers = Timers()
        self.timed = self._timers.by_job
        """Ids of the jobs that have a timer (a read-only view; the poll's as ``POLL``)."""
        self._armed: float | None = None

    def park(self, job_id: str, due: float) -> None:
        """Job ``job_id`` waits until ``due`` (replacing an earlier timer of it)."""
        self._timers.add(job_id, due)

    def cancel(self, job_id: str) -> bool:
        """Withdraw job ``job_id``'s timer; whether it had one."""
        return self._timers.cancel(job_id)

    def poll_at(self, when: float) -> None:
        """Poll the shared store at ``when`` (replacing the poll due before)."""
        self._timers.add(POLL, when)

    def poll_within(self, now: float, interval: float) -> None:
        """A poll due more than ``interval`` after ``now`` is due now.

        Every poll is set at most an interval ahead, so one further off was set before
        the clock stepped back, and would come only once the clock had made up the step.
        """
        due = self._timers.due_of(POLL)
        if due is not None and due > now + interval:
            self._timers.add(POLL, now)

    def polling(self) -> bool:
        """Whether a poll is pending."""
        return POLL in self._timers

    def wake(self, now: float, *, stopping: bool) -> bool:
        """A wake-up asks for a poll now; whether one was set for ``now``.

        Not when the engine is stopping, nor when a poll is due already: the wake-ups of a
        burst of enqueues queue up behind the first, whose poll claims every case of the
        burst, so a burst costs one poll, not one per case.
        """
        due = self._timers.due_of(POLL)
        if stopping or (due is not None and due <= now):
            return False
        self._timers.add(POLL, now)
        return True

    def ring(self, now: float) -> list[str]:
        """The alarm rang: every timer due at or before ``now``, earliest first, removed.

        The poll's own timer is among them as ``POLL``. The alarm is unset until ``rearm``.
        """
        self._armed = None
        return self._timers.pop_due(now)

    def rearm(self) -> Arm | None:
        """``Arm`` when the alarm must be set again (the earliest due time moved)."""
        due = self._timers.next_due()
        if due == self._armed:
            return None
        self._armed = due
        return Arm(due)

    def pending(self) -> dict[str, float]:
        """Due time of every pending timer by job id (the poll's as ``POLL``), earliest first."""
        return self._timers.pending()

    def jobs(self) -> int:
        """How many parked jobs have a timer (the poll not counted)."""
        return len(self._timers) - (POLL in self._timers)

    def _check_invariants(self) -> None:
        self._timers._check_invariants()
