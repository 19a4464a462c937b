"""``DeterministicFuture``: a pykka future that drives its runtime instead of blocking a thread."""

from __future__ import annotations

import queue
import reprlib
import sys
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pykka
from pykka import messages as pykka_messages

from actors.testing._errors import Deadlock
from actors.testing._report import describe_message

if TYPE_CHECKING:
    from actors._pykka_seam import OptExcInfo
    from actors.testing._runtime import DeterministicRuntime

__all__ = ["DeterministicFuture", "LaterAnswer"]

T = TypeVar("T")


class DeterministicFuture(pykka.Future[T]):
    """A future whose ``get()`` drives its runtime until a value is set.

    ``timeout`` is measured on the runtime's virtual clock (when it has one): deliveries
    take no virtual time, so a timeout passes only when timers move the clock.
    """

    def __init__(self, runtime: DeterministicRuntime | None = None) -> None:
        super().__init__()
        self._runtime = runtime
        self._has_result = False
        self._value: Any = None
        self._exc_info: OptExcInfo | None = None
        self.about: str | tuple[str, Any] | None = None
        """What the future stands for, as ``describe()`` words it: a text, or the
        ``(actor name, message)`` of the ask it answers (worded only when read)."""
        self.user_ask = False
        """Whether it answers an ask of a user's actor (a ``SlowReply`` may make it late)."""
        self._then: DeterministicFuture[Any] | None = None

    def describe(self) -> str:
        """What this future stands for, for a ``Deadlock`` or timeout message.

        ``the result of case j1 (workflow 'order')``, ``stock's reply to Reserve(...)``;
        a future nobody named is ``a future``.
        """
        about = self.about
        if about is None:
            return "a future"
        if isinstance(about, str):
            return about
        name, message = about
        return f"{name}'s reply to {_message(message)}"

    @property
    def resolved(self) -> bool:
        """Whether a value or an exception has been set."""
        return self._has_result

    def get(self, *, timeout: float | None = None) -> T:
        """The value, driving the runtime until it is set (raises the set exception)."""
        try:
            return super().get(timeout=timeout)
        except NotImplementedError:
            pass
        if not self._has_result:
            if self._runtime is None:
                msg = "this future is unresolved and belongs to no runtime that could resolve it"
                raise Deadlock(msg)
            self._runtime.drive_until(
                lambda: self._has_result,
                timeout,
                what=self.describe(),
                ask=self.user_ask,
            )
        if self._exc_info is not None:
            exc_type, exc_value, exc_tb = self._exc_info
            assert exc_type is not None
            if exc_value is None:
                exc_value = exc_type()
            raise exc_value.with_traceback(exc_tb)
        return cast("T", self._value)

    def set(self, value: Any | None = None) -> None:
        """Set the value (once; like pykka's futures, a second set raises ``queue.Full``)."""
        if self._has_result or self._get_hook is not None:
            raise queue.Full
        self._value = value
        self._has_result = True
        if self._then is not None:
            self._then.set(value)

    def set_exception(self, exc_info: OptExcInfo | None = None) -> None:
        """Set an exception (from ``sys.exc_info()`` when none is given)."""
        if self._has_result or self._get_hook is not None:
            raise queue.Full
        self._exc_info = exc_info if exc_info is not None else sys.exc_info()
        self._has_result = True
        if self._then is not None:
            self._then.set_exception(self._exc_info)

    def pass_on(self, other: DeterministicFuture[Any]) -> None:
        """Have ``other`` take this future's value (or exception) when it is set."""
        if self._has_result:
            if self._exc_info is not None:
                other.set_exception(self._exc_info)
            else:
                other.set(self._value)
            return
        self._then = other


class LaterAnswer(DeterministicFuture[T]):
    """An ask's future whose answer may be a future of it (a cancel answered with a report).

    The Scheduler answers a cancel of a job whose runner may end it as it stands with a
    future it sets once that runner has reported: this one then takes that one's value.
    """

    def set(self, value: Any | None = None) -> None:
        """Set the value, or take the value of ``value`` once set if it is a future."""
        if isinstance(value, DeterministicFuture):
            value.pass_on(self)
            return
        super().set(value)

    def __repr__(self) -> str:
        state = "resolved" if self._has_result else "pending"
        return f"<DeterministicFuture {state}: {self.describe()}>"


_PROXIES = (pykka_messages.ProxyCall, pykka_messages.ProxyGetAttr, pykka_messages.ProxySetAttr)


def _message(message: Any) -> str:
    """An asked message in a headline: the engine's by type and job, a user's by its repr.

    A proxy's call is named as the trace names it (``level('x')``), not by the repr of
    pykka's message, which ``reprlib`` cuts to ``ProxyCall(att...,), kwargs={})``.
    """
    if isinstance(message, _PROXIES):
        return describe_message(message)[2]
    if type(message).__module__ != "actors.messages":
        return reprlib.repr(message)
    action, job, _ = describe_message(message)
    return f"{action} of job {job}" if job else action
