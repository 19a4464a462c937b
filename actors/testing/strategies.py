"""Hypothesis strategies for property-testing workflows and the engine under the harness.

- ``workflows()``: valid ``actors.Workflow`` graphs (``GeneratedWorkflow``) built from
  sequences, exclusive choices, splits nested up to three deep with ``Synchronize`` or
  ``Discriminator`` joins (or none, at the end), simple merges, waits, bounded loops and,
  optionally, request/reply steps with timeouts. Every task records (step, job id,
  idempotency key) in the job's data, so a test can assert that each step on the path
  the data selects ran exactly once.
- ``job_data(workflow)``: input data for a case (the flags its choices read).
- ``engine_configs()``: runners, capacity, full mode (and runner batch).
- ``fault_plans()``: crashes and expired leases (between steps, after a task and before
  its save, and workers stalled past their lease: the last two rerun a step), stalls,
  and duplicated, dropped, delayed (by actions or by virtual seconds) or reordered
  external events.
- ``scenarios()``: all of the above plus when each case is scheduled (and cancelled).

Everything shrinks towards small, plain values: a single task, one runner, capacity 1,
``BACKPRESSURE``, no faults.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from actors._admission import FullMode
from actors.testing._faults import (
    CRASH_POINTS,
    Crash,
    CrashPoint,
    Duplicate,
    EventAction,
    EventFault,
    FaultPlan,
    SlowReply,
    SlowStep,
    Stall,
    check_point,
)
from actors.testing._generated import GeneratedWorkflow
from actors.testing._scenario import Case, EngineConfig, Scenario
from actors.testing._shapes import Choice, Loop, Node, Pause, Request, Seq, Split, Task

__all__ = [
    "DEFAULT_CRASH_POINTS",
    "EngineConfig",
    "GeneratedWorkflow",
    "Scenario",
    "engine_configs",
    "fault_plans",
    "job_data",
    "scenarios",
    "shapes",
    "workflows",
]


# What fault_plans() draws a crash's point from when given no points: half the crashes
# between steps (shrinking goes there first), the others where a step runs again, so a
# task whose effect is not keyed on its idempotency key is found by the defaults.
DEFAULT_CRASH_POINTS: tuple[CrashPoint, ...] = ("before_step", "before_save", "stalled")
"""The crash points ``fault_plans()`` draws from when given no ``points``."""
_DEFAULT_POINT_DRAW: tuple[CrashPoint, ...] = ("before_step", *DEFAULT_CRASH_POINTS)

_EARLY_STEPS = 4

_KINDS = ("task", "seq", "split", "choice", "wait", "loop", "request")  # shrinks to the first


@st.composite
def shapes(
    draw: st.DrawFn,
    *,
    max_size: int = 10,
    max_depth: int = 3,
    waits: bool = True,
    loops: bool = True,
    discriminators: bool = True,
    requests: bool = False,
    dynamic: bool = True,
) -> Node:
    """Workflow shapes of at most ``max_size`` records, splits nested ``max_depth`` deep.

    A ``@st.composite`` strategy: call it without ``draw`` (``shapes(max_size=5)``); it
    returns a strategy of shapes, which ``workflows()`` compiles.
    """
    allowed = {"task", "seq", "split", "choice"}
    allowed |= {k for k, on in (("wait", waits), ("loop", loops), ("request", requests)) if on}
    joins = ("sync", "none", "first") if discriminators else ("sync", "none")
    state = _Budget(max_size, max_depth, frozenset(allowed), joins, dynamic)
    return draw(_node(state, 0))


class _Budget:
    """What a shape may still grow into (shared by the draws of one shape)."""

    def __init__(
        self,
        size: int,
        max_depth: int,
        kinds: frozenset[str],
        joins: tuple[str, ...],
        dynamic: bool,
    ) -> None:
        self.size = size
        self.max_depth = max_depth
        self.kinds = kinds
        self.joins = joins
        self.dynamic = dynamic
        self.flags = 0


@st.composite
def _node(draw: st.DrawFn, budget: _Budget, depth: int) -> Node:
    # Each node is a draw of its own (Hypothesis can then shrink a node to one of its
    # children), and the kind is always drawn from the same list, so shrinking one node
    # does not change what the draws after it mean; a kind that is not allowed here
    # (no budget left, too deep, switched off) becomes a task.
    budget.size -= 1
    kind = draw(st.sampled_from(_KINDS))
    nested = kind in ("split", "loop")
    if kind not in budget.kinds or budget.size <= 0 or (nested and depth >= budget.max_depth):
        kind = "task"
    if kind == "task":
        return Task()
    if kind == "seq":
        n = draw(st.integers(2, 3))
        return Seq(tuple(draw(_node(budget, depth)) for _ in range(n)))
    if kind == "choice":
        budget.flags += 1
        return Choice(budget.flags - 1, draw(_node(budget, depth)), draw(_node(budget, depth)))
    if kind == "split":
        join = draw(st.sampled_from(budget.joins))
        dynamic = draw(st.booleans()) and budget.dynamic
        n = draw(st.integers(2, 3))
        branches = tuple(draw(_node(budget, depth + 1)) for _ in range(n))
        return Split(branches, join, dynamic)  # type: ignore[arg-type]
    if kind == "wait":
        return Pause(draw(st.sampled_from([0.0, 1.0, 5.0])))
    if kind == "loop":
        return Loop(draw(st.integers(1, 3)), draw(_node(budget, depth + 1)))
    return Request(draw(st.sampled_from([1.0, 10.0])))


def workflows(**shape_options: Any) -> st.SearchStrategy[GeneratedWorkflow]:
    """Valid, self-recording workflows (see ``shapes()`` for the options)."""
    return shapes(**shape_options).map(GeneratedWorkflow)


def job_data(workflow: GeneratedWorkflow) -> st.SearchStrategy[dict[str, Any]]:
    """Input data for a case of ``workflow``: a fresh log and the flags its choices read."""
    n = workflow.flag_count
    return st.lists(st.booleans(), min_size=n, max_size=n).map(workflow.data)


def engine_configs(
    *,
    runners: tuple[int, int] = (1, 4),
    capacity: tuple[int, int] = (1, 8),
    full_modes: tuple[FullMode, ...] = tuple(FullMode),
    runner_batch: tuple[int, ...] = (1,),
) -> st.SearchStrategy[EngineConfig]:
    """Engine configurations: runners 1-4, capacity 1-8, every full mode by default."""
    for name, (low, high) in (("runners", runners), ("capacity", capacity)):
        if low < 1 or high < low:
            msg = f"engine_configs({name}=({low}, {high})): a range of ints >= 1, low first"
            raise ValueError(msg)
    if not runner_batch or min(runner_batch) < 1:
        msg = f"engine_configs(runner_batch={runner_batch!r}): ints >= 1, at least one"
        raise ValueError(msg)
    return st.builds(
        EngineConfig,
        runners=st.integers(*runners),
        capacity=st.integers(*capacity),
        full_mode=st.sampled_from(full_modes),
        runner_batch=st.sampled_from(runner_batch),
    )


def _event_fault(nth: int, action: EventAction, by: int, seconds: float | None) -> EventFault:
    """An ``EventFault``; ``seconds`` (a delay in virtual time) only for a ``delay``."""
    return EventFault(nth, action, by, seconds if action == "delay" else None)


def fault_plans(  # noqa: PLR0913 - one switch per kind of fault
    *,
    crashes: bool = True,
    stalls: bool = True,
    events: bool = True,
    duplicates: bool = False,
    slow_replies: bool = False,
    slow_steps: bool = False,
    max_each: int = 2,
    max_step: int = 40,
    points: Sequence[CrashPoint] | None = None,
) -> st.SearchStrategy[FaultPlan]:
    """Fault plans: each kind at most ``max_each`` times, crashes by step ``max_step``.

    Half the crashes are drawn in the first four steps (a short workflow's run takes
    few steps, and a crash planned past them never fires), the others up to ``max_step``.

    ``duplicates`` adds duplicated ``BranchArrived`` messages (an engine that keys arrivals
    by branch must shrug them off; one that counts them joins early). ``slow_replies``
    adds ``SlowReply`` faults: one of the first four asks of a user's actor awaited with a
    timeout times out before the actor answers. ``slow_steps`` adds ``SlowStep`` faults:
    a step by ``max_step`` takes 1 to 3600 seconds (shrinking toward the fewest that
    still fail, which names the bound the bug crosses). An event's ``delay`` is by 1 to
    10 actions, or by 1 to 3600 virtual seconds. ``points`` lists the
    crash points to draw from (see ``Crash``), each as often as the others. By default
    (``None``) half the crashes are ``"before_step"`` ones, between steps, and the others
    ``"before_save"`` or ``"stalled"``, which run a step's task again, as a deployment
    does after a crash (at least once): a task whose effect is not keyed on its
    idempotency key is found. ``points=("before_step",)`` runs no step twice in memory
    or with ``commit="step"`` (a store that commits a slice or a group at once reruns the
    slice's unstored steps); add ``"in_send"`` to have a request sent late (after its case
    timed out), and ``"in_group"`` with a store that commits in groups.
    A single name is still a collection: ``points=("before_save",)``, not a str.
    """
    draw_points = _DEFAULT_POINT_DRAW if points is None else points
    points = DEFAULT_CRASH_POINTS if points is None else points
    if isinstance(points, str):  # a str is a Sequence too: each letter would be a point
        msg = (
            f"fault_plans(points={points!r}): points is a collection of crash point names, "
            f"e.g. points=({points!r},); the names are {', '.join(CRASH_POINTS)}"
        )
        raise TypeError(msg)
    if crashes and not points:
        msg = "fault_plans(points=()): name at least one crash point, or pass crashes=False"
        raise ValueError(msg)
    for point in points:
        check_point(point, f"fault_plans(points={tuple(points)!r})")
    none: st.SearchStrategy[tuple[Any, ...]] = st.just(())

    def some(strategy: st.SearchStrategy[Any], on: bool) -> st.SearchStrategy[tuple[Any, ...]]:
        return st.lists(strategy, max_size=max_each).map(tuple) if on else none

    def crashes_at(strategy: st.SearchStrategy[Crash]) -> st.SearchStrategy[tuple[Crash, ...]]:
        if not crashes:
            return none
        # A step's runner dies once: a plan holds at most one crash per step.
        unique = st.lists(strategy, max_size=max_each, unique_by=lambda c: c.at_step)
        return unique.map(tuple)

    # Half the crashes in the first four steps, which every run takes: a short
    # workflow's run has few steps, and a crash planned past them never fires.
    early = st.integers(1, min(max_step, _EARLY_STEPS))
    crash = st.builds(
        Crash,
        at_step=early | st.integers(1, max_step),
        lease=st.booleans(),
        point=st.sampled_from(draw_points) if len(points) > 1 else st.just(points[0]),
    )
    stall = st.builds(
        Stall, runner=st.integers(0, 3), at=st.integers(0, 4 * max_step), steps=st.integers(1, 20)
    )
    event = st.builds(
        _event_fault,
        nth=st.integers(1, 4),
        action=st.sampled_from(["duplicate", "drop", "delay", "reorder"]),
        by=st.integers(1, 10),
        seconds=st.none() | st.integers(1, 3600).map(float),
    )
    dup = st.builds(Duplicate, message=st.just("BranchArrived"), nth=st.integers(1, 4))
    slow = st.lists(st.builds(SlowReply, nth=st.integers(1, 4)), max_size=max_each,
                    unique_by=lambda r: r.nth).map(tuple) if slow_replies else none  # fmt: skip
    slow_step = st.builds(
        SlowStep, at_step=st.integers(1, max_step), seconds=st.integers(1, 3600).map(float)
    )
    return st.builds(
        FaultPlan,
        crashes=crashes_at(crash),
        stalls=some(stall, stalls),
        events=some(event, events),
        duplicates=some(dup, duplicates),
        slow_replies=slow,
        slow_steps=st.lists(slow_step, max_size=max_each, unique_by=lambda s: s.at_step).map(tuple)
        if slow_steps
        else none,
    )


@st.composite
def scenarios(
    draw: st.DrawFn,
    *,
    workflows: st.SearchStrategy[GeneratedWorkflow] | None = None,
    configs: st.SearchStrategy[EngineConfig] | None = None,
    faults: st.SearchStrategy[FaultPlan] | None = None,
    max_cases: int = 4,
    cancels: bool = True,
) -> Scenario:
    """A whole run: a workflow, a configuration, up to ``max_cases`` cases, and faults.

    A ``@st.composite`` strategy: call it without ``draw`` (``scenarios(max_cases=2)``);
    it returns a strategy of ``Scenario`` objects, each run with ``Scenario.play``.
    """
    wf = draw(workflows if workflows is not None else globals()["workflows"]())
    config = draw(configs if configs is not None else engine_configs())
    plan = draw(faults if faults is not None else st.just(FaultPlan()))
    n = wf.flag_count
    case = st.builds(
        Case,
        flags=st.lists(st.booleans(), min_size=n, max_size=n).map(tuple),
        at=st.integers(0, 30),
        cancel_at=st.none() | st.integers(0, 80) if cancels else st.none(),
    )
    cases = draw(st.lists(case, min_size=1, max_size=max_cases))
    return Scenario(wf, config, tuple(cases), plan)
