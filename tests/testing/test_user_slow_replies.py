"""A user's bug: a task that asks an actor again when its ask times out.

With threads, an ask with a timeout times out when the asked actor is slow (busy with
other messages), and the message stays in its inbox: the actor handles it later. A
task that asks again on ``pykka.Timeout`` then has the actor handle both, and an
actor's effect that is not keyed on what it is asked for happens twice. Under the
harness a wait times out only once nothing else can run, so without a fault the actor
always answers first: ``SlowReply(nth)`` in the fault plan makes the nth such ask slow.
"""

from __future__ import annotations

from typing import Any

import pykka
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from actors import Sequential, Workflow
from actors.testing import FaultPlan, Harness, InvariantViolation, SlowReply, explore
from actors.testing.strategies import fault_plans

BUDGET = 40


class Inventory(pykka.ThreadingActor):
    """The user's stock actor; ``keyed``: reserving an order twice reserves it once."""

    def __init__(self, keyed: bool) -> None:
        super().__init__()
        self.keyed = keyed
        self.reserved: list[str] = []

    def reserve(self, order: str) -> bool:
        if not (self.keyed and order in self.reserved):
            self.reserved.append(order)
        return True


def _flow(refs: dict[str, Any]) -> Workflow:
    def reserve(data: dict[str, Any]) -> None:
        for _ in range(3):  # the inventory may be slow: ask again
            try:
                data["reserved"] = refs["inventory"].proxy().reserve(data["order"]).get(timeout=2)
                return
            except pykka.Timeout:
                continue
        raise RuntimeError("the inventory does not answer")

    return Workflow("order", start="reserve", steps=[Sequential("reserve", reserve)])


def _scenario(refs: dict[str, Any], *, keyed: bool = False) -> Any:
    def scenario(h: Harness) -> None:
        refs["inventory"] = inventory = h.actor(Inventory, keyed)
        for n in (1, 2):
            h.schedule("order", {"order": f"o{n}"})
        h.finish()
        reserved = inventory.proxy().reserved.get(timeout=1)  # the test's own wait
        if sorted(reserved) != ["o1", "o2"]:
            h.fail(f"reserved {reserved} for orders o1, o2")

    return scenario


SLOW = FaultPlan(slow_replies=(SlowReply(1),))


def test_an_ask_retried_on_its_timeout_is_found_with_a_slow_reply() -> None:
    refs: dict[str, Any] = {}
    with pytest.raises(InvariantViolation) as found:
        explore(_scenario(refs), runs=BUDGET, workflows=[_flow(refs)], faults=SLOW)
    lines = str(found.value).splitlines()
    assert lines[0] in ("reserved ['o1', 'o1', 'o2'] for orders o1, o2",
                        "reserved ['o2', 'o2', 'o1'] for orders o1, o2")  # fmt: skip
    order = lines[0].split("'")[1]
    assert "faults: slow reply to timed ask #1" in lines[2]
    trace = [line.split(None, 1)[1] for line in lines if line[:7].strip().isdigit()]
    slow = next(
        i
        for i, line in enumerate(trace)
        if line.startswith("clock")
        and f"inventory's reply to reserve('{order}') timed out: slow reply to timed ask #1" in line
    )
    handled = [
        i for i, line in enumerate(trace) if f"ProxyCall            reserve('{order}')" in line
    ]
    assert len(handled) == 2 and slow < handled[0], trace  # asked again, both handled later


def test_without_the_fault_the_actor_always_answers_first() -> None:
    refs: dict[str, Any] = {}
    explore(_scenario(refs), runs=BUDGET, workflows=[_flow(refs)])


def test_an_actor_keyed_on_the_order_passes_slow_replies() -> None:
    refs: dict[str, Any] = {}
    for nth in (1, 2, 3):
        plan = FaultPlan(slow_replies=(SlowReply(nth),))
        explore(_scenario(refs, keyed=True), runs=BUDGET, workflows=[_flow(refs)], faults=plan)


def test_fault_plans_draw_slow_replies_and_shrink_to_the_first_ask() -> None:
    refs: dict[str, Any] = {}
    flow, scenario = _flow(refs), _scenario(refs)
    plans: list[FaultPlan] = []
    drawn = fault_plans(crashes=False, stalls=False, events=False, slow_replies=True)

    @settings(
        max_examples=100,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(plan=drawn, data=st.data())
    def each_order_reserved_once(plan: FaultPlan, data: st.DataObject) -> None:
        plans.append(plan)
        with Harness([flow], data=data, faults=plan) as h:
            scenario(h)  # fmt: skip

    with pytest.raises(InvariantViolation, match=r"reserved \['o\d', 'o\d', 'o\d'\]"):
        each_order_reserved_once()
    assert plans[-1] == SLOW  # the shrunk example: the first ask is slow
    assert "slow_replies=just(())" in repr(fault_plans())  # only when asked for


def test_a_slow_reply_no_ask_reached_is_reported_and_the_test_s_own_wait_is_never_slow() -> None:
    refs: dict[str, Any] = {}
    flow = Workflow("none", start="a", steps=[Sequential("a", lambda d: d)])
    plan = FaultPlan(slow_replies=(SlowReply(1),))
    with Harness([flow], seed=1, faults=plan) as h:
        refs["inventory"] = inventory = h.actor(Inventory, False)
        h.schedule("none", {})
        h.finish()
        assert inventory.proxy().reserve("o9").get(timeout=1) is True  # not slowed
    assert "faults not reached" in h.report()
    assert "slow reply to timed ask #1 (0 timed ask(s) made)" in h.report()


def test_a_slow_reply_that_could_never_happen_is_refused() -> None:
    with pytest.raises(ValueError, match=r"SlowReply.nth \(asks are counted from 1\)"):
        SlowReply(0)
    with pytest.raises(TypeError, match=r"a tuple of one needs a comma"):
        FaultPlan(slow_replies=SlowReply(1))  # type: ignore[arg-type]
