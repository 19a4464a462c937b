"""``FaultInjector``: a ``FaultPlan`` applied as a simulated run counts what it does.

The plan (``actors.testing._faults``) is plain data keyed by counters; the injector
keeps those counters (steps, harness actions, external events, told messages, timed
asks), answers which fault each one meets, and says which of the plan's faults, and
of the crashes armed by hand, never happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from actors.testing._faults import Crash

if TYPE_CHECKING:
    from actors.testing._faults import CrashPoint, EventFault, FaultPlan

__all__ = ["FaultInjector"]


@dataclass
class FaultInjector:
    """Applies a ``FaultPlan`` as the harness counts steps, actions, events and messages."""

    plan: FaultPlan
    steps: int = 0
    """Steps runners were about to run so far."""
    events: int = 0
    """External events that reached the engine so far, by any path (see ``EventFault``)."""
    asks: int = 0
    """Asks with a timeout that user code awaited so far (for ``SlowReply``)."""
    armed: dict[int, tuple[bool, CrashPoint, int]] = field(default_factory=dict)
    """Runner index -> (lease, point, steps to run first) of a crash armed by hand."""
    runners: int | None = None
    """How many runners the engine has (a stall of another runner never happens)."""
    by_hand: list[str] = field(default_factory=list)
    """Each ``crash_runner`` call, as written, for the report's config line."""
    _told: dict[str, int] = field(default_factory=dict)
    _crash_at: dict[int, Crash] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._crash_at = {c.at_step: c for c in self.plan.crashes}

    def before_step(self, runner: int) -> Crash | None:
        """Count a step; the crash planned (or armed for ``runner``) to happen before it."""
        self.steps += 1
        crash = self._crash_at.get(self.steps)
        if crash is None and runner in self.armed:
            lease, point, after = self.armed.pop(runner)
            if after:
                self.armed[runner] = (lease, point, after - 1)
            else:
                crash = Crash(self.steps, lease=lease, point=point)
        return crash

    def slow_step(self) -> float | None:
        """The seconds the step just counted takes, if the plan makes it slow."""
        return sum(s.seconds for s in self.plan.slow_steps if s.at_step == self.steps) or None

    def arm(self, runner: int, lease: bool, point: CrashPoint, after: int) -> None:
        """Crash ``runner`` at its next step, or ``after`` steps on (``crash_runner``)."""
        self.armed[runner] = (lease, point, after)
        options = f"{', lease=True' if lease else ''}{f', after={after}' if after else ''}"
        self.by_hand.append(f"crash_runner({runner}, point={point!r}{options})")

    def describe(self) -> str:
        """The plan's faults and those armed by hand, for the config line of a report."""
        hand = [f"armed by hand: {', '.join(self.by_hand)}"] if self.by_hand else []
        return "; ".join(([self.plan.describe()] if self.plan or not hand else []) + hand)

    def unfired(self) -> list[str]:
        """The crashes of the plan, and those armed by hand, that have not happened yet.

        With ``runners`` known, also the stalls of runners the engine does not have.
        """
        late = [c.describe() for c in self.plan.crashes if c.at_step > self.steps]
        armed = [
            f"runner {i}'s {point} crash (armed{f', {after} step(s) on' if after else ''})"
            for i, (_, point, after) in self.armed.items()
        ]
        absent = [
            f"stall runner {s.runner} (the engine has {self.runners} runner(s): never happens)"
            for s in self.plan.stalls
            if self.runners is not None and s.runner >= self.runners
        ]
        slow = [
            f"slow reply to timed ask #{r.nth} ({self.asks} timed ask(s) made)"
            for r in self.plan.slow_replies
            if r.nth > self.asks
        ]
        slow_steps = [
            f"step #{s.at_step} takes {s.seconds:g} s" for s in self.plan.slow_steps
            if s.at_step > self.steps
        ]  # fmt: skip
        return late + armed + absent + slow + slow_steps

    def copies(self, message_type: str) -> int:
        """Extra copies to enqueue of a told message of this type."""
        if not self.plan.duplicates:
            return 0
        n = self._told[message_type] = self._told.get(message_type, 0) + 1
        return sum(1 for d in self.plan.duplicates if d.message == message_type and d.nth == n)

    def next_event(self) -> EventFault | None:
        """Count an external event; the fault planned for it, if any."""
        self.events += 1
        for fault in self.plan.events:
            if fault.nth == self.events:
                return fault
        return None

    def slow_reply(self) -> str | None:
        """Count an ask with a timeout user code awaits; what makes it slow, if planned."""
        self.asks += 1
        if any(r.nth == self.asks for r in self.plan.slow_replies):
            return f"slow reply to timed ask #{self.asks}"
        return None

    def stalled(self, action: int) -> set[int]:
        """Runner indices stalled during harness action number ``action``."""
        return {s.runner for s in self.plan.stalls if s.at <= action < s.at + s.steps}
