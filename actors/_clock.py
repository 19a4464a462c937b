"""The ``Clock`` protocol and the system clock: the engine's only source of time."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Alarm", "Clock", "SystemClock"]

# The alarm's thread looks at the wall clock at least this often: the clock can step (an
# NTP correction, a machine resumed from sleep) while a timed wait counts the time slept.
_LOOK_EVERY = 1.0
_JOIN_TIMEOUT = 5.0  # how long close() waits for the alarm's thread to end


class Alarm(Protocol):
    """Calls its callback once the clock reaches the time last ``set``.

    It may ring earlier (``SystemClock``'s does when the clock steps back): the engine
    then looks at what is due and sets it again.
    """

    def set(self, when: float | None) -> None:
        """Ring at ``when`` (clock seconds); ``None`` disarms. Replaces the previous time."""

    def close(self) -> None:
        """Disarm for good and release any thread."""


class Clock(Protocol):
    """Time as the engine sees it. Inject a virtual one to test timers without sleeping."""

    def now(self) -> float:
        """Seconds since the epoch (due times are saved with jobs, so they outlive a process)."""

    def alarm(self, callback: Callable[[], None]) -> Alarm:
        """A new alarm that calls ``callback`` (from any thread) when it rings."""


class SystemClock:
    """Wall-clock time; each alarm is one daemon thread that sleeps until its due time.

    The thread looks at the clock at least once a second, so an alarm rings within a
    second of the clock reaching its due time, even when the clock steps there. When the
    clock steps back it rings at once, before its time: a due time set as "an interval
    from now" (the Scheduler's poll) is that much further off after the step, and its
    owner sets it again. The Scheduler takes an early ring as a look at what is due.
    """

    def now(self) -> float:
        """``time.time()``."""
        return time.time()

    def alarm(self, callback: Callable[[], None]) -> Alarm:
        """Start a thread that rings ``callback`` at the time last set."""
        return _ThreadAlarm(self, callback)


class _ThreadAlarm:
    def __init__(self, clock: SystemClock, callback: Callable[[], None]) -> None:
        self._clock = clock
        self._callback = callback
        self._when: float | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="actors-alarm", daemon=True)
        self._thread.start()

    def set(self, when: float | None) -> None:
        with self._cond:
            self._when = when
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        # Gone once this returns, so a shutdown() leaves no thread of the engine behind;
        # its callback (a tell) never blocks, so the join is short.
        if threading.current_thread() is not self._thread:
            self._thread.join(_JOIN_TIMEOUT)

    def _loop(self) -> None:
        seen = -math.inf  # the latest time read: one before it means the clock stepped back
        while True:
            with self._cond:
                while not self._closed:
                    if self._when is None:
                        self._cond.wait()
                        continue
                    now = self._clock.now()
                    stepped_back, seen = now < seen, now
                    delay = self._when - now
                    if math.isnan(delay):  # never due: nothing to wait for
                        self._when = None
                        continue
                    if delay <= 0 or stepped_back:
                        self._when = None
                        break
                    # Never the whole delay: a due time read from a store may be past what a
                    # lock can wait for (that raised here and stopped this thread for good),
                    # and a step of the clock would go unnoticed until the wait ended.
                    self._cond.wait(min(delay, _LOOK_EVERY))
                if self._closed:
                    return
            self._callback()
