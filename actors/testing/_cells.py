"""What the deterministic runtime keeps of each actor: its cell, its inbox, its blockers.

An ``ActorCell`` is one live actor as the runtime sees it; its ``Inbox`` is pykka's inbox
protocol over a plain deque; a ``Blocker`` is a simulated thread blocked in a call. The
runtime that drives them is ``_runtime``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pykka

from actors import messages as m
from actors._pykka_seam import Envelope, is_actor_stop, told
from actors._runner import Runner
from actors._scheduler import Scheduler
from actors.testing._future import DeterministicFuture

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from actors.testing._runtime import DeterministicRuntime

__all__ = ["ActorCell", "Blocker", "Inbox", "release"]

# What pykka itself reads of a stopped actor (its ref's liveness, its inbox).
_PYKKA_FIELDS = frozenset({"actor_urn", "actor_inbox", "actor_ref", "actor_stopped"})


class ActorCell:
    """The runtime's record of one live actor: its inbox and whether it may run now."""

    __slots__ = ("actor", "blocker", "busy", "dead", "inbox", "name", "paused_at", "seq", "started")

    def __init__(self, actor: pykka.Actor, inbox: Inbox, name: str, seq: int) -> None:
        self.actor = actor
        self.inbox = inbox
        self.name = name
        """A deterministic name for traces, e.g. ``scheduler`` or ``runner-1``."""
        self.seq = seq
        """Start order; the chooser lists actors in this order."""
        self.started = False
        self.busy = False  # inside a delivery: a nested get() must not re-enter it
        self.blocker: Blocker | None = None
        self.dead = False
        self.paused_at: str | None = None
        """The step a runner paused before while others act (a choice point), else ``None``."""

    @property
    def pending(self) -> deque[Envelope[Any]]:
        """The envelopes waiting in this actor's inbox, oldest first."""
        return self.inbox.queue

    def __repr__(self) -> str:
        return f"<ActorCell {self.name} pending={len(self.inbox.queue)}>"


def users_actor(actor: pykka.Actor) -> bool:
    """Whether ``actor`` is the application's own (started with ``Harness.actor``).

    An engine's actor has an engine class among its bases, even when a test substitutes
    a subclass of its own; the harness's mixins do not count.
    """
    return not any(
        cls.__module__.partition(".")[0] == "actors" and cls.__module__ != _MIXINS
        for cls in type(actor).__mro__
    )


_MIXINS = "actors.testing._actor_classes"


def release(cells: Iterable[ActorCell]) -> None:
    """Unlink the actors of a finished simulation, so that it is freed once dropped.

    An engine's actors refer to one another in cycles (refs to inboxes, inboxes to
    cells, bound methods between collaborators), which only the garbage collector
    frees: a property test that builds thousands of harnesses would pay a collection
    every few runs. Nothing runs these actors again, so the engine's own actors are
    emptied and each inbox lets go of its cell; a user's actor keeps its state.
    """
    for cell in cells:
        cell.inbox.cell = None
        actor = cell.actor
        if not users_actor(actor):
            fields = vars(actor)
            kept = {name: fields[name] for name in _PYKKA_FIELDS if name in fields}
            fields.clear()
            fields.update(kept)


@dataclass(eq=False)
class Blocker:
    """A simulated thread blocked in a call (a producer's ``schedule()``, a bounded put).

    No message is delivered to ``cell`` (if any) while it is blocked. When ``ready()``
    says the call could now return, the driver may choose to ``resume()`` it; resuming
    runs the rest of the blocked call, which may block again.
    """

    why: str
    ready: Callable[[], bool]
    resume: Callable[[], None]
    holds: Callable[[], Iterable[str]] = lambda: ()
    """Ids of jobs only this blocked call knows about (for the deadlock report)."""
    cell: ActorCell | None = None
    name: str = field(default="")


# Messages that may carry an external event (an Admin's OperatorAction may be a cancel).
_EVENTS = (m.DeliverEvent, m.OperatorAction)


class Inbox:
    """pykka's ``ActorInbox`` protocol over a deque; ``put`` may be filtered by faults.

    Told messages of a type in ``urgent`` go to ``lane`` instead, as in the threading
    runtime's ``LanedInbox``: the actor takes them mid-delivery (a runner between steps).
    """

    __slots__ = ("cell", "lane", "on_stop", "queue", "runtime", "told_as", "urgent")

    def __init__(
        self,
        runtime: DeterministicRuntime,
        urgent: frozenset[type] = frozenset(),
        told_as: Mapping[type, Callable[[Any], Any]] | None = None,
    ) -> None:
        self.queue: deque[Envelope[Any]] = deque()
        self.lane: deque[Any] = deque()
        self.urgent = urgent
        self.told_as = dict(told_as or {})
        self.runtime = runtime
        self.cell: ActorCell | None = None
        self.on_stop: Callable[[], None] | None = None  # as LanedInbox.on_stop

    def put(self, envelope: Envelope[Any], /) -> None:
        if self.urgent or self.told_as:
            is_tell, message = told(envelope)
            if is_tell and type(message) in self.urgent:
                self.lane.append(message)
                return
            wrap = self.told_as.get(type(message)) if is_tell else None
            if wrap is not None:  # as the threading runtime's TellMarkingInbox does
                envelope = Envelope(wrap(message))
        reply_to, cell, on_stop = envelope.reply_to, self.cell, self.on_stop
        if on_stop is not None and reply_to is not None and is_actor_stop(envelope.message):
            on_stop()
        gate = self.runtime.event_gate
        if (
            gate is not None
            and cell is not None
            and type(envelope.message) in _EVENTS
            and gate(cell, envelope)
        ):
            return  # an external event, which the plan's event faults sent, held or dropped
        self.queue.append(envelope)
        # An ask: a Deadlock while waiting on it names who was asked what (unless the
        # harness named the future already: an event's, a cancel's).
        if isinstance(reply_to, DeterministicFuture) and reply_to.about is None:
            reply_to.about = (cell.name if cell is not None else "an actor", envelope.message)
            reply_to.user_ask = cell is not None and not _engine(cell.actor)
        hook = self.runtime.put_filter
        if hook is not None and cell is not None and reply_to is None:
            for _ in range(hook(cell, envelope)):
                self.queue.append(envelope)  # a duplicated tell (asks are never duplicated)

    def get(self) -> Envelope[Any]:
        return self.queue.popleft()

    def empty(self) -> bool:
        return not self.queue


def _engine(actor: Any) -> bool:
    """Whether ``actor`` is the engine's own (a Scheduler or a Runner, substituted too).

    By the MRO alone, as ``_probe._is``: an ABC's negative ``isinstance`` walks every
    subclass it has.
    """
    mro = type(actor).__mro__
    return Scheduler in mro or Runner in mro
