"""``VirtualClock``: time that moves only when a test (or the harness) moves it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["VirtualAlarm", "VirtualClock"]


class VirtualAlarm:
    """An alarm of a ``VirtualClock``: rings once the clock reaches the time last set.

    Set for a time the clock has already reached, it rings at once, as an alarm of the
    ``SystemClock`` does, unless a ``Harness`` holds the clock (see ``VirtualClock.hold``).
    """

    __slots__ = ("_callback", "_clock", "closed", "when")

    def __init__(self, clock: VirtualClock, callback: Callable[[], None]) -> None:
        self._clock = clock
        self._callback = callback
        self.when: float | None = None
        """The time it rings at, or ``None`` when disarmed."""
        self.closed = False

    def set(self, when: float | None) -> None:
        """Ring at ``when`` (clock seconds); ``None`` disarms. Replaces the previous time.

        A time at or before ``now()`` rings the alarm before ``set`` returns, in the
        calling thread; on a held clock it stays due until the harness rings it.
        """
        clock = self._clock
        with clock._lock:
            self.when = None if self.closed else when
            ring_now = self.when is not None and not clock.held and self.when <= clock._now
            if ring_now:
                self.when = None
            if self.when is None:
                clock._alarms.discard(self)
            else:
                clock._alarms.add(self)
                clock._armed.notify_all()
        if ring_now:
            self._callback()  # outside the lock: the callback may set the alarm again

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
            self._clock._alarms.discard(self)
        self._callback()

    def _ring_if_due(self) -> bool:
        # For advance(): another thread may have moved (or rung) the alarm since it was due.
        with self._clock._lock:
            if self.when is None or self.when > self._clock._now:
                return False
            self.when = None
            self._clock._alarms.discard(self)
        self._callback()
        return True


class VirtualClock:
    """A ``Clock`` whose time stands still until ``advance()`` (or the harness) moves it.

    Implements the engine's ``Clock`` protocol, so a ``Mediator`` can be built on it to
    test timers without sleeping. An alarm rings when ``advance()`` reaches its time, and
    an alarm set for a time already reached rings at once, in the thread that set it, as
    with the ``SystemClock``: a threaded engine that arms its alarm for "now" is not left
    waiting for a test to move time.

    A ``Harness`` *holds* its clock (``hold()``): there an alarm that comes due rings only
    when the harness chooses to ring it, one of the actions it schedules and replays.
    Under a harness the clock also *autojumps*: when no actor can run but an alarm is set,
    time jumps to the earliest alarm and it rings (or only to the deadline of a wait in
    progress, if that comes first: the wait times out there). It may jump too while a runner is
    about to run a step and nothing else can run (a slow step, during which a timer comes
    due).

    Args:
        start: the initial time, in seconds.
        autojump: whether a ``Harness`` may jump time forward when everything is idle.
    """

    def __init__(self, start: float = 0.0, *, autojump: bool = True) -> None:
        self._now = float(start)
        self.autojump = autojump
        self._held = False
        # Only alarms set for a time: the harness asks what is due before every action,
        # and most alarms are disarmed most of the time.
        self._alarms: set[VirtualAlarm] = set()
        # Alarms may be set from an engine thread while a test advances time (a real,
        # threaded Mediator on a virtual clock), so state changes happen under a lock.
        self._lock = threading.Lock()
        self._armed = threading.Condition(self._lock)

    @property
    def held(self) -> bool:
        """Whether a driver rings this clock's due alarms (``True`` under a ``Harness``)."""
        return self._held

    def hold(self) -> None:
        """Leave due alarms to a driver, for good: ``set`` no longer rings one at once.

        A ``Harness`` calls this on its clock, so that every ring is an action it chose
        (listed by ``due()``, rung by ``VirtualAlarm.ring()``) and a seed replays it.
        ``advance()`` still rings the alarms it passes.
        """
        with self._lock:
            self._held = True

    def now(self) -> float:
        """The current virtual time."""
        return self._now

    def alarm(self, callback: Callable[[], None]) -> VirtualAlarm:
        """A new, disarmed alarm that calls ``callback`` when it rings."""
        return VirtualAlarm(self, callback)

    def next_alarm(self) -> float | None:
        """The earliest time an alarm is set for, or ``None``."""
        with self._lock:
            return self._earliest_locked()

    def wait_for_alarm(self, timeout: float = 5.0, *, at_least: float | None = None) -> float:
        """Block until some alarm is set (for ``at_least`` or later); return its time.

        For a real, threaded Mediator on this clock: the engine arms its alarm from its own
        thread, and a test waits for that instead of sleeping. ``TimeoutError`` when no
        such alarm is set within ``timeout`` (real) seconds.
        """
        with self._armed:
            # ``is not None``: an alarm set for t=0.0 is set, though 0.0 is falsy.
            if not self._armed.wait_for(
                lambda: self._earliest_locked(at_least) is not None, timeout
            ):
                msg = f"no alarm was set within {timeout}s"
                if at_least is not None:
                    msg = f"no alarm was set for t >= {at_least} within {timeout}s"
                raise TimeoutError(msg)
            when = self._earliest_locked(at_least)
        assert when is not None
        return when

    def _earliest_locked(self, at_least: float | None = None) -> float | None:
        times = [
            a.when
            for a in self._alarms
            if a.when is not None and (at_least is None or a.when >= at_least)
        ]
        return min(times) if times else None

    def due(self) -> list[VirtualAlarm]:
        """Alarms set for now or earlier, on a held clock waiting for the harness to ring them."""
        if not self._alarms:  # read without the lock: an alarm set meanwhile is due next time
            return []
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
            with self._lock:
                # Checked and moved under the lock: an alarm another thread sets meanwhile
                # is either seen here or set after time moved, and then rings at once.
                when = self._earliest_locked()
                if when is None or when > target:
                    self._now = target
                    return rang
                self._now = max(self._now, when)
            for alarm in self.due():
                rang += alarm._ring_if_due()

    def skip(self, seconds: float) -> None:
        """Move time forward by ``seconds`` without ringing: what came due waits for a driver.

        For a held clock, whose driver rings each due alarm as an action of its choice (a
        ``Harness`` lets a lapsed lease's time pass so, the timers due meanwhile ringing
        late, as they would once a stalled thread's time had passed).
        """
        if seconds < 0:
            msg = f"a virtual clock only moves forward; skip({seconds!r}) is negative"
            raise ValueError(msg)
        with self._lock:
            self._now += seconds

    def jump(self, until: float | None = None) -> float | None:
        """Jump to the earliest alarm without ringing it; the new time (``None``: no alarm set).

        ``until``: to that time instead, if it comes first (a harness's event delayed so long).
        """
        with self._lock:
            when = self._earliest_locked()
            if until is not None and (when is None or until < when):
                when = until
            if when is None:
                return None
            self._now = max(self._now, when)
            return self._now

    def _jump_past(self, alarm: object, until: float) -> None:
        """Jump to ``until``, past ``alarm`` (which then rings), or to an earlier other alarm."""
        with self._lock:
            others = [a.when for a in self._alarms if a is not alarm and a.when is not None]
            self._now = max(self._now, min([until, *others]))

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now!r}, alarms set={len(self._alarms)})"
