"""The case page of a case waiting to retry a step: its last failure, not a fault."""

from __future__ import annotations

from bounds import wait_until
from starlette.testclient import TestClient

from actors import JobState, Mediator, Retry, Sequential, StepContext, Workflow
from actors.stores import open_store
from actors.testing import VirtualClock
from actors.ui import create_app


def call(data, ctx: StepContext):
    raise ConnectionError(f"carrier busy ({ctx.attempt})")


FLOW = Workflow(
    "pickup",
    start="call",
    steps=[Sequential("call", call, retry=Retry(attempts=3, backoff=60))],
)


def test_a_case_waiting_to_retry_shows_its_last_failure_as_such(tmp_path, clock: VirtualClock):
    url = f"sqlite:///{tmp_path / 'retry.db'}"
    with Mediator([FLOW], runners=1, store=url, clock=clock) as m:
        job_id = m.schedule("pickup", {}, job_id="pickup-1").job_id
        wait_until(lambda: m.get_job(job_id).state is JobState.WAITING, "the retry's park")
    store = open_store(url)
    try:
        assert store.get(job_id).state is JobState.WAITING
        web = TestClient(create_app(store, [FLOW]), base_url="http://127.0.0.1:8400")
        page = web.get(f"/cases/{job_id}").text
    finally:
        store.close()
    failure = "step &#39;call&#39;: ConnectionError: carrier busy (1) (attempt 1)"
    assert 'class="state waiting" id="case-state-value"' in page
    assert f"Last failure (a retry is due): {failure}" in page
    assert '<pre class="error">' not in page  # not shown as a fault
    assert f"last failure: {failure}" in page  # its row in the jobs table
    timeline = page.split('id="timeline"')[1]
    assert f'<span class="error">{failure}</span>' in timeline  # the attempt that failed
