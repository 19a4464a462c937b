"""A user's bug that needs a step to take time, with no timer set to let time pass.

An order holds stock at the stock service, which keeps a hold for 30 seconds; the next
step charges the card (a slow call to a payment provider); the last confirms the hold.
When the charge takes longer than the hold lasts, the confirmation finds the hold
expired, and the item it sells may have gone to someone else. Under the harness, time
passes before a step only up to the next timer, and this workflow sets none: no
schedule shows the bug until the fault plan makes a step slow (``SlowStep``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from actors import Sequential, Workflow
from actors.testing import FaultPlan, Harness, InvariantViolation, SlowStep, VirtualClock
from actors.testing.strategies import fault_plans


class StockService:
    """The fake stock service: a hold lasts 30 seconds; ``extend`` renews an expired one."""

    def __init__(self, now: Any, *, extend: bool = False) -> None:
        self.now = now
        self.extend = extend
        self.holds: dict[int, float] = {}
        self.oversold: list[int] = []

    def hold(self, order: int) -> None:
        self.holds[order] = self.now() + 30

    def confirm(self, order: int) -> None:
        if self.now() > self.holds.pop(order):
            if not self.extend:
                self.oversold.append(order)  # the held item may be sold twice by now
                return
            self.hold(order)  # the fix: hold again (or fail the order) instead
            self.holds.pop(order)


def _flow(service: StockService) -> Workflow:
    return Workflow("order", start="hold", steps=[
        Sequential("hold", lambda data: service.hold(data["order"]), next="charge"),
        Sequential("charge", lambda data: {**data, "charged": True}, next="confirm"),
        Sequential("confirm", lambda data: service.confirm(data["order"])),
    ])  # fmt: skip


def _oversold(seed: int, plan: FaultPlan | None = None, *, extend: bool = False) -> str | None:
    """The report of the run under ``seed`` if an order was confirmed on an expired hold."""
    clock = VirtualClock()
    service = StockService(clock.now, extend=extend)
    try:
        with Harness([_flow(service)], seed=seed, clock=clock, faults=plan) as h:
            for order in range(3):
                h.schedule("order", {"order": order})
            h.finish()
            if service.oversold:
                h.fail(f"orders {service.oversold} confirmed on an expired hold")
    except InvariantViolation as found:
        return str(found)
    return None


def test_no_schedule_lets_a_step_take_time_when_no_timer_is_set() -> None:
    assert [seed for seed in range(500) if _oversold(seed)] == []


def test_a_slow_step_finds_the_expired_hold_in_every_seed() -> None:
    plan = FaultPlan(slow_steps=(SlowStep(2, seconds=60),))  # before a 'confirm', late
    assert [seed for seed in range(500) if not _oversold(seed, plan)] == []
    report = _oversold(0, plan)
    assert report is not None
    assert "faults: step #2 takes 60 s" in report
    assert "slow step" in report
    assert "(step #2) takes 60 s: t=60" in report


def test_the_service_that_holds_again_passes_every_slow_step() -> None:
    for at in range(1, 10):
        plan = FaultPlan(slow_steps=(SlowStep(at, seconds=3600),))
        assert [seed for seed in range(50) if _oversold(seed, plan, extend=True)] == []


def test_a_slow_step_no_run_reached_is_reported() -> None:
    clock = VirtualClock()
    service = StockService(clock.now)
    plan = FaultPlan(slow_steps=(SlowStep(9, seconds=5),))
    with Harness([_flow(service)], seed=1, clock=clock, faults=plan) as h:
        h.schedule("order", {"order": 1})
        h.finish()
        assert "step #9 takes 5 s" in h.report()
    assert clock.now() == 0


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf"), True, "60"])
def test_a_slow_step_of_no_time_is_refused(seconds: Any) -> None:
    with pytest.raises(ValueError, match=r"SlowStep\.seconds: a number of seconds > 0"):
        SlowStep(1, seconds=seconds)
    with pytest.raises(ValueError, match=r"SlowStep\.at_step"):
        SlowStep(0)


def test_hypothesis_finds_it_and_shrinks_to_the_least_time_that_fails() -> None:
    @settings(max_examples=200, deadline=None, database=None,
              phases=[p for p in Phase if p is not Phase.explain],
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(plan=fault_plans(crashes=False, stalls=False, events=False, slow_steps=True,
                            max_step=3))  # fmt: skip
    def search(plan: FaultPlan) -> None:
        report = _oversold(0, plan)
        assert report is None, report

    with pytest.raises(AssertionError) as found:
        search()
    assert "faults: step #2 takes 31 s" in str(found.value)
