"""An actor's ``Schedule(..., job_id=...)`` and a producer admitting the same id at once.

Both admit through one set of id claims, as two producers do: while a producer waits for
room to admit ``x``, an actor's ``Schedule`` of ``x`` is refused at once with
``MailboxFull`` naming the id (the Scheduler never waits), and ``x`` is admitted once.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until

from actors import MailboxFull, Mediator, Sequential, Workflow
from actors.messages import Schedule


def test_an_id_a_producer_is_admitting_is_refused_to_an_actor_at_once() -> None:
    gate, entered = threading.Event(), threading.Event()

    def hold(data: Any) -> None:
        entered.set()
        gate.wait(TIMEOUT)

    flow = Workflow("hold", [Sequential("h", hold)], start="h")
    with Mediator([flow], runners=1, capacity=1) as m:
        m.schedule("hold", {})
        assert entered.wait(TIMEOUT)
        m.schedule("hold", {})  # the mailbox is full: the next producer waits for a slot
        waiting = threading.Thread(target=m.schedule, args=("hold", {}), kwargs={"job_id": "x"})
        waiting.start()
        try:
            wait_until(lambda: m.stats().blocked_producers == 1, "the producer of x to wait")
            with pytest.raises(MailboxFull, match="job id 'x' is being admitted by another"):
                m.scheduler.ask(Schedule("hold", {}, job_id="x"), block=True)
        finally:
            gate.set()
            waiting.join(TIMEOUT)
        assert m.get_job("x").workflow == "hold"
