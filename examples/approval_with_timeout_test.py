import queue
from typing import Any

import pykka

from actors import EventOutcome, JobState
from actors.testing import VirtualClock
from approval_with_timeout import TIMEOUT_S, approval_workflow, main


def test_slow_approval_escalates_and_its_late_answer_is_ignored() -> None:
    jobs, late = main()
    outcomes = {j.data["amount"]: j.data["outcome"] for j in jobs}
    assert outcomes == {120: "settled", 800: "settled", 2500: "escalated to finance"}
    assert "approved" not in jobs[2].data
    assert late == [EventOutcome.LATE]


class Inbox(pykka.ThreadingActor):
    """A stand-in approver: it hands each request to the test, which answers it."""

    def __init__(self, requests: queue.Queue[tuple[str, int]]) -> None:
        super().__init__()
        self.requests = requests

    def on_receive(self, message: Any) -> None:
        self.requests.put(message)


def test_the_timeout_on_a_virtual_clock_fires_when_the_test_moves_time(
    mediator: Any, virtual_clock: VirtualClock
) -> None:
    # The same workflow on a real, threaded engine, with time in the test's hands: the
    # timeout fires when the test advances the clock past it, never by waiting.
    requests: queue.Queue[tuple[str, int]] = queue.Queue()
    inbox = Inbox.start(requests)
    try:
        engine = mediator([approval_workflow(inbox)], clock=virtual_clock, runners=2)
        handles = {a: engine.schedule("expense", {"amount": a}) for a in (120, 2500)}
        asked = {}  # amount -> correlation id, as the step sent them
        for _ in handles:
            correlation_id, amount = requests.get(timeout=30)
            asked[amount] = correlation_id
        assert engine.receive_event(asked[120], {"approved": True}) is EventOutcome.DELIVERED
        assert handles[120].result(timeout=30).data["outcome"] == "settled"
        # Both timeouts were set for t=0.5 before the requests went out. If the engine
        # files the 2500 one only after time moved, its alarm is already due and rings at
        # once: nothing waits for the test to move time again.
        virtual_clock.wait_for_alarm(timeout=30)
        virtual_clock.advance(TIMEOUT_S)
        escalated = handles[2500].result(timeout=30)
        assert escalated.state is JobState.DONE
        assert escalated.data["outcome"] == "escalated to finance"
        assert engine.receive_event(asked[2500], {"approved": True}) is EventOutcome.LATE
    finally:
        inbox.stop()
