"""``DeterministicFuture``: a pykka future that drives its runtime instead of blocking a thread."""

from __future__ import annotations

import queue
import sys
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pykka

from actors.testing._errors import Deadlock

if TYPE_CHECKING:
    from actors._pykka_seam import OptExcInfo
    from actors.testing._runtime import DeterministicRuntime

__all__ = ["DeterministicFuture"]

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
            self._runtime.drive_until(lambda: self._has_result, timeout, what=repr(self))
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

    def set_exception(self, exc_info: OptExcInfo | None = None) -> None:
        """Set an exception (from ``sys.exc_info()`` when none is given)."""
        if self._has_result or self._get_hook is not None:
            raise queue.Full
        self._exc_info = exc_info if exc_info is not None else sys.exc_info()
        self._has_result = True

    def __repr__(self) -> str:
        state = "resolved" if self._has_result else "pending"
        return f"<DeterministicFuture {state}>"
