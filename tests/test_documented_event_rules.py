"""Rules of docs/how-to/events-and-timeouts.md and guarantees.md no other test pins down.

A ``RequestReaction``'s ``send`` gets a copy of the job's data (what it changes is not
kept), and cancelling one branch of a split leaves its siblings running and ends the
parent ``CANCELLED`` (with the reason the guide quotes), with a join or without one. A
``Wait`` whose duration function raises faults its job alone, and a ``DeferredChoice``
whose timer fires withdraws every one of its events.
"""

from __future__ import annotations

import threading
from typing import Any

from bounds import TIMEOUT, wait_until
from flows import setter

from actors import (
    CancelOutcome,
    DeferredChoice,
    EventOutcome,
    JobState,
    Mediator,
    ParallelSplit,
    RequestReaction,
    Sequential,
    StepContext,
    Synchronize,
    Wait,
    Workflow,
)
from actors.testing import VirtualClock


def test_what_a_send_changes_in_its_data_is_not_kept() -> None:
    asked = threading.Event()
    sent: list[StepContext] = []

    def send(data: dict[str, Any], ctx: StepContext) -> None:
        data["sent"] = True  # a copy: the job's data does not take this
        data["lines"].append("from send")
        sent.append(ctx)
        asked.set()

    flow = Workflow(
        "ask",
        [
            RequestReaction("ask", send=send, on_reply=lambda d, r: d.update(reply=r), next="end"),
            Sequential("end", setter("end")),
        ],
        start="ask",
    )
    with Mediator([flow], runners=1) as m:
        handle = m.schedule("ask", {"lines": ["order"]})
        assert asked.wait(TIMEOUT)
        waiting = m.get_job(handle.job_id)
        assert m.receive_event(sent[0].correlation_id, "yes") is EventOutcome.DELIVERED
        job = handle.result(timeout=TIMEOUT)
    assert waiting.data == {"lines": ["order"]}
    assert job.data == {"lines": ["order"], "reply": "yes", "end": True}


def _cancel_x_then_answer_y(flow: Workflow, asked: dict[str, StepContext]) -> tuple[Any, ...]:
    """Both branches parked on their requests: cancel x, answer y; the case's jobs after."""
    with Mediator([flow], runners=2) as m:
        handle = m.schedule("fan", {})

        def parked(step: str) -> bool:
            return step in asked and m.get_job(asked[step].job_id).state is JobState.WAITING

        wait_until(lambda: parked("x") and parked("y"), "both branches to park")
        assert m.cancel(asked["x"].job_id) is CancelOutcome.CANCELLED
        assert m.get_job(handle.job_id).state is JobState.WAITING  # y has not ended
        assert m.receive_event(asked["y"].correlation_id, "ok") is EventOutcome.DELIVERED
        parent = handle.result(timeout=TIMEOUT)
        return parent, m.get_job(asked["x"].job_id), m.get_job(asked["y"].job_id)


def test_a_cancelled_branch_lets_its_sibling_run_on_and_names_itself_on_the_parent() -> None:
    asked: dict[str, StepContext] = {}

    def ask(data: dict[str, Any], ctx: StepContext) -> None:
        asked[ctx.step] = ctx

    def answer(data: dict[str, Any], reply: Any) -> None:
        data["reply"] = reply

    flow = Workflow(
        "fan",
        [
            ParallelSplit("split", branches=["x", "y"]),
            RequestReaction("x", send=ask, on_reply=answer, next="join"),
            RequestReaction("y", send=ask, on_reply=answer, next="join"),
            Synchronize("join", next="end"),
            Sequential("end", setter("end")),
        ],
        start="split",
    )
    parent, branch_x, branch_y = _cancel_x_then_answer_y(flow, asked)
    assert branch_x.state is JobState.CANCELLED
    assert (branch_y.state, branch_y.data) == (JobState.DONE, {"reply": "ok"})  # carried on
    assert parent.state is JobState.CANCELLED
    assert parent.error == "a branch was cancelled before its join"
    assert "end" not in parent.data


def test_a_split_without_a_join_whose_branch_was_cancelled_ends_cancelled_after_its_last() -> None:
    """Without a join the parent ends ``CANCELLED`` too, once its last branch has ended."""
    asked: dict[str, StepContext] = {}

    def ask(data: dict[str, Any], ctx: StepContext) -> None:
        asked[ctx.step] = ctx

    flow = Workflow(
        "fan",
        [
            ParallelSplit("split", branches=["x", "y"]),
            RequestReaction("x", send=ask),
            RequestReaction("y", send=ask, on_reply=lambda d, r: d.update(reply=r)),
        ],
        start="split",
    )
    parent, _, branch_y = _cancel_x_then_answer_y(flow, asked)
    assert (branch_y.state, branch_y.data) == (JobState.DONE, {"reply": "ok"})
    assert (parent.state, parent.step) == (JobState.CANCELLED, "split")
    assert parent.error == "a branch was cancelled"  # no join to name


def test_a_wait_whose_duration_function_raises_faults_its_job_alone(clock: VirtualClock) -> None:
    def grace(data: dict[str, Any]) -> float:
        return float(data["grace_period"])  # KeyError for an order without one

    flow = Workflow(
        "remind",
        [Wait("pause", duration=grace, next="remind"), Sequential("remind", setter("reminded"))],
        start="pause",
    )
    with Mediator([flow], runners=1, clock=clock) as m:
        waiting = m.schedule("remind", {"grace_period": 60})
        clock.wait_for_alarm()  # its timer is armed
        broken = m.schedule("remind", {}).result(timeout=TIMEOUT)
        assert (broken.state, broken.step) == (JobState.FAULTED, "pause")
        assert broken.error is not None and "KeyError: 'grace_period'" in broken.error
        clock.advance(60)  # the other job's timer was not touched
        assert waiting.result(timeout=TIMEOUT).data == {"grace_period": 60, "reminded": True}


def test_a_choice_whose_timer_fired_withdraws_every_event(clock: VirtualClock) -> None:
    flow = Workflow(
        "checkout",
        [
            DeferredChoice(
                "which",
                events={"paid": "ship", "cancelled": "refund"},
                timeout=3600,
                on_timeout="expire",
            ),
            Sequential("ship", setter("shipped")),
            Sequential("refund", setter("refunded")),
            Sequential("expire", setter("expired")),
        ],
        start="which",
    )
    with Mediator([flow], runners=1, clock=clock) as m:
        handle = m.schedule("checkout", {}, job_id="order-8")
        clock.wait_for_alarm()
        clock.advance(3600)
        assert handle.result(timeout=TIMEOUT).data == {"expired": True}
        assert m.receive_event("order-8/which/paid", 30) is EventOutcome.LATE
        assert m.receive_event("order-8/which/cancelled") is EventOutcome.LATE
        assert m.get_job("order-8").data == {"expired": True}
