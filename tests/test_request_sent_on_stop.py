"""A request whose step ends while the worker stops is still sent.

A non-draining stop (``shutdown(drain=False)``, an ``actors worker``'s SIGTERM) stops the
Scheduler first, then lets each runner finish its step. A ``RequestReaction`` step that
was storing its park then stored it, but skipped its ``send``, as the runner could not
tell the stopped Scheduler: the request was never sent, and a case without a timeout
waited for a reply that could not come. The step finishes, its request included: the
reply, sent to the store or to the next worker, finds the case waiting for it.
"""

from __future__ import annotations

import threading
import traceback
from pathlib import Path
from typing import Any

from bounds import TIMEOUT, wait_until

from actors import JobState, Mediator, RequestReaction, Workflow
from actors.admin import Admin
from actors.stores import SqliteStore


class ParkGate(SqliteStore):
    """Storing a request's park waits until the test lets it go on (``go_on``)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.parking, self.go_on = threading.Event(), threading.Event()

    def end_slice(self, then: Any = None) -> None:
        if any(frame.name == "_request" for frame in traceback.extract_stack()):
            self.parking.set()
            assert self.go_on.wait(TIMEOUT), "the test never let the park be stored"
        super().end_slice(then)


def test_a_request_whose_park_is_stored_as_the_worker_stops_is_sent(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    sent: list[str] = []

    def ask(data: dict[str, Any], ctx: Any) -> None:
        sent.append(ctx.correlation_id)

    def answer(data: dict[str, Any], reply: Any) -> None:
        data["answer"] = reply

    flow = Workflow("ask", [RequestReaction("ask", send=ask, on_reply=answer)], start="ask")
    store = ParkGate(path)
    mediator = Mediator([flow], store=store, runners=1)
    case = mediator.schedule("ask", {}, job_id="case-1").job_id
    assert store.parking.wait(TIMEOUT)  # the step runs: its park is being stored
    stopping = threading.Thread(target=mediator.shutdown, kwargs={"drain": False})
    stopping.start()
    # The Scheduler stops first; then the runner's step goes on.
    wait_until(lambda: not mediator._scheduler.is_alive(), "the Scheduler to stop")
    store.go_on.set()
    stopping.join(TIMEOUT)
    assert not stopping.is_alive()
    assert sent == [f"{case}/ask"]  # the request went out
    url = f"sqlite:///{path}"
    with Admin(url, operator="test") as admin:  # the reply reaches the case in the store
        assert admin.send_event(f"{case}/ask", "yes").outcome == "delivered"
    with Mediator([flow], store=url, runners=1) as again:
        wait_until(lambda: again.get_job(case).state is JobState.DONE, "the case to end")
        assert again.get_job(case).data == {"answer": "yes"}


def test_a_request_that_fails_as_the_worker_stops_leaves_the_job_waiting(
    tmp_path: Path, caplog: Any
) -> None:
    path = tmp_path / "jobs.db"

    def ask(data: dict[str, Any], ctx: Any) -> None:
        raise ConnectionError("the approvals service is down")

    flow = Workflow("ask", [RequestReaction("ask", send=ask, timeout=60)], start="ask")
    store = ParkGate(path)
    mediator = Mediator([flow], store=store, runners=1)
    case = mediator.schedule("ask", {}, job_id="case-1").job_id
    assert store.parking.wait(TIMEOUT)
    stopping = threading.Thread(target=mediator.shutdown, kwargs={"drain": False})
    stopping.start()
    wait_until(lambda: not mediator._scheduler.is_alive(), "the Scheduler to stop")
    store.go_on.set()
    stopping.join(TIMEOUT)
    assert not stopping.is_alive()
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        f"its request {case}/ask failed as the engine stopped (ConnectionError: the "
        "approvals service is down); the job waits for a reply as stored" in line
        for line in said
    ), said
    check = SqliteStore(path)
    try:
        job = check.get(case)
        assert job is not None
        assert job.state is JobState.WAITING  # its timeout moves it on at the next start
    finally:
        check.close()
