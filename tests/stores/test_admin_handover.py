"""An operator's action handed to a worker that no longer holds the case goes on to it.

Between the request's post and the worker's poll, the case may leave that worker (its
lease lapsed and another worker took the case, or it was released). The worker then
does nothing and says so; the ``Admin`` hands the action to wherever the case is now,
instead of reporting the worker's "not mine" as the action's outcome.
"""

import threading
import time

import pytest
from bounds import TIMEOUT, wait_until

from actors import Mediator, RequestReaction, Workflow
from actors._requests import NOT_HELD, _carry_out
from actors.admin import Admin
from actors.stores import open_store
from actors.stores._admin_types import Request

FLOW = Workflow(
    "order",
    start="ask",
    steps=[
        RequestReaction("ask", send=lambda d, ctx: None, on_reply=lambda d, r: d.update(reply=r)),
    ],
)


@pytest.fixture
def url(make_sql_store):
    if make_sql_store.kind == "sqlite":
        return f"sqlite:///{make_sql_store.path}"
    return make_sql_store.url


def _parked(url):
    """Case o1 waits at 'ask' in the store, held by a live worker 'gone' that runs nothing."""
    with Mediator([FLOW], store=url, owner="w1", poll_interval=0.02) as mediator:
        mediator.schedule("order", {}, job_id="o1")
        with Admin(url) as admin:
            wait_until(lambda: admin.job("o1").state.value == "waiting")
    gone = open_store(url)
    assert gone.claim("gone", time.time(), 60, 1, case_id="o1")
    return gone


def _loses_the_case_when_asked(gone):
    """'gone' takes the request, finds the case is not its own any more, and says so."""
    done = threading.Event()

    def serve():
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            requests = gone.take_requests("gone", time.time())
            if requests:
                gone.release("gone")  # the case left it before it could act
                for request in requests:
                    gone.finish_request(request.id, NOT_HELD, time.time())
                break
            time.sleep(0.01)
        done.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread, done


@pytest.mark.parametrize(
    ("act", "outcome"),
    [
        (lambda admin: admin.send_event("o1/ask", {"ok": True}), "delivered"),
        (lambda admin: admin.cancel("o1"), "cancelled"),
    ],
    ids=["event", "cancel"],
)
def test_an_action_its_worker_could_not_carry_out_goes_where_the_case_is_now(url, act, outcome):
    gone = _parked(url)
    thread, done = _loses_the_case_when_asked(gone)
    try:
        with Admin(url, operator="ivy", timeout=10) as admin:
            result = act(admin)
            assert done.wait(TIMEOUT), "the request was never taken"
            assert (result.outcome, result.via) == (outcome, "store")
            assert admin.job("o1").state.value in ("ready", "cancelled")
    finally:
        thread.join(TIMEOUT)
        gone.close()


class _Scheduler:
    """Stands for a Scheduler whose worker no longer holds the case it is asked to cancel."""

    def cancel_job(self, job_id: str):
        return None  # the store holds it unfinished, but not for this worker


def test_a_worker_asked_to_cancel_a_case_it_lost_says_so_instead_of_failing():
    request = Request(1, "o1", "o1", "cancel", None, "ivy", 0.0)
    assert _carry_out(_Scheduler(), request) == NOT_HELD == "elsewhere"
