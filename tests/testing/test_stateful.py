"""MediatorMachine: Hypothesis drives schedules, deliveries, clocks, cancels and crashes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from actors import (
    ExclusiveChoice,
    JobState,
    ParallelSplit,
    RequestReaction,
    Sequential,
    Spec,
    Synchronize,
    Wait,
    Workflow,
)
from actors._scheduler import Scheduler
from actors.testing import Deadlock, MediatorMachine


def note(name: str):
    def task(data: dict[str, Any], ctx: Any) -> None:
        data.setdefault("steps", []).append(name)

    return task


def merge(parent: dict[str, Any], branches: list[dict[str, Any]]) -> None:
    base = len(parent.setdefault("steps", []))
    for branch in branches:
        parent["steps"] += branch["steps"][base:]


ORDER = Workflow("order", start="check", steps=[
    ExclusiveChoice("check", Spec(lambda d: d["qty"] > 0), if_true="split", if_false="reject"),
    ParallelSplit("split", branches=["pay", "ship"]),
    RequestReaction("pay", send=lambda d, c: None, next="paid", timeout=30.0, on_timeout="unpaid"),
    Sequential("paid", note("paid"), next="join"),
    Sequential("unpaid", note("unpaid"), next="join"),
    Wait("ship", 5.0, next="shipped"),
    Sequential("shipped", note("shipped"), next="join"),
    Synchronize("join", merge=merge, next="done"),
    Sequential("done", note("done")),
    Sequential("reject", note("reject")),
])  # fmt: skip


class OrderMachine(MediatorMachine):
    workflows = (ORDER,)
    harness_options = {"runners": 2, "capacity": 2}  # noqa: RUF012 - read-only options

    def cases(self, workflow: str) -> st.SearchStrategy[Any]:
        return st.builds(dict, qty=st.integers(0, 3))

    def check_result(self, job: Any) -> None:
        if job.state is JobState.DONE:
            steps = job.data["steps"]
            assert steps == ["reject"] or steps[-1] == "done"
            assert steps.count("done") <= 1


TestOrderMachine = OrderMachine.TestCase
TestOrderMachine.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class LostWakeupScheduler(Scheduler):
    """Never hands a job admitted later to an idle runner."""

    def _dispatch(self) -> None:
        pass


class LostWakeupMachine(OrderMachine):
    harness_options = {  # noqa: RUF012
        "runners": 1,
        "capacity": 2,
        "substitutions": {Scheduler: LostWakeupScheduler},
    }


def test_the_machine_finds_a_lost_wakeup_and_prints_the_steps():
    with pytest.raises(Deadlock) as info:
        run_state_machine_as_test(
            LostWakeupMachine,
            settings=settings(
                max_examples=100, stateful_step_count=10, deadline=None, database=None,
                derandomize=True,  # the same search every run: found, or a bug to fix
                report_multiple_bugs=False, phases=[Phase.generate, Phase.shrink],
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )  # fmt: skip
    # The program printed on failure runs as printed, to the same failure.
    notes = getattr(info.value, "__notes__", [])
    program = "\n".join(
        line for note in notes for line in note.splitlines() if line.startswith("state")
    )
    assert "state = LostWakeupMachine()" in program
    assert "data(...)" not in program and "Draw " not in "\n".join(notes)
    assert not str(info.value).startswith("Deadlock:")  # the kind is printed once, by Python
    with pytest.raises(Deadlock):
        exec(program, {"LostWakeupMachine": LostWakeupMachine})


def test_a_machine_without_workflows_is_refused():
    class Empty(MediatorMachine):
        pass

    with pytest.raises(TypeError, match="workflows is empty"):
        Empty()
