"""How a simulated thread's wait on a future goes: deliveries, then virtual time, else stuck.

A ``get()`` in a task or a user's actor cannot block a thread here: it drives the runtime
(the harness's chosen actions) until the future resolves. When nothing is left to run, a
wait with a timeout lets virtual time pass as a thread's wait would, and one without is a
deadlock. A mixin of ``DeterministicRuntime``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pykka

from actors._seconds import MAX_SECONDS

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors.testing._clock import VirtualClock

__all__ = ["Waiting"]


class Waiting:
    """``drive_until`` and what it needs of the runtime (a mixin)."""

    clock: VirtualClock | None
    driver: Callable[[], bool]
    stalled: Callable[[str], BaseException]
    foreign: Callable[[str], BaseException]
    waited: Callable[[str], None]
    slow_reply: Callable[[], str | None]
    _waits: list[tuple[float | None, str]]
    _ends_now: bool  # the driver chose to end the wait in progress, at its deadline

    def wait_deadline(self) -> float | None:
        """The virtual deadline of the wait in progress (the innermost), or ``None``.

        A driver that moves the clock stops there: that wait times out at its deadline,
        before any later timer rings, as a blocked thread's wait would. An outer wait's
        deadline cannot stop the clock: the harness ends the innermost wait first.
        """
        return self._waits[-1][0] if self._waits else None

    def end_wait(self) -> None:
        """Have the wait in progress time out as the driver's action returns.

        A driver's choice, once the wait's deadline is reached while something else may
        still act at that time (a timer due then): which goes first is a race.
        """
        self._ends_now = True

    def _stuck(self, what: str) -> BaseException:
        """Why a wait with no timeout cannot go on: a deadlock, unless an outer one times out."""
        timed = [outer for deadline, outer in self._waits[:-1] if deadline is not None]
        if not timed:
            return self.stalled(f"nothing can run, yet {what or 'a future'} is unresolved")
        msg = (
            f"nothing can run, and {what or 'a future'} is awaited with no timeout inside a "
            f"wait that has one ({timed[-1] or 'a future'}): with threads that outer wait "
            "would time out first and let the run go on, but the harness runs nested waits "
            "on one stack and ends the innermost first. Give the inner wait a timeout too."
        )
        return self.foreign(msg)

    def drive_until(
        self, done: Callable[[], bool], timeout: float | None, *, what: str = "", ask: bool = False
    ) -> None:
        """Drive until ``done()``; ``pykka.Timeout`` after ``timeout`` virtual seconds.

        When nothing is left to deliver first, a wait with a ``timeout`` lets virtual time
        pass, as a blocked thread's wait would: to the next alarm (which then rings, and
        may resolve the wait), else to the deadline, where it times out. A wait without
        one raises the ``stalled`` error (a ``Deadlock`` by default) instead of hanging.
        An ``ask`` (a wait on an actor's reply) the fault plan makes slow times out at
        once: its time passes (the alarms on the way ring) before the actor answers.
        """
        if timeout is not None:
            _check_wait(timeout)
        clock = self.clock
        deadline = None if timeout is None or clock is None else clock.now() + timeout
        if ask and deadline is not None and clock is not None and not done():
            slow = self.slow_reply()
            if slow is not None:  # the asked actor is slow: its message waits in its inbox
                clock.advance(deadline - clock.now())
                self.waited(f"t={clock.now()}, {what or 'a future'} timed out: {slow}")
                msg = f"{timeout} seconds (virtual) waiting for {what or 'a future'} ({slow})"
                raise pykka.Timeout(msg)
        self._waits.append((deadline, what))
        try:
            self._drive(done, timeout, deadline, what)
        finally:
            self._waits.pop()

    def _drive(
        self, done: Callable[[], bool], timeout: float | None, deadline: float | None, what: str
    ) -> None:
        clock = self.clock
        what = what or "a future"
        msg = f"{timeout} seconds (virtual) waiting for {what}"
        while not done():
            if deadline is not None and clock is not None and clock.now() > deadline:
                raise pykka.Timeout(msg)
            if self.driver():
                if self._ends_now:  # the driver ended this wait (the innermost) now
                    self._ends_now = False
                    self.waited(f"t={clock.now() if clock else 0.0}, {what} timed out")
                    raise pykka.Timeout(msg)
                continue
            if deadline is None or clock is None:
                raise self._stuck(what)
            alarm = clock.next_alarm()
            if alarm is not None and alarm <= deadline:
                if alarm > clock.now():
                    clock.jump()  # its ring is the driver's next action (a harness's)
                    self.waited(f"t={clock.now()}, {what} still awaited")
                else:
                    clock.advance(0.0)  # due, and the driver rings no alarm: ring it here
                continue
            clock.advance(deadline - clock.now())  # no alarm on the way: none rings
            self.waited(f"t={clock.now()}, {what} timed out")
            raise pykka.Timeout(msg)


def _check_wait(timeout: float) -> None:
    """Refuse a timeout no thread could wait for, with the error a thread's wait raises.

    Virtual time would move to infinity (or to nan) and every timer fire at once.
    """
    if isinstance(timeout, int | float) and not isinstance(timeout, bool):
        if math.isnan(timeout) or timeout < 0:
            msg = f"a wait's timeout must be a number >= 0, got {timeout!r}"
            raise ValueError(msg)
        if timeout > MAX_SECONDS:
            msg = f"a wait's timeout of {timeout!r:.40} seconds is too large to wait for"
            raise OverflowError(msg)
