"""Bugs a user writes around timers and external events, found as the harness guide says.

Written as user code, as in ``test_user_bugs.py``: the workflow, the scenario, and the
check that fails on the bug.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from actors import (
    DeferredChoice,
    Discriminator,
    EventOutcome,
    ExclusiveChoice,
    JobState,
    ParallelSplit,
    Sequential,
    Spec,
    StepContext,
    Synchronize,
    Wait,
    Workflow,
)
from actors.testing import EventFault, FaultPlan, Harness, InvariantViolation, VirtualClock
from actors.testing._report import TRACE_TAIL

MONTH = 30 * 86400


def add_installment(data: dict[str, Any], name: str, payment: Any) -> None:
    data["paid"] = [*data.get("paid", []), payment["id"]]  # not keyed on the payment's id


# An order paid in three monthly installments: after each one the job waits a month, then
# waits at "pay" again, on the same correlation id.
installments = Workflow("installments", start="pay", steps=[
    DeferredChoice("pay", events={"installment": "count"}, on_event=add_installment),
    Sequential("count", lambda d: d.update(count=d.get("count", 0) + 1), next="more"),
    ExclusiveChoice("more", Spec(lambda d: d["count"] < 3, "fewer than 3"), "month", "done"),
    Wait("month", duration=MONTH, next="pay"),
    Sequential("done", lambda d: None),
])  # fmt: skip


def pay(h: Harness, n: int) -> Any:
    h.run_until_quiescent()  # a month on, waiting at "pay"
    return h.receive_event("order-1/pay/installment", {"id": f"p{n}"})


def test_a_duplicate_event_fault_is_answered_duplicate_by_the_same_wait() -> None:
    # EventFault "duplicate" sends the copy right behind the event: with a month's Wait
    # between the rounds it always meets the wait that took the event, which answers it
    # "duplicate" (the timer cannot ring while the copy is on its way).
    for seed in range(20):
        plan = FaultPlan(events=(EventFault(1, "duplicate"),))
        with Harness([installments], seed=seed, faults=plan) as h:
            h.schedule("installments", {}, job_id="order-1")
            for n in range(3):
                pay(h, n)
            (job,) = h.finish()
        assert job.data["paid"] == ["p0", "p1", "p2"]
        outcomes = [e.detail for e in h.trace if e.action == "DeliverEvent"]
        assert outcomes[1].endswith("-> duplicate")


def test_a_redelivery_in_the_next_round_is_sent_by_the_test_and_counts_again() -> None:
    # A bus that delivers at least once sends the first installment again a month later,
    # when the job waits at "pay" for the second one on the same id: the copy counts as
    # a payment. The test sends that copy itself, where it wants it to land.
    with Harness([installments], seed=1) as h:
        h.schedule("installments", {}, job_id="order-1")
        pay(h, 0)
        h.run_until_quiescent()
        again = h.receive_event("order-1/pay/installment", {"id": "p0"})  # redelivered
        pay(h, 1)
        (job,) = h.finish()
    assert again.get() is EventOutcome.DELIVERED
    assert job.data["paid"] == ["p0", "p0", "p1"]  # the bug: key on payment["id"]


def test_an_event_sent_before_its_job_waits_is_unknown_and_the_trace_says_so() -> None:
    with Harness([installments], seed=2) as h:
        h.schedule("installments", {}, job_id="order-1")
        early = h.receive_event("order-1/pay/installment", {"id": "p0"})
        h.run_until_quiescent()
        h.close()
    assert early.get() is EventOutcome.UNKNOWN
    assert "order-1/pay/installment -> unknown" in [e.detail for e in h.trace]


def test_a_report_keeps_the_early_event_that_many_later_actions_push_out_of_its_tail() -> None:
    # An order that splits into three before its choice: the event sent before the job
    # waits comes 25 actions and more before the failure, past the report's tail. The
    # report still lists it, with its index, where the reader looks for why.
    steps = [Sequential("validate", lambda d: None, next="fan_out")]
    steps += [ParallelSplit("fan_out", branches=["a", "b", "c"])]
    steps += [Sequential(name, lambda d: None, next="join") for name in "abc"]
    steps += [
        Synchronize("join", next="shipping"),
        DeferredChoice("shipping", events={"shipped": "ship"}, timeout=HOUR, on_timeout="lost"),
        Sequential("ship", lambda d: d.update(status="shipped")),
        Sequential("lost", lambda d: d.update(status="lost")),
    ]
    flow = Workflow("order", start="validate", steps=steps)
    harnesses: list[Harness] = []

    def run() -> None:
        with Harness([flow], seed=1, runners=2) as h:
            harnesses.append(h)
            h.schedule("order", {}, job_id="o1")
            h.receive_event("o1/shipping/shipped", {})  # before the job waits: unknown
            (job,) = h.finish()
            assert job.data["status"] == "shipped"

    with pytest.raises(AssertionError) as failure:
        run()
    trace = harnesses[0].trace
    event = next(e for e in trace if e.action == "DeliverEvent")
    assert event.index < len(trace) - TRACE_TAIL  # out of the tail
    report = "".join(getattr(failure.value, "__notes__", []))
    line = rf"\n +{event.index} +scheduler +DeliverEvent +o1 +o1/shipping/shipped -> unknown\n"
    assert re.search(line, report)
    assert "earlier action(s), among them these events, cancels and faults:" in report


def test_a_task_that_reads_the_wall_clock_sees_no_virtual_time_pass() -> None:
    # time.time() is not the engine's clock: under the harness a month passes in no time.
    def stamp(data: dict[str, Any]) -> None:
        data["at"] = time.time()

    def judge(data: dict[str, Any]) -> None:
        data["a month on"] = time.time() - data["at"] >= MONTH

    flow = Workflow("judge", start="stamp", steps=[
        Sequential("stamp", stamp, next="month"),
        Wait("month", duration=MONTH, next="judge"),
        Sequential("judge", judge),
    ])  # fmt: skip
    with Harness([flow], seed=3) as h:
        h.schedule("judge", {})
        (job,) = h.finish()
    assert job.state is JobState.DONE and job.data["a month on"] is False


@pytest.mark.parametrize("seed", [3, 4])
def test_a_task_that_reads_the_engine_s_clock_sees_the_month_pass(seed: int) -> None:
    # The fix the guide gives: the task reads the clock the engine runs on, handed to it
    # when the workflow is built (a VirtualClock under test, a SystemClock in production).
    clock = VirtualClock()

    def judge_flow(now: Any) -> Workflow:
        return Workflow("judge", start="stamp", steps=[
            Sequential("stamp", lambda d: d.update(at=now()), next="month"),
            Wait("month", duration=MONTH, next="judge"),
            Sequential("judge", lambda d: d.update(late=now() - d["at"] >= MONTH)),
        ])  # fmt: skip

    with Harness([judge_flow(clock.now)], seed=seed, clock=clock) as h:
        h.schedule("judge", {})
        (job,) = h.finish()
    assert job.data["late"] is True


# A checkout whose task asks "has the payment arrived?" of a dict the payment webhook
# writes, instead of waiting on the event. A payment that lands after the check and
# before the job waits at "wait_pay" is answered UNKNOWN, and the paid order expires.
HOUR = 3600.0
payments: dict[str, bool] = {}


def check_payment(data: dict[str, Any], ctx: StepContext) -> None:
    data["paid"] = payments.get(ctx.job_id, False)  # shared state, not the case's data


checkout = Workflow("checkout", start="reserve", steps=[
    Sequential("reserve", lambda d: d.update(reserved=True), next="check"),
    Sequential("check", check_payment, next="paid?"),
    ExclusiveChoice("paid?", Spec(lambda d: d["paid"], "paid"), "ship", "wait_pay"),
    DeferredChoice("wait_pay", events={"paid": "ship"}, timeout=HOUR, on_timeout="expire"),
    Sequential("ship", lambda d: d.update(outcome="shipped")),
    Sequential("expire", lambda d: d.update(outcome="expired")),
])  # fmt: skip


def pay_during_checkout(pay_at: int, data: Any) -> None:
    payments.clear()
    paid_at: list[float] = []
    with Harness([checkout], data=data, runners=1) as h:
        h.schedule("checkout", {}, job_id="o1")

        def webhook() -> None:  # the payment provider's callback, on its own thread
            paid_at.append(h.clock.now())
            payments["o1"] = True
            h.receive_event("o1/wait_pay/paid", {"amount": 30})

        h.at(pay_at, webhook)
        (job,) = h.finish()
        if paid_at[0] < HOUR and job.data["outcome"] != "shipped":
            h.fail(f"paid at t={paid_at[0]}, and the order {job.data['outcome']}")


SEARCH = settings(
    max_examples=300,
    deadline=None,
    database=None,
    derandomize=True,  # the same search on every run
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)


def test_a_payment_landing_between_the_check_and_the_wait_is_found() -> None:
    # The webhook's h.at() call may come while the runner is between two steps of one
    # delivery, as its thread could: after "check" read the dict, before the park.
    @SEARCH
    @given(pay_at=st.integers(0, 12), data=st.data())
    def search(pay_at: int, data: Any) -> None:
        pay_during_checkout(pay_at, data)

    with pytest.raises(InvariantViolation) as failure:
        search()
    report = str(failure.value)
    assert report.startswith("paid at t=0.0, and the order expired")
    assert re.search(r"pause +o1 +before '(paid\?|wait_pay)'", report)
    assert "o1/wait_pay/paid -> unknown" in report


# A fetch with a deadline: the work (fetch, then store) races a 30 s timer that aborts,
# and a Discriminator takes the first. "store" assumes the deadline cannot fire once
# "fetch" is done; but a slow fetch outlasts it, and the abort runs before the store.
effects: list[str] = []

deadline_flow = Workflow("fetch", start="split", steps=[
    ParallelSplit("split", branches=["fetch", "deadline"]),
    Sequential("fetch", lambda d: effects.append("fetched"), next="store"),
    Sequential("store", lambda d: effects.append("stored"), next="join"),
    Wait("deadline", duration=30, next="abort"),
    Sequential("abort", lambda d: effects.append("aborted"), next="join"),
    Discriminator("join", next="end"),
    Sequential("end", lambda d: None),
])  # fmt: skip


def test_a_timer_that_fires_while_a_step_runs_is_found() -> None:
    # Virtual time may pass while a runner is between two steps (its step may be slow):
    # the deadline's timer rings, and "abort" runs before "store".
    @SEARCH
    @given(runners=st.integers(1, 3), data=st.data())
    def search(runners: int, data: Any) -> None:
        effects.clear()
        with Harness([deadline_flow], data=data, runners=runners) as h:
            h.schedule("fetch", {})
            h.finish()
            if [e for e in effects if e != "fetched"] == ["aborted", "stored"]:
                h.fail(f"stored after the abort: {effects}")

    with pytest.raises(InvariantViolation) as failure:
        search()
    report = str(failure.value)
    assert report.startswith("stored after the abort: ['fetched', 'aborted', 'stored']")
    assert re.search(r"pause +j\d +before 'store'", report)
    assert re.search(r"clock +jump +t=30\.0", report)


def test_a_call_that_raises_while_a_runner_is_between_steps_fails_the_test_as_itself() -> None:
    # The webhook's own check fails where h.at() made it, a runner's pause included: the
    # test gets its AssertionError, not the runner's failure taken for an engine bug.
    three = Workflow("three", start="a", steps=[
        Sequential("a", lambda d: None, next="b"),
        Sequential("b", lambda d: None, next="c"),
        Sequential("c", lambda d: None),
    ])  # fmt: skip

    def webhook() -> None:
        raise AssertionError("the webhook's own check failed")

    harnesses: list[Harness] = []

    def run(seed: int) -> None:
        with Harness([three], seed=seed) as h:
            harnesses.append(h)
            h.schedule("three", {})
            h.at(4, webhook)
            h.finish()

    nested = 0
    for seed in range(40):
        with pytest.raises(AssertionError) as failure:
            run(seed)
        assert str(failure.value).startswith("the webhook's own check failed"), seed
        assert type(failure.value) is AssertionError
        nested += any(entry.action == "pause" for entry in harnesses[-1].trace)
    assert nested  # some seeds made the call while the runner was between two steps
