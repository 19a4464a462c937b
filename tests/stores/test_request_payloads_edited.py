"""A request row whose event payload another program wrote is refused, naming it; nothing runs.

An ``Admin`` posts an event for a worker as ``[correlation id, data, fault]``. The worker
unpacked whatever the row held: a fault written as the text ``"false"`` was true, so the
job took its fault path; an object of three keys delivered an event to the correlation
id ``"correlation_id"`` (``unknown``); text that is not JSON was answered with ``error:
TypeError: cannot unpack non-iterable NoneType object``. Now each is answered with an
error naming the request and what its payload holds, logged once without a traceback,
and the job waits on as before.
"""

import logging
import time

import pytest
from bounds import wait_until

from actors import JobState, Mediator, RequestReaction, Sequential, Workflow
from actors.admin import Admin

FLOW = Workflow(
    "order",
    start="reserve",
    steps=[
        Sequential("reserve", lambda d: d.update(reserved=True), next="ask"),
        RequestReaction("ask", send=lambda d, ctx: None, on_reply=lambda d, r: d.update(reply=r)),
    ],
)


@pytest.fixture
def url(make_sql_store):
    if make_sql_store.kind == "sqlite":
        return f"sqlite:///{make_sql_store.path}"
    return make_sql_store.url


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ('["o1/ask", "yes", "false"]', 'fault "false" is not true or false'),
        ('{"correlation_id": "o1/ask", "data": "yes", "fault": false}', "not a list of 3"),
        ('["o1/ask", "yes"]', "not a list of 3"),
        ('[7, "yes", false]', "correlation id 7 is not text"),
        ("{not json", "is not JSON: '{not json'"),
    ],
)
def test_an_event_request_whose_payload_was_edited_is_refused_and_the_job_waits_on(
    url, make_sql_store, caplog, payload, named
):
    with Mediator([FLOW], store=url, owner="w1", poll_interval=0.02, lease_seconds=5.0) as med:
        handle = med.schedule("order", {}, job_id="o1")
        with Admin(url, operator="tool") as admin:
            wait_until(lambda: admin.job("o1").step == "ask", "the job to wait at ask")
            caplog.clear()
            [(request_id,)] = make_sql_store.raw(  # written whole: the worker may take it at once
                "INSERT INTO job_requests (case_id, job_id, kind, payload, operator, posted_at) "
                "VALUES ('o1', 'o1', 'event', ?, 'tool', ?) RETURNING id",
                (payload, time.time()),
            )
            wait_until(
                lambda: admin.store.get_request(request_id).done_at is not None,
                "the worker to answer the request",
            )
            outcome = admin.store.get_request(request_id).outcome
            assert outcome.startswith(
                f"error: request {request_id}'s payload is not [correlation id, data, fault] "
                "as an event's is: "
            )
            assert named in outcome
            job = admin.job("o1")
            assert (job.state, job.step) == (JobState.WAITING, "ask")  # no event, no fault
            said = [r for r in caplog.records if f"request {request_id}" in r.getMessage()]
            assert [(r.levelno, r.exc_info) for r in said] == [(logging.WARNING, None)]
            assert admin.send_event("o1/ask", "yes").via == "worker w1"  # the worker goes on
        assert handle.result(timeout=10).data["reply"] == "yes"
