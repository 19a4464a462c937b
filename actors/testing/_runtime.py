"""A threadless, deterministic pykka runtime for the engine's very own actor classes.

It plugs into the three hooks pykka leaves for new actor types (an inbox, a future, the
actor loop), through ``actors._pykka_seam``, and nowhere else. Each actor's inbox is a
plain deque owned by the runtime; nothing runs until a *driver* (the ``Harness``, or
this module's first-come default) picks an actor and delivers one message to it, with
exactly the semantics of pykka's actor loop (``on_start`` first, replies to asks,
``on_failure`` for an unhandled error, ``_ActorStop``, teardown of a stopped actor's
inbox). A future's ``get()`` drives deliveries until it resolves, and raises instead of
hanging when nothing is left to deliver.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pykka
from pykka import messages as pykka_messages

from actors._pykka_seam import Envelope, handle_failure, handle_receive
from actors._redact import redacted_logger
from actors.testing._actor_classes import RELEASED, STOPPED, RuntimeActor, SimActor, SimInit
from actors.testing._cells import ActorCell, Blocker, Inbox, release
from actors.testing._errors import Deadlock, HarnessError, InjectedCrash
from actors.testing._foreign import delivering, guard_threading_futures, set_delivering
from actors.testing._future import DeterministicFuture
from actors.testing._waits import Waiting

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from actors.testing._clock import VirtualClock

__all__ = ["ActorCell", "Blocker", "DeterministicFuture", "DeterministicRuntime"]

logger = redacted_logger("actors.testing")

# ActorCell and Blocker (with the cells' inbox) live in ``_cells``, DeterministicFuture in
# ``_future``; they are re-exported here with the runtime. The actor classes it builds
# (pykka's hooks, served by the runtime) are in ``_actor_classes``.

A = TypeVar("A", bound=pykka.Actor)

STARTED = "on_start"
"""What ``DeterministicRuntime.deliver`` reports when it ran an actor's ``on_start``."""


def _no_wait_noted(_detail: str) -> None:
    pass


def _no_slow_reply() -> str | None:
    return None


def _default_name(actor: pykka.Actor) -> str:
    base = type(actor).__name__.lower()
    index = getattr(actor, "_index", None)
    return f"{base}-{index}" if isinstance(index, int) else base


class DeterministicRuntime(Waiting):
    """The engine's ``Runtime`` seam without threads: actors run only when driven.

    Args:
        clock: the virtual clock futures measure ``timeout`` on (optional).
        substitutions: behaviour classes to replace when the engine asks for an actor
            class (``{Scheduler: MyScheduler}``); how a test plants a variant of an actor.
    """

    starts_synchronously = True
    """Nothing to wait for after ``start()``: no thread will run ``on_start`` on its own.

    Here ``on_start`` is an actor's first delivery, run when the driver (the harness)
    chooses it, like every other delivery; a caller that waited for it would only drive
    the simulation before the test has set it up.
    """

    def __init__(
        self,
        *,
        clock: VirtualClock | None = None,
        substitutions: Mapping[type, type] | None = None,
    ) -> None:
        self.clock = clock
        self.step_hook: Callable[[int, Any, Any], bool] | None = None
        """Called by a runner before each step, as ``(runner, job, step)`` (set by the harness).

        Returns whether the runner reads a stop for the job before the step.
        """
        self.send_hook: Callable[[int, Any, Callable[[], None]], bool] | None = None
        """Called by a runner before a request's send, as ``(runner, job, send)`` (set by the
        harness).

        Returns whether the harness took the send, to call ``send`` later itself.
        """
        self.cells: list[ActorCell] = []
        """Live actors, in start order."""
        self.blockers: list[Blocker] = []
        """Simulated threads blocked in a call, oldest first."""
        self.driver: Callable[[], bool] = self.step_first
        """Makes one step of progress; ``False`` when nothing can progress (set by the harness)."""
        self.stalled: Callable[[str], BaseException] = Deadlock
        """Builds the error raised when a future's ``get()`` finds nothing left to do."""
        self.put_filter: Callable[[ActorCell, Envelope[Any]], int] | None = None
        """Extra copies to enqueue of a told message (fault injection); ``None``: none."""
        self.event_gate: Callable[[ActorCell, Envelope[Any]], bool] | None = None
        """Takes an external event put into a Scheduler's inbox (event faults): whether it
        took it, to send, hold or drop it itself; ``None``: none taken."""
        self.failures: list[tuple[ActorCell, BaseException]] = []
        """Unhandled exceptions of told messages, as pykka's loop would log them."""
        self.namer: Callable[[pykka.Actor], str] = _default_name
        self.waited: Callable[[str], None] = _no_wait_noted
        """Told when a wait with a timeout let virtual time pass (the harness traces it)."""
        self.slow_reply: Callable[[], str | None] = _no_slow_reply
        """Whether an ask with a timeout about to be awaited is answered too late: the
        fault's description, or ``None`` (set by the harness from its fault plan)."""
        self.foreign: Callable[[str], BaseException] = HarnessError
        """Builds the error raised when a task waits on an actor this runtime does not run,
        or on what this runtime cannot simulate (a harness fails the run with it)."""
        guard_threading_futures()
        self.delivering: list[ActorCell] = []
        """Actors inside a delivery, outermost first (an inner one runs from a ``get()``,
        or while a runner is between two steps)."""
        self._subs = dict(substitutions or {})
        self._classes: dict[type, type[RuntimeActor]] = {}
        self._seq = itertools.count()
        self._names: dict[str, int] = {}
        self._gone: list[ActorCell] = []  # torn down before the end (a crashed runner)
        # Waits in progress, outermost first: (virtual deadline or None, what is awaited).
        self._waits: list[tuple[float | None, str]] = []
        self._ends_now = False

    # -- the Runtime protocol ----------------------------------------------------------

    def actor_class(self, behaviour: type[A]) -> type[A]:
        """``behaviour`` (or its substitute) mixed with this runtime's hooks."""
        behaviour = self._subs.get(behaviour, behaviour)
        cls = self._classes.get(behaviour)
        if cls is None and RELEASED.get(behaviour):
            with contextlib.suppress(IndexError):  # another thread took the last one
                cls = RELEASED[behaviour].pop()
                cls._actors_runtime = self
                self._classes[behaviour] = cls
        if cls is None:
            # The runtime's hooks come first, so a class that already picked pykka's
            # threading runtime (``pykka.ThreadingActor``) runs here without its thread.
            cls = type(
                behaviour.__name__,
                (SimActor, behaviour, SimInit),
                {
                    "_actors_runtime": self,
                    "__module__": behaviour.__module__,
                    "__qualname__": behaviour.__qualname__,
                },
            )
            self._classes[behaviour] = cls
        return cast("type[A]", cls)

    def create_future(self) -> pykka.Future[Any]:
        """A future resolved by driving this runtime."""
        return DeterministicFuture(self)

    @staticmethod
    def send(ref: pykka.ActorRef[Any], message: Any, reply_to: pykka.Future[Any]) -> None:
        """``ref.ask(message)`` answered into an existing future (one made before the send)."""
        if not ref.is_alive():
            error = pykka.ActorDeadError(f"{ref} not found")
            reply_to.set_exception((pykka.ActorDeadError, error, None))
            return
        ref.actor_inbox.put(Envelope(message, reply_to=reply_to))

    # -- actors ----------------------------------------------------------------------------

    def register(self, actor: pykka.Actor) -> ActorCell:
        """Adopt a started actor (called from pykka's actor-loop hook)."""
        inbox = cast("Inbox", actor.actor_inbox)
        name = self.namer(actor)
        incarnation = self._names.get(name, 0) + 1
        self._names[name] = incarnation
        if incarnation > 1:  # a restarted runner keeps its index: tell incarnations apart
            name = f"{name}#{incarnation}"
        cell = ActorCell(actor, inbox, name, next(self._seq))
        inbox.cell = cell
        self.cells.append(cell)
        return cell

    def runnable(self) -> list[ActorCell]:
        """Actors that could take a delivery now, in start order."""
        return [
            c
            for c in self.cells
            if not c.busy and c.blocker is None and (c.inbox.queue or not c.started)
        ]

    def deliver(self, cell: ActorCell) -> Any:
        """Run ``cell``'s ``on_start``, or hand it its oldest message; returns what it handled.

        Mirrors pykka's actor loop for one envelope: the reply to an ask, ``on_failure``
        after an unhandled exception in a told message, and the teardown of an actor that
        stopped (messages left in its inbox get ``ActorDeadError``).
        """
        actor = cell.actor
        cell.busy = True
        self.delivering.append(cell)
        outer = delivering()
        set_delivering(self.foreign)
        try:
            if not cell.started:
                cell.started = True
                try:
                    actor.on_start()
                except Exception as exc:
                    self.failures.append((cell, exc))
                    self._failed(cell, exc)
                return STARTED
            envelope = cell.inbox.get()
            self._handle(cell, envelope)
            return envelope.message
        finally:
            set_delivering(outer)
            self.delivering.pop()
            cell.busy = False
            if actor.actor_stopped.is_set():
                self._teardown(cell)

    def _handle(self, cell: ActorCell, envelope: Envelope[Any]) -> None:
        actor = cell.actor
        try:
            response = handle_receive(actor, envelope.message)
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)
        except Exception as exc:
            if envelope.reply_to is not None:
                envelope.reply_to.set_exception()
            else:
                self.failures.append((cell, exc))
                self._failed(cell, exc)
                try:
                    actor.on_failure(*sys.exc_info())
                except Exception:
                    handle_failure(actor, sys.exc_info())
        except BaseException as exc:
            # pykka stops every actor on a BaseException (e.g. KeyboardInterrupt); so do
            # we, and let it propagate so the test run stops too. The harness's own stop
            # of a spinning delivery leaves them for its report (close() stops them).
            if not getattr(exc, "keeps_actors", False):
                self.stop_all()
                # A task whose ask delivered this message must not take it for its own
                # failure (a SystemExit would be): the actors it would go on with are gone.
                with contextlib.suppress(AttributeError):  # an exception without a __dict__
                    exc.stopped_every_actor = True  # type: ignore[attr-defined]
            raise

    @staticmethod
    def _failed(cell: ActorCell, exc: Exception) -> None:
        """Stop ``cell``'s actor after ``exc``, as pykka's loop does (called in ``except``)."""
        if isinstance(exc, InjectedCrash):
            # The test's own doing: one line, where pykka logs a traceback at ERROR, so a
            # property test with crashes leaves no page of tracebacks per example.
            logger.info("%s: %s", cell.name, exc)
            handle_failure(cell.actor, sys.exc_info(), log=False)
        else:
            handle_failure(cell.actor, sys.exc_info())

    def _teardown(self, cell: ActorCell) -> None:
        """Pykka's loop teardown: answer what is left in a stopped actor's inbox."""
        if cell.dead:
            return
        cell.dead = True
        if cell in self.cells:
            self.cells.remove(cell)
        self._gone.append(cell)
        if cell.blocker is not None:
            self.unblock(cell.blocker)
        while cell.inbox.queue:
            envelope = cell.inbox.queue.popleft()
            if envelope.reply_to is None:
                continue
            if isinstance(envelope.message, pykka_messages._ActorStop):
                envelope.reply_to.set(None)
            else:
                error = pykka.ActorDeadError(f"{cell.actor} stopped before handling the message")
                envelope.reply_to.set_exception((pykka.ActorDeadError, error, None))

    def stop_all(self) -> None:
        """Stop every actor at once, without running ``on_stop`` (the simulation is over)."""
        for cell in list(self.cells):
            pykka.ActorRegistry.unregister(cell.actor.actor_ref)
            cell.actor.actor_stopped.set()
            self._teardown(cell)
        self.blockers.clear()
        gone, self._gone = self._gone, []
        release(gone)
        # The driver's hooks (bound methods of a harness) go too: nothing is driven now.
        self.stalled, self.foreign = Deadlock, HarnessError
        self.step_hook = self.put_filter = self.send_hook = self.event_gate = None
        self.waited = _no_wait_noted
        self.slow_reply = _no_slow_reply
        # Every actor of these classes has stopped: the next runtime may take them over.
        # (A stopped actor's ref still answers ActorDeadError, through any runtime.)
        if self._classes and not STOPPED:
            STOPPED.append(DeterministicRuntime())
        for behaviour, cls in self._classes.items():
            cls._actors_runtime = STOPPED[0]
            RELEASED.setdefault(behaviour, []).append(cls)
        self._classes.clear()

    # -- simulated blocking calls -------------------------------------------------------------

    def block(
        self,
        actor: pykka.Actor | None,
        *,
        why: str,
        ready: Callable[[], bool],
        resume: Callable[[], None],
        holds: Callable[[], Iterable[str]] = lambda: (),
        name: str = "",
    ) -> Blocker:
        """Simulate ``actor``'s thread (or a producer's, when ``actor`` is None) blocking in a call.

        Returns the ``Blocker``; the driver resumes it once ``ready()`` holds. An actor
        blocks from inside a delivery, so the rest of its handler must be what
        ``resume`` runs.
        """
        cell = None
        if actor is not None:
            cell = cast("Inbox", actor.actor_inbox).cell
        blocker = Blocker(
            why, ready, resume, holds, cell, name or (cell.name if cell else "producer")
        )
        if cell is not None:
            cell.blocker = blocker
        self.blockers.append(blocker)
        return blocker

    def unblock(self, blocker: Blocker) -> None:
        """Forget ``blocker`` (its call returned)."""
        if blocker in self.blockers:
            self.blockers.remove(blocker)
        if blocker.cell is not None and blocker.cell.blocker is blocker:
            blocker.cell.blocker = None

    def resume(self, blocker: Blocker) -> None:
        """Unblock and run the rest of the blocked call (it may block again)."""
        self.unblock(blocker)
        cell = blocker.cell
        if cell is not None:
            cell.busy = True
        try:
            blocker.resume()
        finally:
            if cell is not None:
                cell.busy = False

    # -- driving -------------------------------------------------------------------------------

    def step_first(self) -> bool:
        """The default driver: deliver to the first runnable actor, else resume a ready blocker."""
        cells = self.runnable()
        if cells:
            self.deliver(cells[0])
            return True
        for blocker in self.blockers:
            if blocker.ready():
                self.resume(blocker)
                return True
        return False
