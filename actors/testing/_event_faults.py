"""Event faults: the plan's ``EventFault`` applied to every external event a Scheduler gets.

An event reaches the engine by several paths: ``Harness.receive_event``, a call of
``Mediator.receive_event`` (from the test, a task, a user's actor, a request's responder)
and an ``Admin``'s event through the Mediator. All of them end as one envelope put into
a Scheduler's inbox, so the faults are applied there (``Inbox.put`` calls ``_gate``): the
nth event is the nth to reach the engine, whichever path it took.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka

from actors import messages as m
from actors._pykka_seam import Envelope
from actors._scheduler import Scheduler
from actors.testing._future import DeterministicFuture

if TYPE_CHECKING:
    from actors.testing._cells import ActorCell
    from actors.testing._clock import VirtualClock
    from actors.testing._fault_injector import FaultInjector
    from actors.testing._runtime import DeterministicRuntime

__all__ = ["EventFaults", "HeldEvent", "event_id"]


@dataclass(eq=False)
class HeldEvent:
    """An external event a fault holds back.

    ``release_at``: the action from which it may arrive (a delay in actions);
    ``release_time``: the virtual time from which it may (a delay in seconds); neither:
    a reorder, held until the next event is sent.
    """

    ref: pykka.ActorRef[Any]
    envelope: Envelope[Any]
    correlation_id: str
    release_at: int | None
    release_time: float | None = None

    @property
    def message(self) -> Any:
        """The held message (a ``DeliverEvent``, or an ``Admin``'s ``OperatorAction``)."""
        return self.envelope.message

    @property
    def timed(self) -> bool:
        """Whether it waits for virtual time (a delay in seconds)."""
        return self.release_time is not None

    @property
    def reordered(self) -> bool:
        """Whether it waits for the next event."""
        return self.release_at is None and self.release_time is None

    def due(self, actions: int, now: float) -> bool:
        """Whether its delay has run out."""
        if self.release_time is not None:
            return now >= self.release_time
        return self.release_at is not None and actions >= self.release_at


def event_id(message: Any) -> str | None:
    """The correlation id of an external event's message; ``None`` for any other message."""
    if type(message) is m.DeliverEvent:
        return message.correlation_id
    if type(message) is m.OperatorAction and message.request.kind == "event":
        payload = message.request.payload  # [correlation id, data, fault]
        if isinstance(payload, list | tuple) and payload and isinstance(payload[0], str):
            return payload[0]
        return f"{message.request.job_id}/?"
    return None


class EventFaults:
    """Holds, drops and duplicates external events as the fault plan says (a mixin)."""

    runtime: DeterministicRuntime
    faults: FaultInjector
    clock: VirtualClock
    actions: int

    def __init__(self) -> None:
        self.held: list[HeldEvent] = []
        """External events held back by faults."""
        self._passing = False  # putting an event itself: the gate lets it through

    def _record(self, actor: str, action: str, job: str | None = None, detail: str = "") -> None:
        raise NotImplementedError

    def _gate(self, cell: ActorCell, envelope: Envelope[Any]) -> bool:
        """The inbox's hook: apply the plan to an event reaching a Scheduler by any path.

        Returns whether it took the envelope (put it itself, held or dropped it). Only
        what a fault does is traced: an event it leaves alone shows as the Scheduler's
        delivery, as it did without faults.
        """
        if self._passing or Scheduler not in type(cell.actor).__mro__:
            return False
        cid = event_id(envelope.message)
        if cid is None:
            return False
        self._perturb(cell.actor.actor_ref, envelope, cid, traced=False)
        return True

    def _perturb(
        self, ref: pykka.ActorRef[Any], envelope: Envelope[Any], cid: str, *, traced: bool
    ) -> bool:
        """Send an external event as the plan's fault for it says; ``False``: dropped.

        ``traced``: the harness's own ``receive_event``, whose sends are traced always.
        """
        planned = self.faults.next_event()
        job = cid.split("/", 1)[0]
        if planned is not None and planned.action == "drop":
            self._record("harness", "event dropped", job, cid)
            return False
        if planned is None or planned.action == "duplicate":
            self._put(ref, envelope, cid, traced=traced or planned is not None)
            if planned is not None:  # the copy's answer goes to nobody
                copy = Envelope(envelope.message, reply_to=DeterministicFuture(self.runtime))
                self._put(ref, copy, cid, traced=True)
            for held in [h for h in self.held if h.reordered]:
                self._release(held)  # a reordered event goes right after this one
            return True
        if planned.action == "delay" and planned.seconds is not None:
            held = HeldEvent(ref, envelope, cid, None, self.clock.now() + planned.seconds)
            detail = f"{cid} until t={held.release_time:g}"
        elif planned.action == "delay":
            held = HeldEvent(ref, envelope, cid, self.actions + planned.by)
            detail = f"{cid} for {planned.by} action(s)"
        else:
            held, detail = HeldEvent(ref, envelope, cid, None), f"{cid} until the next event"
        self.held.append(held)
        self._record("harness", f"event held ({planned.action})", job, detail)
        return True

    def _release(self, held: HeldEvent) -> None:
        """Send a held event now."""
        self.held.remove(held)
        self._put(held.ref, held.envelope, held.correlation_id, traced=True)

    def _held_until(self) -> float | None:
        """The earliest virtual time a held event waits for (``None``: none waits for time)."""
        times = [h.release_time for h in self.held if h.release_time is not None]
        return min(times) if times else None

    def _put(
        self, ref: pykka.ActorRef[Any], envelope: Envelope[Any], cid: str, *, traced: bool
    ) -> None:
        if not ref.is_alive():  # as DeterministicRuntime.send: the engine has stopped
            if envelope.reply_to is not None:
                error = pykka.ActorDeadError(f"{ref} not found")
                envelope.reply_to.set_exception((pykka.ActorDeadError, error, None))
            return
        self._passing = True
        try:
            ref.actor_inbox.put(envelope)
        finally:
            self._passing = False
        if traced:
            self._record("harness", "event", cid.split("/", 1)[0], cid)
