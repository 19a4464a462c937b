"""A user's task that waits for a case it scheduled: the runners all wait, none is left.

An order's task schedules a sub-case (the invoice) and waits for its result, as a
function call would. Each waiting task holds a runner: with as many orders as runners
(or more), every runner waits on an invoice no runner is free to run. Threads hang
there for ever; the harness reports the ``Deadlock`` in the first seed. The order that
asks for its invoice with a ``RequestReaction`` (the invoice case answers its request)
holds no runner while it waits, and passes every seed.

With more runners than waiting orders threads never deadlock, but the harness may still
report one: it runs a runner paused between two steps and the waits nested above it on
one stack, so the paused runner cannot go on before the wait above it ends. The report
says so, naming the paused runner, rather than calling it blocked.
"""

from __future__ import annotations

from typing import Any

import pytest

from actors import RequestReaction, Sequential, StepContext, Workflow
from actors.testing import Deadlock, Harness, explore

BUDGET = 40  # seeds

refs: dict[str, Harness] = {}  # the harness, once made: the tasks schedule through it


def _invoice_and_wait(data: dict[str, Any]) -> None:
    handle = refs["h"].mediator.schedule("invoice", {"order": data["order"]})
    data["invoice"] = handle.result().data["number"]  # waits, holding the runner


def _number(data: dict[str, Any]) -> None:
    data["number"] = f"inv-{data['order']}"


waiting_order = Workflow("order", start="bill", steps=[Sequential("bill", _invoice_and_wait)])
invoice = Workflow("invoice", start="number", steps=[Sequential("number", _number)])


def _orders(count: int) -> Any:
    def scenario(h: Harness) -> None:
        refs["h"] = h
        for n in range(count):
            h.schedule("order", {"order": n}, job_id=f"o{n}")
        for job in h.finish():
            if job.workflow == "order":
                assert job.data["invoice"] == f"inv-{job.data['order']}", job.data

    return scenario


@pytest.mark.parametrize("runners", [1, 2])
def test_orders_that_wait_for_their_invoice_on_every_runner_deadlock(runners: int) -> None:
    with pytest.raises(Deadlock) as found:
        explore(_orders(runners), runs=1, workflows=[waiting_order, invoice], runners=runners)
    headline = str(found.value).splitlines()[0]
    assert headline.startswith("nothing can run, yet a future is unresolved"), headline
    assert "invoice) READY at 'number'" in str(found.value)  # queued, no runner free


def test_a_paused_runner_under_a_wait_is_named_as_paused_not_blocked() -> None:
    # Two orders, three runners: threads never deadlock. The harness's report, where it
    # cannot go on, names the runner paused under the wait and says what that means.
    with pytest.raises(Deadlock) as found:
        explore(_orders(2), runs=BUDGET, workflows=[waiting_order, invoice], runners=3)
    report = str(found.value)
    headline = report.splitlines()[0]
    assert "(paused before 'number')" in headline, headline
    assert "A runner paused between two steps waits on nothing" in headline
    assert "BUSY: paused before 'number' while others act (not blocked)" in report


def _ask_for_invoice(data: dict[str, Any], ctx: StepContext) -> None:
    # Runs once the order waits: the invoice case answers the request when done.
    refs["h"].mediator.schedule("invoice", {"order": data["order"], "reply": ctx.correlation_id})


def _number_and_answer(data: dict[str, Any]) -> None:
    _number(data)
    refs["h"].mediator.receive_event(data["reply"], data["number"])


asking_order = Workflow("order", start="bill", steps=[
    RequestReaction("bill", send=_ask_for_invoice,
                    on_reply=lambda data, number: {**data, "invoice": number}),
])  # fmt: skip
answering_invoice = Workflow("invoice", start="number", steps=[
    Sequential("number", _number_and_answer),
])  # fmt: skip


@pytest.mark.parametrize("runners", [1, 2, 3])
def test_orders_that_request_their_invoice_pass_on_any_number_of_runners(runners: int) -> None:
    explore(_orders(3), runs=BUDGET, workflows=[asking_order, answering_invoice], runners=runners)
