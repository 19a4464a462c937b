"""The trace a ``Harness`` records: one entry per action, its ``TraceEntry`` made when read.

A run records an entry at every delivery, clock move, admission and fault, and most runs
(a passing property test's thousands) never read their trace; so an entry is kept as a
plain tuple and becomes a ``TraceEntry`` only when ``trace`` is read (a failure report, a
test looking at the interleaving).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors._steps import DeferredChoice, RequestReaction
from actors.testing._report import TraceEntry

if TYPE_CHECKING:
    from actors._job import JobRecord

__all__ = ["Ran", "Recorder", "step_ran"]

Ran = str | tuple[str, str]
"""A step a delivery ran: its name, or (name, what it ran as: a retry's attempt, a reply)."""

# The detail is a str, or (str, steps run) for a runner's delivery (worded when read).
_Raw = tuple[int, str, str, str | None, Any]
# A delivery that ran more steps names the first and the last ones and counts the others:
# a loop that never waits runs 50,000 before it is stopped, which no report should list.
_FIRST, _LAST = 16, 8


class Recorder:
    """The trace of a ``Harness`` and its count of actions (a mixin)."""

    def __init__(self) -> None:
        self.actions = 0
        """Actions taken so far (the next trace entry's index)."""
        self._raw: list[_Raw] = []
        self._entries: list[TraceEntry] = []

    @property
    def trace(self) -> list[TraceEntry]:
        """Every action so far: deliveries, clock moves, admissions, faults.

        The list grows as the run goes on; read ``trace`` again after more actions.
        """
        entries, raw = self._entries, self._raw
        if len(entries) < len(raw):
            entries.extend([_entry(*action) for action in raw[len(entries) :]])
        return entries

    def _record(self, actor: str, action: str, job: str | None = None, detail: str = "") -> None:
        self._raw.append((self.actions, actor, action, job, detail))
        self.actions += 1

    def _note_steps(self, index: int, steps: list[Ran]) -> None:
        """Add to entry ``index`` (a runner's delivery) the steps it ran, in order.

        Kept as the list; worded only if the trace is read.
        """
        at, actor, action, job, detail = self._raw[index]
        self._raw[index] = (at, actor, action, job, (detail, steps))
        if index < len(self._entries):  # read already, while the delivery went on
            self._entries[index] = _entry(*self._raw[index])

    def _note_outcome(self, index: int, outcome: str) -> None:
        """Add to entry ``index`` (an event's delivery) what the Scheduler did with it."""
        at, actor, action, job, detail = self._raw[index]
        self._raw[index] = (at, actor, action, job, f"{detail} -> {outcome}")
        if index < len(self._entries):  # read already, while the delivery went on
            self._entries[index] = _entry(*self._raw[index])


def _entry(index: int, actor: str, action: str, job: str | None, detail: Any) -> TraceEntry:
    if type(detail) is tuple:  # (detail, steps run): see _note_steps
        said, steps = detail
        named = list(map(_step, steps[:_FIRST] if len(steps) > _FIRST + _LAST else steps))
        if len(named) < len(steps):
            named += [f"... {len(steps) - _FIRST - _LAST:,} more ...", *map(_step, steps[-_LAST:])]
        ran = "ran " + ", ".join(named)
        detail = f"{said}; {ran}" if said else ran
    return TraceEntry(index, actor, action, job, detail)


def step_ran(job: JobRecord, step: Any) -> Ran:
    """What the trace lists for ``step`` of ``job``, about to run.

    A retry's attempt (``'charge' (attempt 2)``); a wait resumed with what it waited for,
    whose handler (``on_reply``, ``on_event``, ``on_fault``) runs now, a user's code with
    effects of its own (``'ask' (reply)``, ``'which' (event 'paid')``, ``(timeout)``).
    """
    if job.attempt > 1:
        return step.name, f"attempt {job.attempt}"
    if job.event is None or not isinstance(step, RequestReaction | DeferredChoice):
        return str(step.name)
    kind, name, _ = job.event
    if kind == "timer":
        return step.name, "timeout"
    if isinstance(step, RequestReaction):
        return step.name, "fault reply" if kind == "fault" else "reply"
    return step.name, f"fault event {name!r}" if kind == "fault" else f"event {name!r}"


def _step(ran: Ran) -> str:
    """A step a delivery ran, worded (see ``step_ran``)."""
    if type(ran) is tuple:
        return f"{ran[0]!r} ({ran[1]})"
    return repr(ran)
