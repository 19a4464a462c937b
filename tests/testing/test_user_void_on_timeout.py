"""A user's bug: a reconciliation, started when a webhook's delivery times out, that is too quick.

The payment service's webhook handler (the user's own actor) hands an authorization to
the waiting order with ``Mediator.receive_event``, which waits at most 30 seconds for
the outcome. When that call raises ``TimeoutError`` the handler starts a reconciliation
case: 20 seconds later it voids the authorization of an order still waiting for it,
taking it for lost. But the order waits up to 60 seconds for its authorization, and the
timed-out delivery "may yet be carried out": an event delayed 55 seconds books the order
after its payment was voided. The call times out at its 30 seconds, as with threads, so
the reconciliation runs at t=50, before the event arrives (were the timeout taken only
when the clock next moved, at t=55, it would run after the order was booked, and the bug
would go unseen). A reconciliation that waits out the order's own timeout first passes.
"""

from __future__ import annotations

from typing import Any

import pykka
import pytest

from actors import JobState, RequestReaction, Sequential, Wait, Workflow
from actors.testing import EventFault, FaultPlan, Harness, InvariantViolation, explore

RUNS = 10
ORDER_TIMEOUT = 60.0  # how long an order waits for its authorization


class Webhook(pykka.ThreadingActor):
    """The user's webhook handler: delivers an authorization, reconciles one that timed out."""

    def __init__(self, mediator: Any) -> None:
        super().__init__()
        self.mediator = mediator

    def on_receive(self, message: Any) -> None:
        order, cid = message
        try:
            self.mediator.receive_event(cid, {"auth": f"A-{order}"})
        except TimeoutError:  # the outcome is unknown: settle it later
            self.mediator.schedule("reconcile", {"order": order})


def _flows(refs: dict[str, Any], *, grace: float) -> list[Workflow]:
    def authorize(data: dict[str, Any], ctx: Any) -> None:
        refs["webhook"].tell((data["order"], ctx.correlation_id))

    def void_if_still_waiting(data: dict[str, Any]) -> None:
        # An order still waiting for its authorization is taken for one whose
        # authorization was lost: it will expire, so its payment is voided.
        if refs["h"].mediator.get_job(data["order"]).state is JobState.WAITING:
            refs["voided"].append(data["order"])  # the payment service voids it

    checkout = Workflow("checkout", start="authorize", steps=[
        RequestReaction("authorize", send=authorize, timeout=ORDER_TIMEOUT,
                        on_timeout="expire", on_reply=lambda d, r: d.update(auth=r["auth"]),
                        next="book"),
        Sequential("book", lambda d: d.update(booked=True)),
        Sequential("expire", lambda d: d.update(expired=True)),
    ])  # fmt: skip
    reconcile = Workflow("reconcile", start="grace", steps=[
        Wait("grace", grace, next="void"),
        Sequential("void", void_if_still_waiting),
    ])  # fmt: skip
    return [checkout, reconcile]


def _scenario(refs: dict[str, Any]) -> Any:
    def scenario(h: Harness) -> None:
        refs["h"], refs["voided"] = h, []
        refs["webhook"] = h.actor(Webhook, h.mediator)
        h.schedule("checkout", {"order": "o1"}, job_id="o1")
        jobs = h.finish()
        order = next(j for j in jobs if j.id == "o1")
        assert order.state is JobState.DONE
        if refs["voided"] and order.data.get("booked"):
            h.fail(f"order o1 booked on a voided payment: {order.data}")

    return scenario


def _explore(grace: float, seconds: float | None) -> None:
    refs: dict[str, Any] = {}
    events = () if seconds is None else (EventFault(1, "delay", seconds=seconds),)
    flows = _flows(refs, grace=grace)
    explore(_scenario(refs), runs=RUNS, workflows=flows, faults=FaultPlan(events=events))


def test_a_reconciliation_quicker_than_the_order_voids_a_payment_the_order_books() -> None:
    with pytest.raises(InvariantViolation, match="voided payment") as found:
        _explore(grace=20.0, seconds=55.0)  # the call times out at 30; reconciled at 50
    report = str(found.value)
    assert "t=30.0, " in report  # the delivery's wait timed out at its deadline
    assert "done at 'book'" in report


def test_without_faults_the_delivery_never_times_out() -> None:
    _explore(grace=20.0, seconds=None)


@pytest.mark.parametrize("seconds", [10.0, 45.0, 55.0, 90.0])
def test_a_reconciliation_that_waits_out_the_order_passes(seconds: float) -> None:
    _explore(grace=ORDER_TIMEOUT, seconds=seconds)
