"""A request naming one case and a job, or a reply's correlation id, of another is refused.

An ``Admin`` posts a request for the case of the job it acts on, and an event's request
for the job its correlation id names. A row another program wrote may name case A and a
job or correlation id of case B: the worker holding A would then act on B (which it may
not hold). It refuses such a request, naming both cases, and changes nothing: both
cases wait as they did and take their real replies afterwards. On every store: the
memory store's requests come only through its ``Mediator`` (``act_for_mediator``).
"""

import re
import time

import pytest
from bounds import TIMEOUT, wait_until

from actors import JobState, Mediator, RequestReaction, Workflow
from actors._requests import RefusedRequestError
from actors.admin import Admin

FLOW = Workflow(
    "order",
    start="ask",
    steps=[
        RequestReaction("ask", send=lambda d, ctx: None, on_reply=lambda d, r: d.update(reply=r)),
    ],
)

FORGED_EVENT = "names case a (job a), but its correlation id 'b/ask' is of job b of case b"
FORGED_CANCEL = "names case a, but its job b is of case b"


@pytest.fixture
def url(make_sql_store):
    if make_sql_store.kind == "sqlite":
        return f"sqlite:///{make_sql_store.path}"
    return make_sql_store.url


def _both_parked(mediator, admin):
    handles = [mediator.schedule("order", {"n": n}, job_id=case) for n, case in enumerate("ab")]
    for case in "ab":
        wait_until(lambda case=case: admin.job(case).state is JobState.WAITING)
    return handles


def _real_replies_still_delivered(admin, handles):
    for case, handle in zip("ab", handles, strict=True):
        assert admin.send_event(f"{case}/ask", f"real {case}").outcome == "delivered"
        job = handle.result(timeout=TIMEOUT)
        assert (job.state, job.data) == (
            JobState.DONE,
            {"n": "ab".index(case), "reply": f"real {case}"},
        )


def test_a_worker_refuses_a_request_whose_job_or_reply_is_of_another_case(url):
    with (
        Mediator([FLOW], store=url, owner="w1", poll_interval=0.02) as mediator,
        Admin(url, operator="mallory") as admin,
    ):
        handles = _both_parked(mediator, admin)
        store = admin.store
        event = store.post_request("a", "a", "event", ["b/ask", "forged", False], "m", time.time())
        cancel = store.post_request("a", "b", "cancel", None, "m", time.time())
        for request_id in (event, cancel):
            wait_until(lambda r=request_id: store.get_request(r).done_at is not None)
        assert store.get_request(event).outcome == f"error: request {event} {FORGED_EVENT}"
        assert store.get_request(cancel).outcome == f"error: request {cancel} {FORGED_CANCEL}"
        for case in "ab":  # nothing admitted was lost or altered
            job = admin.job(case)
            assert (job.state, job.step, job.data) == (
                JobState.WAITING,
                "ask",
                {"n": "ab".index(case)},
            )
        _real_replies_still_delivered(admin, handles)


def test_a_mediator_refuses_an_operators_request_whose_reply_is_of_another_case():
    with (
        Mediator([FLOW], store="memory://", owner="w1") as mediator,
        Admin(mediator.store, mediator=mediator) as admin,
    ):
        handles = _both_parked(mediator, admin)
        with pytest.raises(RefusedRequestError, match=re.escape(FORGED_EVENT)):
            mediator._operator_action("event", "a", "a", ["b/ask", "forged", False], "m")
        with pytest.raises(RefusedRequestError, match=re.escape(FORGED_CANCEL)):
            mediator._operator_action("cancel", "a", "b", None, "m")
        _real_replies_still_delivered(admin, handles)
