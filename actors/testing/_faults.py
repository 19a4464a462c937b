"""Fault plans: which runner crashes before which step, who stalls, which events misbehave.

A plan is plain data, keyed by counters the harness keeps (the n-th step any runner is
about to run, the n-th harness action, the n-th external event), never by job ids or
times: so Hypothesis can generate and shrink plans independently of the workflow, and a
plan replays identically under the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from actors._seconds import seconds_problem

__all__ = [
    "CRASH_POINTS",
    "Crash",
    "CrashPoint",
    "Duplicate",
    "EventAction",
    "EventFault",
    "FaultPlan",
    "SlowReply",
    "Stall",
    "check_crash_runner",
    "check_point",
    "no_groups",
]

EventAction = Literal["duplicate", "drop", "delay", "reorder"]


CrashPoint = Literal["before_step", "before_save", "stalled", "in_send", "in_group"]

CRASH_POINTS: tuple[str, ...] = get_args(CrashPoint)
"""Every crash point, in the order the docs list them."""


def check_point(point: object, where: str) -> None:
    """Refuse a crash point that is not one of ``CRASH_POINTS``, naming ``where`` it came from.

    A misspelt point would otherwise never fire, and a test meant to catch a repeated
    effect would pass without a crash.
    """
    if point not in CRASH_POINTS:
        msg = f"{where}: unknown crash point {point!r}; expected one of {', '.join(CRASH_POINTS)}"
        raise ValueError(msg)


def no_groups(what: str, store: object) -> str:
    """Why ``what`` is refused on ``store``: it needs group commit; the store's URL and mode."""
    commit = getattr(store, "commit", None)
    how = f"commit={commit!r}" if commit else "no group mode"
    url = getattr(store, "url", type(store).__name__)
    return f"{what} needs a store with commit='group'; {url} has {how}"


def check_crash_runner(
    index: object, point: object, runners: int, store: object, *, grouped: bool
) -> None:
    """Refuse a hand-armed crash that could never fire: unknown point or runner, no groups."""
    check_point(point, f"crash_runner({index!r}, point={point!r})")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < runners:
        msg = f"crash_runner({index!r}): runners are numbered 0 to {runners - 1}"
        raise ValueError(msg)
    if point == "in_group" and not grouped:
        raise ValueError(no_groups("crash_runner(point='in_group')", store))


def _at_least(value: object, least: int, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        msg = f"{where} must be an integer >= {least}, got {value!r}"
        raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class Crash:
    """Crash the runner that runs the ``at_step``-th step (counted over all runners).

    ``point`` says where, and so which bug it can reveal:

    - ``"before_step"``: between two steps, right after the previous step's save. The
      job resumes from its last *stored* save: in memory and with ``commit="step"`` that
      is exactly where it was, and no step runs twice; with ``commit="slice"`` or
      ``"group"`` the steps the slice ran before the crash were not stored yet, and run
      again.
    - ``"before_save"``: the step's task has run, its save is not stored (with
      ``commit="slice"``, nothing the slice saved is). The job resumes from its last
      stored step and runs the task again: an effect that is not idempotent repeats.
    - ``"stalled"``: the worker stalls past its lease inside the step (after the
      engine's check that it still holds the lease, while the task runs); the case is
      taken over and resumes from its last save elsewhere, and later the stalled worker
      wakes and runs the step to its end (its save is then fenced). The task runs
      twice, in either order with the new owner's run, and so does every other piece
      of the user's code the step runs: a failed task's ``on_fault``, a choice's
      ``spec``, a dynamic split's ``branches``, a wait's ``duration``, a resumed wait's
      handler, or a join's ``merge``. A ``RequestReaction``'s request is sent once: the
      engine sends it once its park is stored, and the stalled worker's park is fenced.
    - ``"in_send"``: the worker freezes inside a ``RequestReaction``'s ``send``, the
      first that runner calls from step ``at_step`` on, after the job's park is stored.
      The case goes on without it (its timeout may fire, another branch run); later the
      worker wakes and sends, once, late. Nothing happens if that runner sends no
      request from then on.
    - ``"in_group"`` (a store with ``commit="group"`` only): the step runs and its save
      joins the runner's slice; the writer gathers the group holding that slice and is
      lost before storing it. Every job with a slice in that group resumes from its
      last stored save, so every step those slices ran runs again.

    In each case pykka's failure path runs (``on_failure`` tells the Scheduler, which
    restarts the runner and resumes the job). ``lease=True`` makes a ``"before_step"``
    or ``"before_save"`` crash an expired lease: the case is taken over only once its
    lease has lapsed, so the virtual clock moves by the engine's ``lease_seconds`` (15)
    at the crash, and the rerun sees that time (as after any ``"stalled"`` crash); a
    runner that merely crashed is restarted at once.
    """

    at_step: int
    lease: bool = False
    point: CrashPoint = "before_step"

    def __post_init__(self) -> None:
        _at_least(self.at_step, 1, "Crash.at_step (steps are counted from 1)")
        check_point(self.point, f"Crash({self.at_step}, point={self.point!r})")

    def describe(self) -> str:
        """One phrase for reports."""
        what = "expire lease" if self.lease else "crash"
        if self.point == "before_save":
            return f"{what} after step #{self.at_step}'s task, before its save is stored"
        if self.point == "stalled":
            return f"stall past the lease at step #{self.at_step} (taken over; wakes later)"
        if self.point == "in_send":
            return f"freeze in the first request's send from step #{self.at_step} (sends late)"
        if self.point == "in_group":
            return f"lose the group holding step #{self.at_step}'s slice before it is stored"
        return f"{what} before step #{self.at_step}"


@dataclass(frozen=True, slots=True)
class Stall:
    """Deliver nothing to runner ``runner`` during harness actions ``at`` .. ``at + steps - 1``.

    A stalled runner still gets deliveries when no other actor could run (a stall delays,
    it never deadlocks the simulation by itself).
    """

    runner: int
    at: int
    steps: int

    def __post_init__(self) -> None:
        _at_least(self.runner, 0, "Stall.runner")
        _at_least(self.at, 0, "Stall.at")
        _at_least(self.steps, 1, "Stall.steps")


@dataclass(frozen=True, slots=True)
class EventFault:
    """Misbehave on the ``nth`` external event to reach the engine (1-based).

    Every event counts, whatever sent it: ``Harness.receive_event``, a call of
    ``Mediator.receive_event`` (``h.mediator``, from the test, a task, your own actor or
    a request's responder), and an ``Admin`` given the harness's Mediator (one without it
    changes the store itself: not perturbed). A caller of ``Mediator.receive_event``
    waits for the outcome meanwhile, at most its 30 seconds (then ``TimeoutError``).

    ``duplicate``: delivered twice, the copy right behind it. ``drop``: never delivered.
    ``delay``: held back while ``by`` more actions run, or, with ``seconds``, until the
    virtual clock has moved that far. ``reorder``: held until the next event is sent,
    then sent right behind it. A delay in actions and a reorder take no virtual time:
    when nothing else can run first, the event arrives before the clock moves. A delay
    in seconds is a timer's: the clock jumps to its end when nothing else can run, so a
    timer set for earlier rings first, and one set for later after it.
    """

    nth: int
    action: EventAction
    by: int = 3
    seconds: float | None = None
    """A ``delay`` in virtual seconds (``by`` is then not used)."""

    def __post_init__(self) -> None:
        _at_least(self.nth, 1, "EventFault.nth (events are counted from 1)")
        if self.action not in get_args(EventAction):
            allowed = ", ".join(get_args(EventAction))
            msg = f"EventFault.action: unknown action {self.action!r}; expected one of {allowed}"
            raise ValueError(msg)
        _at_least(self.by, 1, "EventFault.by")
        if self.seconds is not None:
            if seconds_problem(self.seconds) or self.seconds <= 0:
                msg = f"EventFault.seconds: a number of seconds > 0, got {self.seconds!r}"
                raise ValueError(msg)
            if self.action != "delay":
                msg = f"EventFault.seconds: only a 'delay' takes seconds, not {self.action!r}"
                raise ValueError(msg)

    def describe(self) -> str:
        """How the report's config line names it."""
        if self.action != "delay":
            return f"{self.action} event #{self.nth}"
        by = f"{self.seconds:g} s" if self.seconds is not None else f"{self.by} action(s)"
        return f"delay event #{self.nth} by {by}"


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Enqueue the ``nth`` told message of type ``message`` (a class name) twice.

    Models a message the engine sees twice, e.g. a branch's arrival repeated after a
    lease expired on a worker that was not dead after all.
    """

    message: str
    nth: int = 1

    def __post_init__(self) -> None:
        _at_least(self.nth, 1, "Duplicate.nth (messages are counted from 1)")


@dataclass(frozen=True, slots=True)
class SlowReply:
    """The ``nth`` ask with a timeout that user code awaits (1-based) is answered late.

    Counted over the asks a task or a user's actor makes of an actor and awaits with
    ``get(timeout=...)``. That wait times out first, as a thread's does when the asked
    actor is slow (busy with other messages); its message stays in the actor's inbox
    and is handled later, as with threads: a task that asks again on ``pykka.Timeout``
    has the actor handle both.
    """

    nth: int

    def __post_init__(self) -> None:
        _at_least(self.nth, 1, "SlowReply.nth (asks are counted from 1)")


@dataclass(frozen=True, slots=True)
class SlowStep:
    """Step ``at_step`` (counted as ``Crash`` counts them) takes ``seconds`` of virtual time.

    The clock moves that far as the runner starts it: the step and every later one read
    the later time, and the timers that came due ring as the chooser picks them. Without
    it, time passes before a step only up to the next timer: with none set, a step takes
    no time at all.
    """

    at_step: int
    seconds: float = 60.0

    def __post_init__(self) -> None:
        _at_least(self.at_step, 1, "SlowStep.at_step (steps are counted from 1)")
        if seconds_problem(self.seconds) or self.seconds <= 0:
            msg = f"SlowStep.seconds: a number of seconds > 0, got {self.seconds!r}"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Everything that goes wrong in one simulated run (nothing, by default)."""

    crashes: tuple[Crash, ...] = ()
    stalls: tuple[Stall, ...] = ()
    events: tuple[EventFault, ...] = ()
    duplicates: tuple[Duplicate, ...] = ()
    slow_replies: tuple[SlowReply, ...] = ()
    slow_steps: tuple[SlowStep, ...] = ()

    def __post_init__(self) -> None:
        # A mistake here would leave a test passing without the fault it asked for.
        for name, kind in _KINDS:
            given = getattr(self, name)
            if isinstance(given, kind) or not isinstance(given, tuple | list):
                hint = (
                    f" (a tuple of one needs a comma: ({given!r},))"
                    if isinstance(given, kind)
                    else ""
                )
                msg = f"FaultPlan({name}=...) takes a tuple of {kind.__name__}, got {given!r}{hint}"
                raise TypeError(msg)
            wrong = [item for item in given if not isinstance(item, kind)]
            if wrong:
                msg = f"FaultPlan({name}=...) takes {kind.__name__}s only, got {wrong[0]!r}"
                raise TypeError(msg)
            object.__setattr__(self, name, tuple(given))  # frozen: compared and hashed whole
        steps = [c.at_step for c in self.crashes]
        twice = sorted({at for at in steps if steps.count(at) > 1})
        if twice:
            msg = (
                f"FaultPlan(crashes=...) has two crashes at step {twice[0]}: a step's runner "
                "dies once, so one of them could never happen"
            )
            raise ValueError(msg)

    def __bool__(self) -> bool:
        return bool(
            self.crashes
            or self.stalls
            or self.events
            or self.duplicates
            or self.slow_replies
            or self.slow_steps
        )

    def describe(self) -> str:
        """A one-line summary for reports."""
        parts = [
            *(c.describe() for c in self.crashes),
            *(f"stall runner {s.runner} for {s.steps} from action #{s.at}" for s in self.stalls),
            *(e.describe() for e in self.events),
            *(f"duplicate {d.message} #{d.nth}" for d in self.duplicates),
            *(f"slow reply to timed ask #{r.nth}" for r in self.slow_replies),
            *(f"step #{s.at_step} takes {s.seconds:g} s" for s in self.slow_steps),
        ]
        return "; ".join(parts) or "no faults"


_KINDS = (
    ("crashes", Crash),
    ("stalls", Stall),
    ("events", EventFault),
    ("duplicates", Duplicate),
    ("slow_replies", SlowReply),
    ("slow_steps", SlowStep),
)
