"""actors.admin on memory://: actions on a Mediator's private store go through the Mediator."""

import pytest
from bounds import TIMEOUT, wait_until

from actors import JobState, Mediator, RequestReaction, Sequential, Workflow
from actors.admin import ActionRefusedError, Admin

BROKEN = {"pay": True}


def pay(data):
    if BROKEN["pay"]:
        raise RuntimeError("card declined")
    data["paid"] = True


FLOW = Workflow(
    "order",
    start="pay",
    steps=[
        Sequential("pay", pay, next="ask"),
        RequestReaction("ask", send=lambda d, ctx: None, on_reply=lambda d, r: d.update(reply=r)),
    ],
)


def test_retry_event_and_cancel_on_a_memory_store_through_its_mediator():
    BROKEN["pay"] = True
    with Mediator([FLOW], store="memory://") as mediator:
        assert mediator.schedule("order", {}, job_id="o1").result(timeout=TIMEOUT).state is (
            JobState.FAULTED
        )
        admin = Admin.for_mediator(mediator, operator="mo")
        assert [j.id for j in admin.jobs(state="faulted").items] == ["o1"]
        BROKEN["pay"] = False
        assert admin.retry("o1").outcome == "retried"  # the Mediator takes the case at once
        with pytest.raises(ActionRefusedError, match="unfinished"):
            admin.retry("o1", from_step="pay")
        # the runner parks it at ask
        wait_until(lambda: admin.job("o1").state is JobState.WAITING, "o1 to park at ask")
        delivered = admin.send_event("o1/ask", 42)
        assert delivered.outcome == "delivered"
        assert delivered.via == "mediator"
        # The event was given to the Mediator; it may still be running the case: its
        # next answer to the same id is a duplicate.
        assert admin.send_event("o1/ask", 43).outcome in ("duplicate", "finished")
        waiting = mediator.schedule("order", {}, job_id="o2")
        assert admin.cancel("o2").outcome == "cancelled"
        assert waiting.result(timeout=TIMEOUT).state is JobState.CANCELLED
        actions = [e.action for e in admin.history("o1") if e.kind == "action"]
        assert actions[0] == "retry of step 'pay' (attempt 2)"
        assert actions[1] == "event o1/ask"
        assert admin.history("o1")[0].kind == "created"
