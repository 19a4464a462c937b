"""``VirtualClock``: time that moves only when a test (or the harness) moves it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["VirtualAlarm", "VirtualClock"]


class VirtualAlarm:
    """An alarm of a ``VirtualClock``: rings once the clock reaches the time last set."""

    __slots__ = ("_callback", "_clock", "closed", "when")

    def __init__(self, clock: VirtualClock, callback: Callable[[], None]) -> None:
        self._clock = clock
        self._callback = callback
        self.when: float | None = None
        """The time it rings at, or ``None`` when disarmed."""
        self.closed = False

    def set(self, when: float | None) -> None:
        """Ring at ``when`` (clock seconds); ``None`` disarms. Replaces the previous time."""
        with self._clock._lock:
            self.when = None if self.closed else when
            self._clock._armed.notify_all()

    def close(self) -> None:
        """Disarm for good."""
        with self._clock._lock:
            self.closed = True
            self.when = None
            self._clock._alarms.discard(self)

    def ring(self) -> None:
        """Disarm, then call the callback (outside the clock's lock: it may set the alarm)."""
        with self._clock._lock:
            self.when = None
        self._callback()


class VirtualClock:
    """A ``Clock`` whose time stands still until ``advance()`` (or the harness) moves it.

    Implements the engine's ``Clock`` protocol, so a ``Mediator`` can be built on it to
    test timers without sleeping. Under a ``Harness`` the clock *autojumps*: when no actor
    can run but an alarm is set, time jumps to the earliest alarm and it rings.

    Args:
        start: the initial time, in seconds.
        autojump: whether a ``Harness`` may jump time forward when everything is idle.
    """

    def __init__(self, start: float = 0.0, *, autojump: bool = True) -> None:
        self._now = float(start)
        self.autojump = autojump
        self._alarms: set[VirtualAlarm] = set()
        # Alarms may be set from an engine thread while a test advances time (a real,
        # threaded Mediator on a virtual clock), so state changes happen under a lock.
        self._lock = threading.Lock()
        self._armed = threading.Condition(self._lock)

    def now(self) -> float:
        """The current virtual time."""
        return self._now

    def alarm(self, callback: Callable[[], None]) -> VirtualAlarm:
        """A new, disarmed alarm that calls ``callback`` when it rings."""
        alarm = VirtualAlarm(self, callback)
        with self._lock:
            self._alarms.add(alarm)
        return alarm

    def next_alarm(self) -> float | None:
        """The earliest time an alarm is set for, or ``None``."""
        with self._lock:
            return self._earliest_locked()

    def wait_for_alarm(self, timeout: float = 5.0) -> float:
        """Block until some alarm is set; return its time (``TimeoutError`` after ``timeout``).

        For a real, threaded Mediator on this clock: the engine arms its alarm from its own
        thread, and a test waits for that instead of sleeping.
        """
        with self._armed:
            if not self._armed.wait_for(self._earliest_locked, timeout):
                msg = f"no alarm was set within {timeout}s"
                raise TimeoutError(msg)
            when = self._earliest_locked()
        assert when is not None
        return when

    def _earliest_locked(self) -> float | None:
        times = [a.when for a in self._alarms if a.when is not None]
        return min(times) if times else None

    def due(self) -> list[VirtualAlarm]:
        """Alarms set for now or earlier (they ring when the harness chooses to ring them)."""
        with self._lock:
            due = [a for a in self._alarms if a.when is not None and a.when <= self._now]
        if len(due) < 2:
            return due
        # Deterministic order for the harness's chooser: by due time (ties are rare and
        # only between alarms of different mediators sharing one clock).
        return sorted(due, key=lambda a: a.when or 0.0)

    def advance(self, seconds: float) -> int:
        """Move time forward by ``seconds``, ringing each alarm as its time comes.

        Returns how many alarms rang. Alarms ring in due order, each with the clock set
        to its due time, so a callback that sets a later alarm within the window rings too.
        """
        if seconds < 0:
            msg = f"a virtual clock only moves forward; advance({seconds!r}) is negative"
            raise ValueError(msg)
        target = self._now + seconds
        rang = 0
        while True:
            when = self.next_alarm()
            if when is None or when > target:
                break
            self._now = max(self._now, when)
            for alarm in self.due():
                alarm.ring()
                rang += 1
        self._now = target
        return rang

    def jump(self) -> float | None:
        """Jump to the earliest alarm without ringing it; the new time (``None``: no alarm set)."""
        when = self.next_alarm()
        if when is None:
            return None
        self._now = max(self._now, when)
        return self._now

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now!r}, alarms={len(self._alarms)})"
