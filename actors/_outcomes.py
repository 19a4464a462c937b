"""Results of the Mediator's non-raising calls: events, cancellation and statistics."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["CancelOutcome", "EventOutcome", "Stats"]


class EventOutcome(enum.Enum):
    """What ``Mediator.receive_event`` did with an event."""

    DELIVERED = "delivered"
    """The waiting job takes the event and will advance once, unless cancelled first.

    A cancel that comes before a runner applies the event ends the job ``CANCELLED``
    with its ``on_reply`` or ``on_event`` never run.
    """
    DUPLICATE = "duplicate"
    """This correlation id was already answered; the job does not advance again."""
    LATE = "late"
    """The job stopped waiting for it (timed out, another event won, or cancelled)."""
    FINISHED = "finished"
    """The job has already ended."""
    UNKNOWN = "unknown"
    """No job waits on this correlation id."""
    ELSEWHERE = "elsewhere"
    """Shared store: another live worker holds the job's case; deliver it there."""


class CancelOutcome(enum.Enum):
    """What ``Mediator.cancel`` did."""

    CANCELLED = "cancelled"
    """The job (and every branch below it) is cancelled; a running step finishes first."""
    ALREADY_FINISHED = "already_finished"
    """The job had already ended (its last step run, perhaps not yet stored); nothing changed."""
    NOT_FOUND = "not_found"
    """No such job."""


@dataclass(frozen=True, slots=True)
class Stats:
    """A point-in-time view of a Mediator's load and history."""

    capacity: int
    """The admission bound."""
    queued: int
    """External jobs admitted and not yet started (at most ``capacity``)."""
    peak_queued: int
    """The highest ``queued`` seen."""
    ready: int
    """Internal work ready to start: branches, released timers, answered events, joins."""
    running: int
    """Jobs a runner is executing."""
    waiting: int
    """Jobs parked on a timer, an event or their branches."""
    timers: int
    """Pending timers."""
    admitted: int
    """External jobs admitted so far."""
    done: int
    """Jobs (branches included) that ended DONE."""
    faulted: int
    """Jobs that ended FAULTED."""
    cancelled: int
    """Jobs that ended CANCELLED."""
    shed: int
    """Jobs evicted by DROP_OLDEST."""
    runners: int
    """Number of runners."""
    blocked_producers: int
    """Callers of ``schedule()`` blocked by backpressure right now."""
