"""The harness's defaults the testing guide gives (docs/how-to/test-with-the-harness.md)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from hypothesis import find
from hypothesis.errors import NoSuchExample

from actors import Sequential, Workflow
from actors.testing import Harness, MediatorMachine
from actors.testing.strategies import DEFAULT_CRASH_POINTS, fault_plans

FLOW = Workflow("w", [Sequential("a", lambda data: None)], start="a")


def default(call: Any, name: str) -> Any:
    return inspect.signature(call).parameters[name].default


def test_a_loop_that_never_waits_is_stopped_after_50000_steps() -> None:
    # "stopped once one delivery has run `max_steps` steps (50,000 by default)"
    assert default(Harness, "max_steps") == 50_000


def test_fault_plans_crash_between_steps_and_where_a_step_runs_again_by_default() -> None:
    # "by default half of them between steps, the others `"before_save"` or `"stalled"`"
    assert default(fault_plans, "points") is None
    assert DEFAULT_CRASH_POINTS == ("before_step", "before_save", "stalled")


class Machine(MediatorMachine):
    workflows = (FLOW,)


def test_a_machine_s_cases_are_empty_dicts_and_its_replies_name_the_id_by_default() -> None:
    # "`cases(workflow)` ... returns a strategy for its input data (`{}` by default)";
    # "`reply_payload(correlation_id)`, `{"reply": correlation_id}` by default".
    machine = object.__new__(Machine)  # the hooks only; no harness is made
    assert find(machine.cases("w"), lambda data: True) == {}
    with pytest.raises(NoSuchExample):  # nothing else is ever drawn
        find(machine.cases("w"), lambda data: data != {})
    assert machine.reply_payload("o1/ask") == {"reply": "o1/ask"}


def test_a_machine_crashes_runners_at_every_point_by_default() -> None:
    # "at a point drawn from the class's `crash_points`: `"before_step"`, `"before_save"`,
    # `"stalled"` and `"in_send"`, and `"in_group"` on a store that commits in groups"
    assert MediatorMachine.crash_points == (
        "before_step", "before_save", "stalled", "in_send", "in_group",
    )  # fmt: skip
