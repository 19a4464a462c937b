"""pykka's private names that the engine and its test harness rely on, all in this module.

pykka lets a new kind of actor supply its own inbox, future and actor loop through three
hooks on ``pykka.Actor``, and hands messages over in an ``Envelope``; none of these is
public API. The threading runtime (``actors._runtime``) replaces the inbox; the
deterministic runtime (``actors.testing``) replaces all three and delivers envelopes
itself. Both go through this module alone, so a pykka release that renames any of them
breaks here, and ``tests/test_pykka_seam.py`` checks every name against the installed
pykka within ``SUPPORTED_PYKKA`` (the range ``setup.cfg`` allows).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pykka
from pykka import messages as _pykka_messages
from pykka._actor import ActorInbox
from pykka._envelope import Envelope
from pykka._types import OptExcInfo

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "SUPPORTED_PYKKA",
    "ActorInbox",
    "Envelope",
    "OptExcInfo",
    "handle_failure",
    "handle_receive",
    "hooks",
    "init_fields",
    "is_actor_stop",
    "registry_after_fork",
    "tell_marking_put",
    "told",
    "wrap_threading_future_get",
]

SUPPORTED_PYKKA = ((4, 5), (5, 0))  # from (inclusive), to (exclusive): setup.cfg's pin

INBOX_HOOK = "_create_actor_inbox"  # classmethod: () -> an inbox with put/get/empty
FUTURE_HOOK = "_create_future"  # classmethod: () -> pykka.Future
LOOP_HOOK = "_start_actor_loop"  # method: run the actor's loop (pykka has registered it)
RECEIVE = "_handle_receive"  # method: (message) -> answer; pykka's own or on_receive
FAILURE = "_handle_failure"  # method: (type, value, traceback); logs, unregisters, stops
QUIET = "quiet_failure"
"""An actor's optional method ``(exception) -> bool``: True for a failure the actor reports
itself (its ``on_failure``), which pykka then does not log at ERROR with its traceback."""

# The messages pykka's ``_handle_receive`` handles itself (a stop, and a proxy's call, get
# and set); any other goes to ``on_receive``. tests/test_pykka_seam.py checks the list.
PYKKA_MESSAGES = frozenset(
    {
        _pykka_messages._ActorStop,
        _pykka_messages.ProxyCall,
        _pykka_messages.ProxyGetAttr,
        _pykka_messages.ProxySetAttr,
    }
)


def _receive(actor: pykka.Actor, message: Any) -> Any:
    """What pykka's ``_handle_receive`` does, with one type lookup for its four type tests.

    Every message an engine actor gets (a runner's report, a job handed to a runner) is
    one of the engine's own: it goes straight to ``on_receive``. pykka sends its own
    message types, never subclasses of them, so an exact type is enough to tell them.
    """
    if type(message) in PYKKA_MESSAGES:
        return pykka.Actor._handle_receive(actor, message)
    return actor.on_receive(message)


def _handle_failure(
    actor: pykka.Actor,
    exception_type: type[BaseException] | None,
    exception_value: BaseException | None,
    traceback: Any,
) -> None:
    """As ``pykka.Actor._handle_failure``, unlogged when the actor's ``QUIET`` says so."""
    quiet = getattr(actor, QUIET, None)
    log = quiet is None or not quiet(exception_value)
    handle_failure(actor, (exception_type, exception_value, traceback), log=log)


def hooks(
    *,
    inbox: Callable[..., Any] | None = None,
    future: Callable[..., Any] | None = None,
    loop: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """Class attributes that plug an inbox, a future or an actor loop into an actor class.

    ``inbox`` and ``future`` are called on the class (``inbox(cls)``), ``loop`` on the
    started actor (``loop(actor)``). Always with a dispatch that hands the actor's own
    messages to ``on_receive`` without pykka's tests for its system messages (``_receive``),
    and a failure handler that asks the actor's ``quiet_failure`` (if it has one) whether
    to log the failure (``QUIET``).
    """
    attrs: dict[str, Any] = {RECEIVE: _receive, FAILURE: _handle_failure}
    if inbox is not None:
        attrs[INBOX_HOOK] = classmethod(inbox)
    if future is not None:
        attrs[FUTURE_HOOK] = classmethod(future)
    if loop is not None:
        attrs[LOOP_HOOK] = loop
    return attrs


# What pykka.Actor.__init__ sets, and nothing else (tests/test_pykka_seam.py checks it).
INIT_FIELDS = frozenset({"actor_urn", "actor_inbox", "actor_stopped", "_actor_ref"})


def init_fields(actor: pykka.Actor, urn: str, stopped: Any) -> None:
    """Do what ``pykka.Actor.__init__`` does, with the given urn and stop flag.

    For a runtime whose actors need neither a random urn nor a ``threading.Event`` (the
    deterministic harness starts several actors for every schedule it runs).
    """
    actor.actor_urn = urn
    actor.actor_inbox = getattr(actor, INBOX_HOOK)()
    actor.actor_stopped = stopped
    actor._actor_ref = pykka.ActorRef(actor)


def registry_after_fork() -> None:
    """In a forked child: a fresh lock for pykka's actor registry, emptied of the parent's refs.

    Another of the parent's threads may have held the lock when it forked; the child has
    only the forking thread, so the copied lock would never be released. The parent's
    actors do not run in the child, so their refs are dropped too.
    """
    pykka.ActorRegistry._actor_refs_lock = threading.RLock()
    pykka.ActorRegistry._actor_refs = []


def told(envelope: Envelope[Any]) -> tuple[bool, Any]:
    """Whether ``envelope`` carries a tell (no reply wanted), and its message.

    An inbox with a lane of its own reads this as each envelope is put (see
    ``actors._runtime.LanedInbox``).
    """
    return envelope.reply_to is None, envelope.message


def is_actor_stop(message: Any) -> bool:
    """Whether ``message`` is pykka's stop (from ``ActorRef.stop()`` or ``stop_all()``)."""
    return isinstance(message, _pykka_messages._ActorStop)


def tell_marking_put(
    put: Callable[[Envelope[Any]], None],
    told_as: Mapping[type, Callable[[Any], Any]],
    stop: Callable[[Envelope[Any]], Envelope[Any]] | None = None,
) -> Callable[[Envelope[Any]], None]:
    """``put`` that first wraps a told message of a type in ``told_as`` (an ask as it came).

    ``stop``, if given, gets the envelope of pykka's stop and returns the one to put.
    One closure, reading the envelope's fields in place: it sits on an actor's mailbox
    (the Scheduler's), where every message pays for it.
    """
    marked: dict[type, Callable[[Any], Any]] = dict(told_as)
    if stop is not None:
        marked[_pykka_messages._ActorStop] = stop

    def marking_put(envelope: Envelope[Any], /) -> None:
        wrap = marked.get(type(envelope.message))
        if wrap is not None:
            if wrap is stop:
                envelope = stop(envelope)
            elif envelope.reply_to is None:
                envelope = Envelope(wrap(envelope.message))
        put(envelope)

    return marking_put


def handle_receive(actor: pykka.Actor, message: Any) -> Any:
    """Deliver ``message`` to ``actor`` as pykka's own loop does (system messages too)."""
    return actor._handle_receive(message)


def handle_failure(actor: pykka.Actor, exc_info: OptExcInfo, *, log: bool = True) -> None:
    """Stop ``actor`` after an unhandled exception, as pykka's own loop does.

    ``log=False`` stops it the same way without pykka's error log and traceback (for a
    failure the caller reports itself).
    """
    if log:
        # pykka's own: the actor's class has this module's ``_handle_failure`` (``hooks``).
        pykka.Actor._handle_failure(actor, *exc_info)
        return
    pykka.ActorRegistry.unregister(actor.actor_ref)
    actor.actor_stopped.set()


def wrap_threading_future_get(
    refuse: Callable[[], BaseException | None],
) -> None:
    """Make ``pykka.ThreadingFuture.get`` raise ``refuse()`` instead of blocking on it.

    Installed once per process. ``refuse()`` is asked only for a future not yet resolved
    (pykka keeps a ThreadingFuture's value in ``_result``, ``None`` until set); when it
    returns an error, ``get`` raises it, otherwise it waits as pykka's own does.
    """
    original = pykka.ThreadingFuture.get
    if getattr(original, "_actors_guard", False):
        return

    def get(self: pykka.ThreadingFuture[Any], *, timeout: float | None = None) -> Any:
        if getattr(self, "_result", True) is None:
            error = refuse()
            if error is not None:
                raise error
        return original(self, timeout=timeout)

    get._actors_guard = True  # type: ignore[attr-defined]
    pykka.ThreadingFuture.get = get  # type: ignore[method-assign]
