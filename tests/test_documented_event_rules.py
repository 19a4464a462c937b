"""Rules of docs/how-to/events-and-timeouts.md and guarantees.md no other test pins down.

A ``RequestReaction``'s ``send`` gets a copy of the job's data (what it changes is not
kept), and cancelling one branch of a split leaves its siblings running and ends the
parent ``CANCELLED`` (with the reason the guide quotes), with a join or without one.
"""

from __future__ import annotations

import threading
from typing import Any

from bounds import TIMEOUT, wait_until
from flows import setter

from actors import (
    CancelOutcome,
    EventOutcome,
    JobState,
    Mediator,
    ParallelSplit,
    RequestReaction,
    Sequential,
    StepContext,
    Synchronize,
    Workflow,
)


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
