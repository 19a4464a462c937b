"""What ``fault_plans()`` draws when given no crash points, and the bug it must find.

The bug users write most in a workflow engine that runs steps at least once: a task whose
effect (a charge, a mail, an insert) is not keyed on its idempotency key. A property test
written with the defaults, as the testing guide writes it, must find it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from actors import Sequential, Workflow
from actors.testing import FaultPlan, Harness
from actors.testing.strategies import DEFAULT_CRASH_POINTS, engine_configs, fault_plans

SEARCH = settings(
    max_examples=100,  # Hypothesis's default budget
    deadline=None,
    database=None,
    derandomize=True,  # the same search on every run
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)

CHARGES: list[int] = []


def charge(data: dict[str, Any]) -> None:
    CHARGES.append(data["order"])  # not keyed: a rerun charges the card again


PAY = Workflow("pay", start="charge", steps=[
    Sequential("charge", charge, next="ship"),
    Sequential("ship", lambda data: None),
])  # fmt: skip


def _each_order_is_charged_once(faults: st.SearchStrategy[FaultPlan]) -> Any:
    """The user's property test of PAY, its crashes drawn by ``faults``."""

    @SEARCH
    @given(config=engine_configs(), faults=faults, data=st.data())
    def each_order_is_charged_once(config: Any, faults: FaultPlan, data: Any) -> None:
        CHARGES.clear()
        with Harness([PAY], data=data, runners=config.runners, capacity=config.capacity,
                     full_mode=config.full_mode, faults=faults) as h:  # fmt: skip
            h.schedule("pay", {"order": 1})
            h.finish()
            assert CHARGES == [1]

    return each_order_is_charged_once


def _points_drawn(plans: st.SearchStrategy[FaultPlan]) -> Counter[str]:
    """How often each crash point is drawn in 400 plans."""
    points: Counter[str] = Counter()

    @settings(max_examples=400, database=None, derandomize=True, deadline=None)
    @given(plans)
    def draw(plan: FaultPlan) -> None:
        points.update(c.point for c in plan.crashes)

    draw()
    return points


def test_the_default_fault_plans_find_a_charge_repeated_by_a_crash() -> None:
    with pytest.raises(AssertionError, match=r"\[1, 1\]") as found:
        _each_order_is_charged_once(fault_plans())()
    notes = "\n".join(getattr(found.value, "__notes__", []))
    assert "before its save is stored" in notes or "late" in notes  # the crash, in the trace


@pytest.mark.parametrize("point", DEFAULT_CRASH_POINTS)
def test_the_default_fault_plans_draw_each_default_crash_point(point: str) -> None:
    plan = find(fault_plans(), lambda p: any(c.point == point for c in p.crashes))
    assert [c.point for c in plan.crashes] == [point]


def test_a_default_crash_shrinks_to_one_between_steps() -> None:
    plan = find(fault_plans(), lambda p: bool(p.crashes))
    assert [(c.at_step, c.point, c.lease) for c in plan.crashes] == [(1, "before_step", False)]


def test_half_the_default_crashes_fall_between_steps() -> None:
    # The searches that found engine bugs with crashes between steps keep most of them.
    points = _points_drawn(fault_plans(stalls=False, events=False))
    total = sum(points.values())
    assert set(points) == set(DEFAULT_CRASH_POINTS)
    assert 0.4 <= points["before_step"] / total <= 0.6, points
    assert points["before_save"] / total >= 0.15 and points["stalled"] / total >= 0.15, points


def test_named_points_are_drawn_alike() -> None:
    # Naming points gives each the same chance: only the defaults are weighted.
    named = ("before_step", "before_save", "stalled")
    points = _points_drawn(fault_plans(points=named, stalls=False, events=False))
    total = sum(points.values())
    assert all(0.2 <= points[p] / total <= 0.45 for p in DEFAULT_CRASH_POINTS), points


def test_crashes_between_steps_only_never_find_it() -> None:
    # What fault_plans() drew before: on the memory store no step runs twice.
    _each_order_is_charged_once(fault_plans(points=("before_step",)))()


def test_half_the_crashes_are_planned_in_the_first_four_steps() -> None:
    # A crash planned past the steps a run takes never fires: a two-step workflow's
    # charge is run again only by a crash at step 1.
    steps: list[int] = []

    @settings(max_examples=400, database=None, derandomize=True, deadline=None)
    @given(fault_plans(stalls=False, events=False))
    def draw(plan: FaultPlan) -> None:
        steps.extend(c.at_step for c in plan.crashes)

    draw()
    assert 0.45 <= sum(s <= 4 for s in steps) / len(steps) <= 0.7
    assert max(steps) == 40  # and still up to max_step
