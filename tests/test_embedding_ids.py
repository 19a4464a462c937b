"""An actor's ``Schedule(..., job_id=...)`` and a producer admitting the same id at once.

Both admit through one set of id claims, as two producers do: while a producer waits for
room to admit ``x``, an actor's ``Schedule`` of ``x`` is refused at once with
``MailboxFull`` naming the id (the Scheduler never waits), and ``x`` is admitted once.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import pykka
import pytest
from bounds import TIMEOUT, wait_until

from actors import MailboxFull, Mediator, Sequential, Workflow
from actors.messages import Schedule, ScheduleRefused


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


class _Stop(BaseException):
    """A library's own ``BaseException``."""


def _failing_ids(error: BaseException) -> Any:
    """An ids factory that raises ``error`` on its second call (the first is the probe's)."""
    calls = iter(range(1_000))

    def ids() -> str:
        n = next(calls)
        if n == 1:
            raise error
        return f"case-{n}"

    return ids


class _Inbox(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.refused = queue.SimpleQueue[Any]()

    def on_receive(self, message: Any) -> None:
        if isinstance(message, ScheduleRefused):
            self.refused.put(message)


def test_an_ids_factory_failing_for_a_told_schedule_is_a_refusal_and_the_engine_goes_on() -> None:
    """The docs: a told ``Schedule`` that is refused is told back, and the engine goes on."""
    flow = Workflow("one", [Sequential("a", lambda data: None)], start="a")
    inbox = _Inbox.start()
    try:
        with Mediator([flow], ids=_failing_ids(ConnectionError("id service down"))) as m:
            assert m.schedule("one", {}).result(timeout=TIMEOUT).id == "case-0"
            m.scheduler.tell(Schedule("one", {}, reply_to=inbox))
            refused = inbox.proxy().refused.get().get(timeout=TIMEOUT)
            assert isinstance(refused.error, ConnectionError)
            assert m.schedule("one", {}).result(timeout=TIMEOUT).id == "case-2"
    finally:
        inbox.stop()


@pytest.mark.parametrize("error", [KeyboardInterrupt("k"), _Stop("s")], ids=["ki", "own"])
def test_an_ids_factory_raising_a_base_exception_for_an_asked_schedule_is_the_asker_s_error(
    error: BaseException,
) -> None:
    """Pykka stopped every actor for it; the asker waited out its timeout."""
    flow = Workflow("one", [Sequential("a", lambda data: None)], start="a")
    inbox = _Inbox.start()
    try:
        with Mediator([flow], ids=_failing_ids(error)) as m:
            assert m.schedule("one", {}).result(timeout=TIMEOUT).id == "case-0"
            with pytest.raises(RuntimeError, match=f"{type(error).__name__}: {error}") as raised:
                m.scheduler.ask(Schedule("one", {}, reply_to=inbox), timeout=TIMEOUT)
            assert raised.value.__cause__ is error
            assert m.schedule("one", {}).result(timeout=TIMEOUT).id == "case-2"
            assert inbox.is_alive()
    finally:
        inbox.stop()
