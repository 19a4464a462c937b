"""The one seam with pykka's actor runtime.

The Scheduler and Runner are written against ``pykka.Actor`` alone; a ``Runtime``
supplies the inbox, future and actor-loop hooks by mixing in a concrete actor class.
Production uses real threads; ``actors.testing`` supplies a threadless, deterministic
runtime for the very same classes.
"""

from __future__ import annotations

import _thread
import queue
import sys
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pykka

from actors._delivering import delivering
from actors._pykka_seam import Envelope, hooks, is_actor_stop, tell_marking_put, told

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

    from actors._pykka_seam import OptExcInfo

__all__ = [
    "LanedInbox",
    "LatchFuture",
    "Runtime",
    "TellMarkingInbox",
    "ThreadingRuntime",
    "answered_now",
    "lane_of",
    "own_inbox",
    "when_stop_is_put",
]

A = TypeVar("A", bound=pykka.Actor)


class Runtime(Protocol):
    """Turns an actor behaviour class into a startable actor class."""

    def actor_class(self, behaviour: type[A]) -> type[A]:
        """``behaviour`` combined with this runtime's inbox, future and loop."""

    def create_future(self) -> pykka.Future[Any]:
        """A future that ``get()`` can wait on under this runtime."""


def _fast_inbox(cls: type[Any]) -> Any:
    # queue.SimpleQueue is implemented in C: a put or get is one call instead of
    # queue.Queue's Python-level lock and two conditions, and every message pays it.
    # It offers the put/get/empty that pykka's loop uses (and is never bounded).
    urgent = getattr(cls, "urgent_messages", None)
    if urgent:
        return LanedInbox(urgent)
    told_as = getattr(cls, "told_as", None)
    return TellMarkingInbox(told_as) if told_as else queue.SimpleQueue()


class TellMarkingInbox:
    """An inbox that wraps told messages of some types, so their handler knows no one waits.

    ``told_as`` maps a message type to a wrapper: a message of that type sent with
    ``tell`` is queued as ``wrapper(message)``; sent with ``ask``, as it came. pykka
    hands a handler the message only, and a handler whose refusal would be raised to an
    asker must not raise when nobody asked (pykka stops an actor on a told failure).
    """

    __slots__ = ("empty", "get", "owner", "put")

    def __init__(self, told_as: Mapping[type, Callable[[Any], Any]]) -> None:
        fifo: queue.SimpleQueue[Envelope[Any]] = queue.SimpleQueue()
        # An attribute, not a method: no bound-method call on every message.
        self.put = tell_marking_put(fifo.put, told_as, self._stop)
        self.get = fifo.get
        self.empty = fifo.empty
        self.owner: int | None = None
        """The ident of the actor's thread, once it runs (see ``own_inbox``)."""

    def _stop(self, envelope: Envelope[Any]) -> Envelope[Any]:
        # The actor's own thread stops it (a hook calling pykka's stop_all()): see
        # answered_now.
        return answered_now(envelope) if threading.get_ident() == self.owner else envelope


class LanedInbox:
    """An actor's inbox with a second lane, for the told messages it must see mid-delivery.

    A Runner runs many steps in one delivery, and pykka hands it its next message only
    after that delivery. A told message whose type is in ``urgent`` (a ``StopJob``)
    goes to ``lane`` instead of the queue, and the actor takes it from there between two
    steps: a selective receive, as an Erlang process does, or an Akka control-aware
    mailbox. Any thread appends to the lane; only the actor's own thread takes from it.
    Everything else goes through the queue to pykka's loop as usual.
    """

    __slots__ = ("_put", "empty", "get", "lane", "on_stop", "urgent")

    def __init__(self, urgent: Collection[type]) -> None:
        fifo: queue.SimpleQueue[Envelope[Any]] = queue.SimpleQueue()
        self._put = fifo.put
        self.get = fifo.get
        self.empty = fifo.empty
        self.lane: deque[Any] = deque()
        self.urgent = frozenset(urgent)
        self.on_stop: Callable[[], None] | None = None
        """Called, on the stopping thread, as pykka's stop is queued (see ``when_stop_is_put``)."""

    def put(self, envelope: Envelope[Any], /) -> None:
        """Queue ``envelope``, or its message in the lane if it is an urgent tell."""
        is_tell, message = told(envelope)
        if is_tell and type(message) in self.urgent:
            self.lane.append(message)
            return
        if not is_tell and is_actor_stop(message):
            if self.on_stop is not None:
                self.on_stop()
            if getattr(delivering.runner, "actor_inbox", None) is self:
                envelope = answered_now(envelope)  # a task calling pykka's stop_all()
        self._put(envelope)


def answered_now(envelope: Envelope[Any]) -> Envelope[Any]:
    """Pykka's stop of an actor, asked on that actor's own thread: answered at once.

    pykka waits for the stop's answer, which only the end of the delivery under way (a
    task's, a hook's) would give: it waited for ever, and no actor after it in the
    registry stopped (``stop_all()``). The stop is queued as a tell: the actor stops
    once its delivery is over.
    """
    if envelope.reply_to is not None:
        envelope.reply_to.set(None)
    return Envelope(envelope.message)


def own_inbox(actor: pykka.Actor) -> None:
    """Called on ``actor``'s thread: its inbox answers a stop asked there at once."""
    if isinstance(actor.actor_inbox, TellMarkingInbox):
        actor.actor_inbox.owner = threading.get_ident()


def lane_of(actor: pykka.Actor) -> deque[Any] | None:
    """The lane of ``actor``'s inbox (see ``LanedInbox``); ``None`` if its inbox has none.

    The deterministic runtime of ``actors.testing`` gives its inboxes a lane the same way.
    """
    lane = getattr(actor.actor_inbox, "lane", None)
    return lane if isinstance(lane, deque) else None


def when_stop_is_put(actor: pykka.Actor, call: Callable[[], None]) -> None:
    """Have ``call()`` run as soon as pykka's stop is put in ``actor``'s inbox.

    pykka hands an actor its stop only after the delivery under way, and a runner may
    run many steps in one delivery: ``call`` lets it stop between two of them instead.
    Does nothing for an inbox without the hook.
    """
    if hasattr(actor.actor_inbox, "on_stop"):
        actor.actor_inbox.on_stop = call


class LatchFuture(pykka.Future[Any]):
    """A one-shot ``pykka.Future`` for threads, built on one plain lock.

    ``pykka.ThreadingFuture`` builds a ``threading.Condition`` (an ``RLock``, a deque
    and several bound methods) per future, and the engine makes one future per case.
    Here the lock is taken when the future is made and released by ``set()``: a
    waiter acquires it (blocking, with the timeout) and releases it again at once, so
    every waiter passes. Same contract as ``ThreadingFuture``: the value can be read
    any number of times, a second ``set()`` raises ``queue.Full``, and ``get()``
    raises ``pykka.Timeout`` when ``timeout`` passes first.
    """

    def __init__(self) -> None:
        super().__init__()
        self._latch = _thread.allocate_lock()
        self._latch.acquire()
        self._result: tuple[Any, OptExcInfo | None] | None = None

    def get(self, *, timeout: float | None = None) -> Any:
        """The value (or the exception set), waiting up to ``timeout`` seconds for it."""
        if self._get_hook is not None:
            return super().get(timeout=timeout)
        result = self._result
        if result is None:
            # A lock's wait stops at threading.TIMEOUT_MAX (292 years; past it,
            # infinity too, raised OverflowError): so long is for ever.
            if timeout is None or timeout >= threading.TIMEOUT_MAX:
                passed = self._latch.acquire()
            elif timeout > 0:
                passed = self._latch.acquire(True, timeout)
            else:
                passed = self._latch.acquire(False)
            if not passed:
                msg = f"{timeout} seconds"
                raise pykka.Timeout(msg)
            self._latch.release()  # the next waiter passes too
            result = self._result
            assert result is not None
        value, exc_info = result
        if exc_info is not None:
            exc_type, exc_value, exc_tb = exc_info
            assert exc_type is not None
            if exc_value is None:
                exc_value = exc_type()
            if exc_value.__traceback__ is not exc_tb:
                raise exc_value.with_traceback(exc_tb)
            raise exc_value
        return value

    def set(self, value: Any | None = None) -> None:
        """Set the value once (a second ``set()`` raises ``queue.Full``)."""
        self._resolve((value, None))

    def set_exception(self, exc_info: OptExcInfo | None = None) -> None:
        """Set an exception (``sys.exc_info()`` when none is given)."""
        self._resolve((None, exc_info if exc_info is not None else sys.exc_info()))

    def set_get_hook(self, func: Any) -> None:
        """As ``pykka.Future.set_get_hook`` (``queue.Full`` once a result is set)."""
        if self._result is not None:
            raise queue.Full
        super().set_get_hook(func)

    def _resolve(self, result: tuple[Any, OptExcInfo | None]) -> None:
        if self._result is not None or self._get_hook is not None:
            raise queue.Full
        self._result = result
        self._latch.release()


class ThreadingRuntime:
    """Each actor on its own daemon thread (a forgotten Mediator cannot hang the process)."""

    starts_synchronously = False
    """``on_start`` runs later, on the actor's thread."""

    _cache: dict[type[Any], type[Any]] = {}  # noqa: RUF012 - a class-level memo by design

    def actor_class(self, behaviour: type[A]) -> type[A]:
        """``behaviour`` mixed with ``pykka.ThreadingActor``."""
        cls = self._cache.get(behaviour)
        if cls is None:
            cls = type(
                behaviour.__name__,
                (behaviour, pykka.ThreadingActor),
                {
                    "use_daemon_thread": True,
                    "__module__": behaviour.__module__,
                    **hooks(inbox=_fast_inbox),
                },
            )
            self._cache[behaviour] = cls
        return cls

    def create_future(self) -> pykka.Future[Any]:
        """A ``LatchFuture`` (a ``pykka.Future`` that threads can wait on)."""
        return LatchFuture()
