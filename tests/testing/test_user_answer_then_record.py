"""A user's actor that answers a request, then records what it answered, under the harness.

The testing guide has an actor answer through the ``Mediator`` it is given, ``h.mediator``
under the harness, as ``Mediator.receive_event`` would in the application: the call
waits for the Scheduler's answer, and the job's next steps may run before the actor goes
on. So a step reading a record the actor writes after answering is found. The harness's
own ``h.receive_event`` returns at once with a future: an actor given it always writes
its record before the event is even delivered, and the same bug passes every schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pykka
import pytest

from actors import JobState, RequestReaction, Sequential, StepContext, Workflow
from actors.testing import Harness, explore

RUNS = 300  # seeds: the answer-then-record race is found within the first ten
verdicts: dict[int, bool] = {}  # the fraud service's records, outside the engine


class FraudCheck(pykka.ThreadingActor):
    """Answers each request; records its verdict before or (the bug) after answering."""

    def __init__(self, answer: Callable[[str, Any], Any], record_first: bool) -> None:
        super().__init__()
        self.answer, self.record_first = answer, record_first

    def on_receive(self, request: dict[str, Any]) -> None:
        verdict = request["total"] < 1000
        if self.record_first:
            verdicts[request["order"]] = verdict
        self.answer(request["reply_to"], {"ok": verdict})
        if not self.record_first:
            verdicts[request["order"]] = verdict


def _flow(fraud: dict[str, Any]) -> Workflow:
    def ask(order: dict[str, Any], ctx: StepContext) -> None:
        request = {"order": order["order"], "total": 500, "reply_to": ctx.correlation_id}
        fraud["ref"].tell(request)

    def charge(order: dict[str, Any]) -> None:
        order["charged"] = verdicts[order["order"]]  # the record, not the reply

    return Workflow("order", start="fraud", steps=[
        RequestReaction("fraud", send=ask, next="charge", timeout=30, on_timeout="fraud"),
        Sequential("charge", charge),
    ])  # fmt: skip


def _scenario(fraud: dict[str, Any], record_first: bool, through_mediator: bool) -> Any:
    def scenario(h: Harness) -> None:
        verdicts.clear()
        answer = h.mediator.receive_event if through_mediator else h.receive_event
        fraud["ref"] = h.actor(FraudCheck, answer, record_first)
        for n in range(2):
            h.schedule("order", {"order": n}, job_id=f"o{n}")
        for job in h.finish():
            if job.state is not JobState.DONE:
                h.fail(f"case {job.id} {job.state.name}: {job.error}")

    return scenario


def test_an_actor_answering_through_the_mediator_then_recording_is_found() -> None:
    fraud: dict[str, Any] = {}
    with pytest.raises(AssertionError) as found:
        explore(_scenario(fraud, False, True), runs=RUNS, workflows=[_flow(fraud)], runners=2)
    assert "FAULTED: step 'charge': KeyError" in str(found.value)


def test_the_actor_recording_before_it_answers_passes() -> None:
    fraud: dict[str, Any] = {}
    explore(_scenario(fraud, True, True), runs=RUNS, workflows=[_flow(fraud)], runners=2)


def test_an_actor_given_the_harness_s_own_receive_event_never_shows_the_race() -> None:
    fraud: dict[str, Any] = {}
    explore(_scenario(fraud, False, False), runs=RUNS, workflows=[_flow(fraud)], runners=2)
