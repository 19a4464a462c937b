"""An event for a DeferredChoice in a loop while the job is busy with a stale one."""

from __future__ import annotations

import threading
import time
from typing import Any

from bounds import TIMEOUT

from actors import (
    DeferredChoice,
    EventOutcome,
    ExclusiveChoice,
    JobState,
    Mediator,
    Sequential,
    Spec,
    Workflow,
)

busy = threading.Event()  # the job is on its way back to wait
go_on = threading.Event()


def note(data: dict[str, Any], name: str, payload: dict[str, Any]) -> None:
    data["fresh"] = payload["id"] not in data.setdefault("seen", [])
    data["seen"].append(payload["id"])


def back_to_wait(data: dict[str, Any]) -> None:
    busy.set()
    assert go_on.wait(TIMEOUT)


FLOW = Workflow("approval", start="decide", steps=[
    DeferredChoice("decide", events={"approved": "fresh?"}, on_event=note),
    ExclusiveChoice("fresh?", Spec(lambda d: d["fresh"], "fresh"), "done", "again"),
    Sequential("again", back_to_wait, next="decide"),
    Sequential("done", lambda d: d.update(outcome="approved")),
])  # fmt: skip


def test_an_event_that_comes_while_the_job_is_busy_with_a_stale_one_is_answered_duplicate() -> None:
    cid = "a1/decide/approved"
    with Mediator([FLOW]) as mediator:
        handle = mediator.schedule("approval", {"seen": ["e1"]}, job_id="a1")
        for _ in range(1000):  # bounded: the job waits at the choice
            if mediator.get_job("a1").state is JobState.WAITING:
                break
            time.sleep(0.01)
        assert mediator.receive_event(cid, {"id": "e1"}) is EventOutcome.DELIVERED  # stale
        assert busy.wait(TIMEOUT)
        # A new event while the job goes back to wait: the id was answered, and the job
        # waits on nothing, so it is DUPLICATE and changes nothing, new as it is.
        assert mediator.receive_event(cid, {"id": "e2"}) is EventOutcome.DUPLICATE
        go_on.set()
        for _ in range(1000):  # its sender sends it again once the job waits again
            outcome = mediator.receive_event(cid, {"id": "e2"})
            if outcome is not EventOutcome.DUPLICATE:
                break
            time.sleep(0.01)
        assert outcome is EventOutcome.DELIVERED
        job = handle.result(timeout=TIMEOUT)
    assert job.data == {"seen": ["e1", "e1", "e2"], "fresh": True, "outcome": "approved"}
