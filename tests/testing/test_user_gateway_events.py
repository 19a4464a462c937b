"""A user's bug: a payment gateway that captures before its reply is taken.

The gateway is the user's own actor: a ``RequestReaction``'s ``send`` asks it to take a
payment, and it answers through ``Mediator.receive_event``, as a webhook handler does.
Without a fault its reply always comes before the step's timeout (a timeout fires only
once nothing else can run), so the timeout path never runs. Event faults apply to that
reply too: dropped, or later than the timeout, it leaves the order expired, and a
gateway that captured the payment before its reply was taken has charged for it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pykka
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from actors import EventOutcome, JobState, RequestReaction, Sequential, Workflow
from actors.testing import EventFault, FaultPlan, Harness, InvariantViolation, explore
from actors.testing.strategies import fault_plans

RUNS = 10


class Gateway(pykka.ThreadingActor):
    """The user's payment gateway; ``careful``: it captures only once the reply is taken."""

    def __init__(self, mediator: Any, careful: bool) -> None:
        super().__init__()
        self.mediator, self.careful = mediator, careful
        self.captured: list[str] = []

    def on_receive(self, message: Any) -> None:
        order, cid = message
        if not self.careful:
            self.captured.append(order)  # the bug: charged whatever becomes of the reply
            with contextlib.suppress(TimeoutError):
                self.mediator.receive_event(cid, {"auth": f"A-{order}"})
            return
        try:
            outcome = self.mediator.receive_event(cid, {"auth": f"A-{order}"})
        except TimeoutError:  # not answered in 30 s: capture nothing now (a reply that
            return  # is taken later is settled by reconciliation, not modelled here)
        if outcome is EventOutcome.DELIVERED:
            self.captured.append(order)


def _flow(refs: dict[str, Any]) -> Workflow:
    def authorize(data: dict[str, Any], ctx: Any) -> None:
        refs["gateway"].tell((data["order"], ctx.correlation_id))

    return Workflow("checkout", start="authorize", steps=[
        RequestReaction("authorize", send=authorize, timeout=60, on_timeout="expire",
                        on_reply=lambda d, r: d.update(auth=r["auth"]), next="book"),
        Sequential("book", lambda d: d.update(booked=True)),
        Sequential("expire", lambda d: d.update(expired=True)),
    ])  # fmt: skip


def _scenario(refs: dict[str, Any], *, careful: bool = False) -> Any:
    def scenario(h: Harness) -> None:
        refs["gateway"] = gateway = h.actor(Gateway, h.mediator, careful)
        h.schedule("checkout", {"order": "o1"}, job_id="o1")
        (job,) = h.finish()
        captured = gateway.proxy().captured.get(timeout=1)
        if captured and job.state is JobState.DONE and not job.data.get("booked"):
            h.fail(f"order o1 charged ({captured}) but not booked: {job.data}")

    return scenario


@pytest.mark.parametrize(
    "how", [{"action": "drop"}, {"action": "delay", "seconds": 90}], ids=["dropped", "late"]
)
def test_a_gateway_reply_lost_or_late_is_found(how: dict[str, Any]) -> None:
    refs: dict[str, Any] = {}
    fault = EventFault(1, **how)
    plan = FaultPlan(events=(fault,))
    with pytest.raises(InvariantViolation, match="charged") as found:
        explore(_scenario(refs), runs=RUNS, workflows=[_flow(refs)], faults=plan)
    report = str(found.value)
    assert f"faults: {fault.describe()}" in report
    assert "done at 'expire'" in report


def test_without_faults_the_gateway_always_answers_in_time() -> None:
    refs: dict[str, Any] = {}
    explore(_scenario(refs), runs=RUNS, workflows=[_flow(refs)])


def test_a_gateway_that_captures_once_its_reply_is_taken_passes_every_event_fault() -> None:
    refs: dict[str, Any] = {}
    faults = [
        EventFault(1, "drop"),
        EventFault(1, "duplicate"),
        EventFault(1, "reorder"),
        EventFault(1, "delay"),
        EventFault(1, "delay", seconds=30),
        EventFault(1, "delay", seconds=90),
    ]
    for fault in faults:
        scenario = _scenario(refs, careful=True)
        explore(scenario, runs=RUNS, workflows=[_flow(refs)], faults=FaultPlan(events=(fault,)))


def test_fault_plans_find_the_gateway_and_shrink_to_a_lost_reply() -> None:
    refs: dict[str, Any] = {}
    flow, scenario = _flow(refs), _scenario(refs)
    plans: list[FaultPlan] = []

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(plan=fault_plans(crashes=False, stalls=False), data=st.data())
    def orders_charged_are_booked(plan: FaultPlan, data: st.DataObject) -> None:
        plans.append(plan)
        with Harness([flow], data=data, faults=plan) as h:
            scenario(h)

    with pytest.raises(InvariantViolation, match="charged"):
        orders_charged_are_booked()
    (shrunk,) = plans[-1].events
    assert (shrunk.nth, shrunk.action) == (1, "drop")  # the gateway's reply, lost
