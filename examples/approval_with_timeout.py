"""Ask an approver actor for a decision; escalate when it does not answer in time.

Run it with ``python examples/approval_with_timeout.py``. The approver is a plain pykka
actor: the workflow's ``send`` tells it the request with the correlation id, and it
answers later through ``Mediator.receive_event``. Large amounts take the approver longer
than the step's timeout, so those cases take the escalation path; the late answer is
reported as LATE and changes nothing.
"""

from __future__ import annotations

import threading
from typing import Any

import pykka

from actors import EventOutcome, Mediator, RequestReaction, Sequential, StepContext, Workflow

TIMEOUT_S = 0.5


class Approver(pykka.ThreadingActor):
    """Approves small amounts quickly and large ones slowly, like a busy manager.

    Messages: ``("answer_to", mediator)`` once, then ``(correlation_id, amount)`` per
    request. It answers from a timer thread, as an outside system would, some time later.
    """

    def __init__(self) -> None:
        super().__init__()
        self.mediator: Mediator | None = None
        self.late: list[EventOutcome] = []
        self._timers: list[threading.Timer] = []

    def on_receive(self, message: Any) -> None:
        if message[0] == "answer_to":
            self.mediator = message[1]
            return
        correlation_id, amount = message
        delay = 0.05 if amount < 1000 else TIMEOUT_S * 3
        timer = threading.Timer(delay, self._answer, (correlation_id, amount < 5000))
        self._timers.append(timer)
        timer.start()

    def _answer(self, correlation_id: str, approved: bool) -> None:
        assert self.mediator is not None
        outcome = self.mediator.receive_event(correlation_id, {"approved": approved})
        if outcome is not EventOutcome.DELIVERED:
            self.late.append(outcome)  # a reply after the timeout changes nothing

    def on_stop(self) -> None:
        for timer in self._timers:
            timer.join()


def approval_workflow(approver: pykka.ActorRef[Any]) -> Workflow:
    def ask(data: dict[str, Any], ctx: StepContext) -> None:
        approver.tell((ctx.correlation_id, data["amount"]))

    def record(data: dict[str, Any], reply: dict[str, Any]) -> None:
        data["approved"] = reply["approved"]

    return Workflow(
        "expense",
        start="request_approval",
        steps=[
            RequestReaction(
                "request_approval",
                send=ask,
                on_reply=record,
                next="settle",
                timeout=TIMEOUT_S,
                on_timeout="escalate",
            ),
            Sequential("settle", lambda d: d.update(outcome="settled")),
            Sequential("escalate", lambda d: d.update(outcome="escalated to finance")),
        ],
    )


def main() -> tuple[list[Any], list[EventOutcome]]:
    approver = Approver.start()
    try:
        with Mediator([approval_workflow(approver)], runners=2) as mediator:
            approver.tell(("answer_to", mediator))
            handles = [mediator.schedule("expense", {"amount": a}) for a in (120, 800, 2500)]
            jobs = [h.result(timeout=10) for h in handles]
            late = approver.proxy().late.get()  # the actor's own list
            approver.stop()  # waits for the slow answer, which arrives after the timeout
    finally:
        if approver.is_alive():
            approver.stop()
    for job in jobs:
        approved = job.data.get("approved")
        print(f"{job.data['amount']:>5}: {job.data['outcome']} (approved: {approved})")
    return jobs, list(late)


if __name__ == "__main__":
    main()
