"""What the harness checks after each action, and what it records, stays exact when cheap."""

from __future__ import annotations

from typing import Any

import pytest

from actors import (
    ExclusiveChoice,
    JobState,
    ParallelSplit,
    Sequential,
    Synchronize,
    Workflow,
)
from actors import messages as m
from actors._scheduler import Scheduler
from actors.testing import Harness, InvariantViolation, TraceEntry, VirtualClock


def noop(data: dict[str, Any]) -> None:
    pass


FAN3 = Workflow("fan3", start="split", steps=[
    ParallelSplit("split", branches=["a", "b", "c"]),
    Sequential("a", noop, next="a2"), Sequential("a2", noop, next="join"),
    Sequential("b", noop, next="b2"), Sequential("b2", noop, next="join"),
    Sequential("c", noop, next="c2"), Sequential("c2", noop, next="join"),
    Synchronize("join", merge=lambda p, _: p),
])  # fmt: skip

BROKEN: list[int] = []


class GhostCorrelationScheduler(Scheduler):
    """Registers a job with no correlation id while handling the last branch's spawn."""

    def _on_spawn(self, msg: m.SpawnBranch) -> None:
        super()._on_spawn(msg)
        if msg.job.branch_index == 2:
            self._correlations._by_job["ghost"] = ()
            BROKEN.append(len(BROKEN))


def step_while_intact(h: Harness) -> None:
    """Take actions; the one that breaks the Scheduler's state must raise."""
    while True:
        h.step()
        assert not BROKEN, "the broken state outlived the action that broke it"


def test_the_schedulers_own_state_broken_in_any_delivery_is_caught_by_that_action():
    # The Scheduler's case book, correlations and timers are checked only after actions
    # that delivered to it: also when that delivery ran while a runner paused between
    # two steps (inside the runner's action).
    nested = 0
    for seed in range(12):
        BROKEN.clear()
        with Harness([FAN3], seed=seed, substitutions={Scheduler: GhostCorrelationScheduler}) as h:
            h.schedule("fan3", {})
            with pytest.raises(InvariantViolation, match="registered with no correlation id"):
                step_while_intact(h)
            assert BROKEN
            runs = [e.actor for e in h.trace if e.action in {"pause", "go on"}]
            spawn = next(i for i, e in enumerate(h.trace) if e.detail.startswith("branch 2 "))
            before = [e for e in h.trace[:spawn] if e.action in {"pause", "go on"}]
            nested += bool(runs) and bool(before) and before[-1].action == "pause"
    assert nested, "no seed delivered the spawn while a runner paused between steps"


def test_the_trace_read_during_a_run_grows_and_keeps_its_entries():
    with Harness([FAN3], seed=3) as h:
        h.schedule("fan3", {})
        h.step()
        early = list(h.trace)
        h.run_until_quiescent()
        trace = h.trace
        assert trace[: len(early)] == early
        assert len(trace) == h.actions > len(early)
        assert all(isinstance(e, TraceEntry) and e.index == i for i, e in enumerate(trace))
    with h.replay() as again:
        again.schedule("fan3", {})
        again.run_until_quiescent()
        assert again.trace == trace


def test_a_held_clock_lists_only_alarms_set_for_now_or_earlier():
    clock = VirtualClock()
    clock.hold()
    rang: list[str] = []
    first, second = clock.alarm(lambda: rang.append("first")), clock.alarm(lambda: rang.append("2"))
    assert clock.due() == []
    first.set(0.0)
    second.set(5.0)
    assert clock.due() == [first]
    first.set(None)  # disarmed: no longer due
    assert clock.due() == []
    assert clock.next_alarm() == 5.0
    first.set(1.0)
    clock.jump()
    assert clock.due() == [first]
    first.ring()
    assert rang == ["first"]
    assert clock.due() == []
    second.close()
    assert clock.next_alarm() is None
    with pytest.raises(ValueError, match="negative"):
        clock.advance(-1)


def elsewhere(data: dict[str, Any]) -> None:
    data["elsewhere"] = True


# Every branch may reach either join (the definition allows it); branch b takes j2.
TWO_JOINS = Workflow("two_joins", start="split", steps=[
    ParallelSplit("split", branches=["a", "b", "c"]),
    Sequential("a", noop, next="route"), Sequential("b", elsewhere, next="route"),
    Sequential("c", noop, next="route"),
    ExclusiveChoice("route", spec=lambda d: d.get("elsewhere"), if_true="j2", if_false="j1"),
    Synchronize("j1"), Synchronize("j2"),
])  # fmt: skip


def test_branches_that_meet_at_two_joins_fault_their_split_and_break_no_invariant():
    """The user's workflow is wrong, not the engine: no engine invariant may be reported.

    Every branch arrives, but at two joins: the engine faults the split ("all branches of
    a split must meet at one join"), which the harness took for a join that never fired.
    """
    for seed in range(40):
        with Harness([TWO_JOINS], seed=seed, runners=2) as h:
            h.schedule("two_joins", {})
            (job,) = h.finish()
        assert job.state is JobState.FAULTED
        assert "all branches of a split must meet at one join" in (job.error or "")
