"""A worker frozen inside a ``RequestReaction``'s ``send``: the request goes out late.

The engine stores the park, and tells the Scheduler, before it calls ``send``. A worker
frozen in ``send`` leaves the case to go on without it: the order's timeout fires and the
order expires, refunded. When the worker wakes it sends, once: a payment service that
charges whatever it is asked charges an expired order. ``Crash(n, point="in_send")``
freezes the runner in the first send from step ``n`` on; a ``"stalled"`` crash stalls a
worker before the park is stored, where it sends nothing, and cannot show this.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, find, settings
from hypothesis import strategies as st

from actors import RequestReaction, Sequential, StepContext, Workflow
from actors.testing import Crash, FaultPlan, Harness, InvariantViolation, explore
from actors.testing.strategies import fault_plans

BUDGET = 60  # seeds: the late charge shows within the first few


class PaymentService:
    """The fake payment service the order workflow charges."""

    def __init__(self, *, refuses_expired: bool) -> None:
        self.refuses_expired = refuses_expired
        self.charged: set[str] = set()
        self.expired: set[str] = set()
        self.requests: list[str] = []

    def charge(self, order: str) -> None:
        self.requests.append(order)
        if self.refuses_expired and order in self.expired:
            return  # the fix: a request for an expired order is refused
        self.charged.add(order)

    def expire(self, order: str) -> None:
        """The order expired: refund what it was charged (and, fixed, refuse any more)."""
        self.expired.add(order)
        self.charged.discard(order)


shop: dict[str, PaymentService] = {}  # the service this run's workflow charges


def _pay(data: dict[str, Any], ctx: StepContext) -> None:
    shop["payments"].charge(data["order"])  # it answers later, to ctx.correlation_id


def _expire(data: dict[str, Any]) -> None:
    shop["payments"].expire(data["order"])


orders = Workflow("order", start="pay", steps=[
    RequestReaction("pay", send=_pay, timeout=30.0, on_timeout="expire", next="ship"),
    Sequential("ship", lambda d: d),
    Sequential("expire", _expire),
])  # fmt: skip


def _order_expires(*, refuses_expired: bool) -> Any:
    """One order whose payment is not answered in time: it expires, and is not charged."""

    def scenario(h: Harness) -> None:
        payments = shop["payments"] = PaymentService(refuses_expired=refuses_expired)
        h.schedule("order", {"order": "o1"}, job_id="o1")
        h.finish()
        if payments.charged & payments.expired:
            h.fail(f"charged expired order(s) {sorted(payments.charged & payments.expired)}")
        if payments.requests != ["o1"]:
            h.fail(f"the payment service was asked {payments.requests}, not once")

    return scenario


buggy, fixed = _order_expires(refuses_expired=False), _order_expires(refuses_expired=True)


def _trace(lines: list[str]) -> list[str]:
    return [line.split(None, 1)[1] for line in lines if line[:7].strip().isdigit()]


def _index(lines: list[str], *parts: str) -> int:
    return next(i for i, line in enumerate(lines) if all(p in line for p in parts))


def test_a_late_send_that_charges_an_expired_order_is_found() -> None:
    plan = FaultPlan(crashes=(Crash(1, point="in_send"),))
    with pytest.raises(InvariantViolation) as found:
        explore(buggy, runs=BUDGET, workflows=[orders], faults=plan, runners=2)
    lines = str(found.value).splitlines()
    assert lines[0] == "charged expired order(s) ['o1']"
    assert "faults: freeze in the first request's send from step #1 (sends late)" in lines[2]
    trace = _trace(lines)
    # The park was stored, the timeout fired and the order expired; then the worker sent.
    frozen = _index(trace, "frozen", "o1", "in the send of 'pay' (from step #1), its park stored")
    expired = _index(trace, "JobEnded", "o1", "done at 'expire'")
    late = _index(trace, "wakes", "o1", "sends 'pay' late")
    assert frozen < expired < late, trace


def test_the_request_is_sent_once_whenever_the_worker_wakes() -> None:
    # At most one send per park, as in a deployment: the new owner does not send again.
    plan = FaultPlan(crashes=(Crash(1, point="in_send"),))
    late = 0
    for seed in range(BUDGET):
        with Harness([orders], seed=seed, runners=2, faults=plan) as h:
            fixed(h)  # fails the run if the service was asked twice, or never
            late += any(e.action == "wakes" for e in h.trace)
    assert late == BUDGET


def test_no_stall_before_the_park_is_stored_finds_it() -> None:
    # The limit this crash point lifts: a "stalled" worker never sends (its park is fenced).
    for n in (1, 2, 3):
        plan = FaultPlan(crashes=(Crash(n, point="stalled"),))
        explore(buggy, runs=BUDGET, workflows=[orders], faults=plan, runners=2)


def test_a_service_that_refuses_a_request_for_an_expired_order_passes() -> None:
    plan = FaultPlan(crashes=(Crash(1, point="in_send"),))
    explore(fixed, runs=BUDGET, workflows=[orders], faults=plan, runners=2)


def _fails(drawn: tuple[FaultPlan, int]) -> bool:
    plan, seed = drawn
    try:
        with Harness([orders], seed=seed, runners=2, faults=plan) as h:
            buggy(h)
    except InvariantViolation:
        return True
    return False


def test_hypothesis_finds_it_and_shrinks_it_to_the_freeze() -> None:
    plans = fault_plans(points=("before_save", "stalled", "in_send"), max_step=4, stalls=False)
    found = find(
        st.tuples(plans, st.integers(0, 1000)),
        _fails,
        settings=settings(
            max_examples=200, database=None, derandomize=True, deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )  # fmt: skip
    assert found[0] == FaultPlan(crashes=(Crash(1, point="in_send"),)), found


def test_a_late_send_that_fails_reaches_a_case_that_moved_on_as_late() -> None:
    def refuse(data: dict[str, Any], ctx: StepContext) -> None:
        raise ConnectionError("payment service: order o1 expired")

    flow = Workflow("order", start="pay", steps=[
        RequestReaction("pay", send=refuse, timeout=30.0, on_timeout="expire", next="ship"),
        Sequential("ship", lambda d: d),
        Sequential("expire", lambda d: d.update(expired=True)),
    ])  # fmt: skip
    plan = FaultPlan(crashes=(Crash(1, point="in_send"),))
    with Harness([flow], seed=0, runners=2, faults=plan) as h:
        sub = h.schedule("order", {"order": "o1"}, job_id="o1")
        h.finish()
        assert sub.result().data == {"order": "o1", "expired": True}
        trace = [(e.action, e.detail) for e in h.trace]
    # The Scheduler hears of the failure after the case expired: it changes nothing.
    expired = trace.index(("JobEnded", "done at 'expire'"))
    woke = trace.index(("wakes", "sends 'pay' late"))
    assert expired < woke < trace.index(("JobSendFailed", "o1/pay")), trace


def test_a_late_send_that_fails_while_the_job_waits_is_its_fault_reply() -> None:
    def refuse(data: dict[str, Any], ctx: StepContext) -> None:
        raise ConnectionError("payment service down")

    flow = Workflow("order", start="pay", steps=[
        RequestReaction("pay", send=refuse, next="ship", fault_next="failed"),
        Sequential("ship", lambda d: d),
        Sequential("failed", lambda d: d.update(failed=True)),
    ])  # fmt: skip
    with Harness([flow], seed=0, runners=1) as h:
        sub = h.schedule("order", {"order": "o1"}, job_id="o1")
        h.crash_runner(0, point="in_send")
        h.finish()
        assert sub.result().data == {"order": "o1", "failed": True}
        assert [e.action for e in h.trace].count("wakes") == 1


def test_a_freeze_armed_where_no_request_is_sent_is_reported_not_reached() -> None:
    flow = Workflow("plain", start="a", steps=[Sequential("a", lambda d: d)])
    plan = FaultPlan(crashes=(Crash(1, point="in_send"),))
    with Harness([flow], seed=0, faults=plan) as h:
        h.schedule("plain", {}, job_id="p1")
        h.finish()
        assert "runner 0's freeze in the first request's send from step #1" in h.report()
