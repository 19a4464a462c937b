"""A workflow deployed again under the same version with a step of another kind.

A case parked on a ``DeferredChoice`` at step ``w`` is saved waiting on an event. When
the workflow comes back, still version 1, with ``w`` a ``Wait``, the case can never go
on: no event is taken at a Wait and the Wait's timer was never armed, so it stayed
WAITING for ever, with no word in the logs or in ``jobs show``. Resumed by a Mediator
restarted on the store, or taken over by another worker, it now faults, naming the step,
what it was saved waiting on and what the step is now. A change the saved job still
fits (another duration, a timeout added to the event it waits on) resumes as before.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until

from actors import (
    DeferredChoice,
    EventOutcome,
    JobState,
    Mediator,
    RequestReaction,
    Sequential,
    Wait,
    Workflow,
)
from actors.testing import VirtualClock

LEASE = 15.0


def choice_v1() -> Workflow:
    return Workflow("ord", start="w", version=1, steps=[
        DeferredChoice("w", events={"go": "b"}),
        Sequential("b", lambda d: d.update(b=True)),
    ])  # fmt: skip


def wait_v1_again() -> Workflow:
    return Workflow("ord", start="w", version=1, steps=[
        Wait("w", duration=1, next="b"),
        Sequential("b", lambda d: d.update(b=True)),
    ])  # fmt: skip


EXPECTED = (
    "cannot resume job c1: saved waiting on an event at step 'w', but step 'w' of workflow "
    "'ord' v1 is now a Wait, which waits on no event; change a step's kind in a new workflow "
    "version (version=2) and keep serving v1 until its cases end (if step 'w' was a Wait when "
    "the job was saved, its row's due time was emptied by hand: 'actors jobs retry c1' runs "
    "the step again)"
)


def _parked(mediator: Mediator) -> None:
    mediator.schedule("ord", {}, job_id="c1")
    wait_until(lambda: mediator.get_job("c1").state is JobState.WAITING, "the case parks")


def _faulted(mediator: Mediator) -> Any:
    wait_until(lambda: mediator.get_job("c1").state is JobState.FAULTED, "the case faults")
    return mediator.get_job("c1")


def test_a_mediator_restarted_on_the_store_faults_the_case_naming_the_change(
    make_store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_store()
    with Mediator([choice_v1()], runners=1, store=store, owner="w1") as first:
        _parked(first)
    again = store if make_store.kind == "memory" else make_store()
    with (
        caplog.at_level(logging.WARNING, logger="actors"),
        Mediator([wait_v1_again()], runners=1, store=again, owner="w1") as restarted,
    ):
        job = _faulted(restarted)
    assert (job.step, job.error) == ("w", EXPECTED)
    assert any(EXPECTED in r.getMessage() for r in caplog.records), "not logged"


def test_a_worker_taking_the_case_over_faults_it(make_sql_store: Any, monkeypatch: Any) -> None:
    start = time.time()
    first = Mediator(
        [choice_v1()], runners=1, store=make_sql_store(), owner="A", clock=VirtualClock(start),
        lease_seconds=LEASE,
    )  # fmt: skip
    _parked(first)
    monkeypatch.setattr(first.store, "release", lambda owner: None)  # a crash: leases stay
    first.shutdown()
    clock = VirtualClock(start + 1)
    with Mediator(
        [wait_v1_again()], runners=1, store=make_sql_store(), owner="B", clock=clock,
        lease_seconds=LEASE, poll_interval=1.0,
    ) as taker:  # fmt: skip
        assert taker.get_job("c1").state is JobState.WAITING  # A's lease holds it still
        clock.advance(2 * LEASE)  # A's lease expires; B's next poll takes the case over
        job = _faulted(taker)
    assert (job.step, job.error) == ("w", EXPECTED)


def test_a_change_the_parked_job_still_fits_resumes_it(make_store: Any) -> None:
    """A request with a timeout now and another reply handler: the reply still comes in."""
    asked = threading.Event()

    def flow(**extra: Any) -> Workflow:
        return Workflow("ask", start="ask", version=1, steps=[
            RequestReaction("ask", send=lambda d, ctx: asked.set(), next="b", **extra),
            Sequential("b", lambda d: d.update(b=True)),
        ])  # fmt: skip

    store = make_store()
    with Mediator([flow()], runners=1, store=store, owner="w1") as first:
        first.schedule("ask", {}, job_id="c1")
        assert asked.wait(TIMEOUT)
        wait_until(lambda: first.get_job("c1").state is JobState.WAITING, "the case parks")
    again = store if make_store.kind == "memory" else make_store()

    def on_reply(data: dict[str, Any], reply: Any) -> None:
        data["reply"] = reply

    with Mediator(
        [flow(timeout=3600.0, on_reply=on_reply)], runners=1, store=again, owner="w1"
    ) as restarted:
        assert restarted.receive_event("c1/ask", "yes") is EventOutcome.DELIVERED
        wait_until(lambda: restarted.get_job("c1").state is JobState.DONE, "the case ends")
        assert restarted.get_job("c1").data == {"reply": "yes", "b": True}
