"""A user's refund that trusts the case's data: a reply delivered, then cancelled.

An order asks the card processor (a user's actor) for the payment with a
``RequestReaction``. The processor charges the card, then answers through the
``Mediator`` and refunds when the answer was not taken (``LATE``, ``FINISHED``): that
half is right. The shop refunds a cancelled order when the case's data says it was paid.
But a reply the engine answered ``DELIVERED`` is applied only when a runner takes the
job on; a cancel that comes first ends the job ``CANCELLED`` with its ``on_reply`` never
run. The card stays charged, and neither side refunds it. Found by ``explore`` with the
cancel at a point each seed draws; the shop that refunds what the processor holds for a
cancelled order passes every seed.
"""

from __future__ import annotations

import random
from typing import Any

import pykka
import pytest

from actors import EventOutcome, JobState, RequestReaction, Sequential, StepContext, Workflow
from actors.testing import Harness, InvariantViolation, explore

BUDGET = 80  # seeds: the cancel lands between the delivery and the runner in about 1 in 10

refs: dict[str, Any] = {}  # filled once the harness has started the processor
held: dict[str, int] = {}  # the card processor's charges: order -> amount


class Processor(pykka.ThreadingActor):
    """Charges the card, answers the order's request, refunds an answer not taken."""

    def __init__(self, mediator: Any) -> None:
        super().__init__()
        self.mediator = mediator

    def on_receive(self, message: Any) -> None:
        order, correlation_id = message
        held[order] = 30
        outcome = self.mediator.receive_event(correlation_id, {"amount": 30})
        if outcome is not EventOutcome.DELIVERED:
            held.pop(order, None)  # the order never took the payment


def _ask_payment(data: dict[str, Any], ctx: StepContext) -> None:
    refs["processor"].tell((data["order"], ctx.correlation_id))


order_flow = Workflow("order", start="pay", steps=[
    RequestReaction("pay", send=_ask_payment, next="ship",
                    on_reply=lambda data, reply: {**data, "paid": reply["amount"]}),
    Sequential("ship", lambda data: data),
])  # fmt: skip


def _refund_by_the_case(job: Any) -> None:
    if job.data.get("paid"):
        held.pop(job.data["order"], None)


def _refund_what_the_processor_holds(job: Any) -> None:
    held.pop(job.data["order"], None)  # idempotent: nothing held, nothing refunded


def _cancelled_order(refund: Any) -> Any:
    def scenario(h: Harness) -> None:
        held.clear()
        refs["processor"] = h.actor(Processor, h.mediator)
        h.schedule("order", {"order": "o1"}, job_id="o1")
        h.at(random.Random(h.seed).randint(0, 12), lambda: h.cancel("o1"))
        (job,) = h.finish()
        h.run_until_quiescent()  # the processor's last answer, and its refund
        if job.state is JobState.CANCELLED:
            refund(job)  # the shop's reconciliation of cancelled orders
            if held:
                h.fail(f"o1 cancelled with {held} still charged")

    return scenario


def _trace(lines: list[str]) -> list[str]:
    """The trace lines of a report, without their index."""
    return [line.split(None, 1)[1] for line in lines if line[:7].strip().isdigit()]


def _index(lines: list[str], *parts: str) -> int:
    return next(i for i, line in enumerate(lines) if all(p in line for p in parts))


def test_a_reply_delivered_then_cancelled_before_it_was_applied_is_found() -> None:
    with pytest.raises(InvariantViolation) as found:
        explore(_cancelled_order(_refund_by_the_case), runs=BUDGET, workflows=[order_flow])
    lines = str(found.value).splitlines()
    assert lines[0] == "o1 cancelled with {'o1': 30} still charged"
    trace = _trace(lines)
    delivered = _index(trace, "DeliverEvent", "o1/pay -> delivered")
    cancelled = _index(trace, "CancelJob", "o1")
    ended = _index(trace, "JobEnded", "o1", "cancelled at 'pay'")
    assert delivered < cancelled < ended, trace
    assert not any("(reply)" in line for line in trace), trace  # on_reply never ran


def test_the_refund_of_what_the_processor_holds_passes() -> None:
    explore(_cancelled_order(_refund_what_the_processor_holds), runs=BUDGET, workflows=[order_flow])
