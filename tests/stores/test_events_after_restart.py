"""An event for a case whose worker crashed, sent to the process restarted in its place.

What docs/how-to/events-and-timeouts.md promises for ``ELSEWHERE``: a worker restarted
without ``owner=`` is a new worker, so the crashed one's lease keeps the case from it;
an event answers ``ELSEWHERE`` and is not kept, and the same event sent again once the
lease has expired is delivered. A worker restarted under the same ``owner=`` takes its
cases back at start, and the event is delivered at once. Each worker has a virtual
clock; nothing sleeps.
"""

from __future__ import annotations

import queue
import time

from bounds import TIMEOUT, wait_until

from actors import EventOutcome, JobState, Mediator, RequestReaction, Sequential, Workflow
from actors.stores import open_store
from actors.testing import VirtualClock

LEASE = 15.0


def _flow(asked: queue.Queue[str]) -> Workflow:
    return Workflow("expense", start="ask", steps=[
        RequestReaction("ask", send=lambda data, ctx: asked.put(ctx.correlation_id),
                        on_reply=lambda data, reply: data.update(reply=reply), next="settle"),
        Sequential("settle", lambda data: data.update(settled=True)),
    ])  # fmt: skip


def _worker(url: str, flow: Workflow, clock: VirtualClock, owner: str | None) -> Mediator:
    return Mediator(
        [flow], store=url, clock=clock, owner=owner, lease_seconds=LEASE, poll_interval=1000.0
    )


def _crashed_with_a_parked_case(
    url: str, flow: Workflow, asked: queue.Queue[str], start: float, monkeypatch, owner=None
) -> str:
    """A worker parks a case on its request, then dies: its lease on the case stays."""
    first = _worker(url, flow, VirtualClock(start=start), owner)
    first.schedule("expense", {}, job_id="exp-1")
    cid = asked.get(timeout=TIMEOUT)
    monkeypatch.setattr(first.store, "release", lambda owner: None)  # no goodbye: a crash
    first.shutdown()
    return cid


def test_a_restart_without_owner_answers_elsewhere_until_the_old_lease_expires(
    tmp_path, monkeypatch
):
    url, asked, start = f"sqlite:///{tmp_path / 'jobs.db'}", queue.Queue(), time.time()
    flow = _flow(asked)
    cid = _crashed_with_a_parked_case(url, flow, asked, start, monkeypatch)
    clock = VirtualClock(start=start + 1)
    with _worker(url, flow, clock, owner=None) as restarted:
        assert restarted.receive_event(cid, "too early") is EventOutcome.ELSEWHERE
        assert restarted.get_job("exp-1").state is JobState.WAITING
        clock.advance(LEASE)  # the crashed worker's lease has expired
        assert restarted.receive_event(cid, "sent again") is EventOutcome.DELIVERED
        wait_until(lambda: restarted.get_job("exp-1").state is JobState.DONE, "the case ends")
    # The case took the event sent again: the refused one was kept nowhere.
    assert _final(url) == (JobState.DONE, {"reply": "sent again", "settled": True})


def test_a_restart_under_the_same_owner_takes_its_case_back_at_once(tmp_path, monkeypatch):
    owner = "billing-1"
    url, asked, start = f"sqlite:///{tmp_path / 'jobs.db'}", queue.Queue(), time.time()
    flow = _flow(asked)
    cid = _crashed_with_a_parked_case(url, flow, asked, start, monkeypatch, owner=owner)
    with _worker(url, flow, VirtualClock(start=start + 1), owner=owner) as restarted:
        assert restarted.receive_event(cid, "yes") is EventOutcome.DELIVERED
    assert _final(url) == (JobState.DONE, {"reply": "yes", "settled": True})


def test_a_draining_shutdown_waits_for_the_case_an_event_took_over(tmp_path, monkeypatch):
    """The job a takeover hands back for a lease renewal is work a drain waits for.

    The restarted worker claims the case for the event; its runner cannot vouch for the
    lease until the next renewal and hands the job back. A drain that answered then
    stopped the worker with the case READY in the store, its event never applied.
    """
    url, asked, start = f"sqlite:///{tmp_path / 'jobs.db'}", queue.Queue(), time.time()
    flow = _flow(asked)
    cid = _crashed_with_a_parked_case(url, flow, asked, start, monkeypatch)
    clock = VirtualClock(start=start + 1)
    with _worker(url, flow, clock, owner=None) as restarted:
        clock.advance(LEASE)
        assert restarted.receive_event(cid, "yes") is EventOutcome.DELIVERED
    assert _final(url) == (JobState.DONE, {"reply": "yes", "settled": True})


def _final(url: str) -> tuple[JobState, dict]:
    store = open_store(url)
    try:
        job = store.get("exp-1")
        assert job is not None
        return job.state, job.data
    finally:
        store.close()
