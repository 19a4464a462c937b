"""A crash around a ``RequestReaction``'s send: what docs/how-to/events-and-timeouts.md says.

The runner stores the park first and calls ``send`` after. A crash before the park is
stored reruns the step, so the request is sent (once); a crash after it is stored and
before ``send`` ran leaves the job parked with its timer: recovery does not send again,
and the job waits for a reply or its timeout. A restart is a second ``Harness`` on the
same store object.
"""

from __future__ import annotations

import pytest

from actors import EventOutcome, JobState, RequestReaction, Sequential, Workflow
from actors.stores import MemoryStore
from actors.testing import Harness


class ProcessDied(BaseException):
    """Stands for the process dying inside ``send`` (nothing in the engine catches it)."""


def _flow(sends: list[str], *, die_first: bool = False, on_timeout: str = "escalate") -> Workflow:
    def ask(data, ctx):
        if die_first and not sends:
            sends.append("died")
            raise ProcessDied
        sends.append(ctx.correlation_id)

    steps = [
        RequestReaction("ask", send=ask, next="settle", timeout=3600, on_timeout=on_timeout),
        Sequential("settle", lambda data: data.update(outcome="settled")),
    ]
    if on_timeout == "escalate":
        steps.append(Sequential("escalate", lambda data: data.update(outcome="escalated")))
    return Workflow("expense", start="ask", steps=steps)


def _crash_after_the_park(sends: list[str], store: MemoryStore, **flow_options) -> None:
    """The first process stores the park and dies before its send: a restart follows."""
    with Harness([_flow(sends, die_first=True, **flow_options)], seed=1, store=store) as h:
        h.schedule("expense", {}, job_id="exp-1")
        with pytest.raises(ProcessDied):
            h.run_until_quiescent()
    parked = store.get("exp-1")
    assert parked is not None
    assert (parked.state, parked.step, sends) == (JobState.WAITING, "ask", ["died"])


def test_a_crash_after_the_park_is_stored_does_not_send_again_and_the_job_times_out():
    sends: list[str] = []
    store = MemoryStore(copy_data=True)
    _crash_after_the_park(sends, store)
    with Harness([_flow(sends)], seed=2, store=store) as restarted:
        restarted.run_until_quiescent()  # the virtual clock moves on to the timeout
    assert sends == ["died"]  # recovery parked the job again: no request went out
    job = store.get("exp-1")
    assert job is not None
    assert (job.state, job.data) == (JobState.DONE, {"outcome": "escalated"})


def test_after_such_a_crash_a_reply_to_the_correlation_id_is_still_delivered():
    sends: list[str] = []
    store = MemoryStore(copy_data=True)
    _crash_after_the_park(sends, store)
    with Harness([_flow(sends)], seed=2, store=store) as restarted:
        restarted.run_until_quiescent(advance_time=False)
        answer = restarted.receive_event("exp-1/ask", {"approved": True})
        restarted.run_until_quiescent()
        assert answer is not None
        assert answer.get() is EventOutcome.DELIVERED
    job = store.get("exp-1")
    assert job is not None
    assert (job.data, sends) == ({"outcome": "settled"}, ["died"])


def test_a_timeout_that_leads_back_to_the_request_sends_it_again():
    sends: list[str] = []
    store = MemoryStore(copy_data=True)
    _crash_after_the_park(sends, store, on_timeout="ask")
    with Harness([_flow(sends, on_timeout="ask")], seed=2, store=store) as restarted:
        restarted.run_until_quiescent(advance_time=False)
        assert sends == ["died"]
        restarted.advance(3600)  # the timeout: the job runs "ask" again, which sends
        restarted.run_until_quiescent(advance_time=False)
        assert sends == ["died", "exp-1/ask"]
        restarted.receive_event("exp-1/ask", "yes")
        restarted.finish()
    job = store.get("exp-1")
    assert job is not None
    assert (job.state, job.data) == (JobState.DONE, {"outcome": "settled"})


def test_a_crash_before_the_park_is_stored_reruns_the_step_and_sends_once():
    sends: list[str] = []
    with Harness([_flow(sends)], seed=3, runners=1) as h:
        sub = h.schedule("expense", {}, job_id="exp-1")
        h.crash_runner(0, point="before_save")  # its first step is "ask": its park is lost
        h.run_until_quiescent(advance_time=False)
        assert [e.action for e in h.trace if e.action == "crash"] == ["crash"]
        assert sends == ["exp-1/ask"]
        assert h.receive_event("exp-1/ask", "yes") is not None
        assert sub.result().data == {"outcome": "settled"}
    assert sends == ["exp-1/ask"]
