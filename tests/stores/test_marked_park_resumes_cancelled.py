"""A job parked with a cancel's mark in the store ends cancelled on the next start.

A cancel that lands as its job parks (after the runner's last look, before the park's
report) is marked in the store; should the engine stop before the report, the next
start finds the job WAITING with the mark. It waited for its event for ever; a runner
now ends it before any step.
"""

from __future__ import annotations

import pytest
from bounds import wait_until

from actors import JobState, Mediator, RequestReaction, Sequential, Workflow
from actors.stores import SqliteStore


def _flow() -> Workflow:
    return Workflow("ask", start="ask", steps=[
        RequestReaction("ask", send=lambda cid, d: None, on_reply=lambda d, r: None,
                        next="after"),
        Sequential("after", lambda d: d.update(after=True)),
    ])  # fmt: skip


@pytest.mark.parametrize("commit", ["step", "group"])
def test_a_parked_job_marked_cancelled_ends_cancelled_on_the_next_start(tmp_path, commit):
    path = tmp_path / "jobs.db"
    with Mediator([_flow()], store=SqliteStore(path, commit=commit)) as first:
        case = first.schedule("ask", {}).job_id
        wait_until(lambda: first.store.get(case).state is JobState.WAITING)
        # What the race leaves: the cancel's mark stored, its answer never acted on.
        first.store.mark_cancel(case, "cancelled")
        first.shutdown(drain=False)
    with Mediator([_flow()], store=SqliteStore(path, commit=commit)) as again:
        wait_until(lambda: again.store.get(case).state is JobState.CANCELLED)
        job = again.store.get(case)
    assert (job.state, job.step) == (JobState.CANCELLED, "ask")
