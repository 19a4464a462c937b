"""A worker frozen past its lease inside a ``RequestReaction`` sends no second request.

The request goes out only once its park is stored, and a frozen worker's park is fenced:
frozen before that save, it wakes to a ``LeaseLostError`` and sends nothing; frozen in
``send`` after it, the worker that takes the case over finds it parked and sends nothing.
Either way the service gets one request. The harness's ``"stalled"`` crash point relies
on this (its guide: "Which fault finds which bug"). Two Mediators share one SQLite file;
worker B's clock runs far ahead of A's, so A's leases have expired as B sees them.
"""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until

from actors import EventOutcome, JobState, LeaseLostError, Mediator, RequestReaction, Workflow
from actors.stores import open_store
from actors.testing import VirtualClock

LEASE = 10.0


def _flow(send: Callable[[Any, Any], None]) -> Workflow:
    return Workflow("pay", start="charge", steps=[
        RequestReaction("charge", send=send, on_reply=lambda d, r: d.update(paid=r)),
    ])  # fmt: skip


def _worker(url: str, owner: str, clock: VirtualClock, flow: Workflow, **options: Any) -> Mediator:
    store = open_store(url, commit="step")
    return Mediator(
        [flow], runners=1, store=store, owner=owner, clock=clock, lease_seconds=LEASE,
        poll_interval=1000.0, **options,
    )  # fmt: skip


@contextmanager
def _b(url: str, flow: Workflow) -> Iterator[Mediator]:
    """Worker B, past A's lease: it takes A's case over as it starts."""
    b = _worker(url, "B", VirtualClock(start=time.time() + 100 * LEASE), flow)
    try:
        yield b
    finally:
        b.shutdown()


def test_frozen_before_its_park_is_stored_it_sends_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    sent: list[str] = []
    entered, release = threading.Event(), threading.Event()
    flow = _flow(lambda data, ctx: sent.append(ctx.correlation_id))
    a = _worker(url, "A", VirtualClock(start=time.time()), flow)
    save = a.store.save

    def frozen_save(job: Any) -> None:
        if job.state is JobState.WAITING and not entered.is_set():  # A parks 'charge'
            entered.set()
            assert release.wait(TIMEOUT)
        save(job)

    a.store.save = frozen_save  # type: ignore[method-assign]
    try:
        handle = a.schedule("pay", {})
        assert entered.wait(TIMEOUT)
        with _b(url, flow) as b:
            wait_until(lambda: sent, "B's request")
            release.set()  # A wakes: its park is fenced, so its request never goes out
            with pytest.raises(LeaseLostError):
                handle.result(timeout=TIMEOUT)
            assert b.receive_event(sent[0], "ok") is EventOutcome.DELIVERED
        assert sent == [f"{handle.job_id}/charge"]  # B's request alone
    finally:
        release.set()
        a.shutdown()


def test_frozen_in_send_after_its_park_is_stored_it_sends_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    sent: list[str] = []
    entered, release, done = threading.Event(), threading.Event(), threading.Event()

    def send(data: Any, ctx: Any) -> None:
        entered.set()
        assert release.wait(TIMEOUT)  # A is frozen in its call to the service
        sent.append(ctx.correlation_id)
        done.set()

    flow = _flow(send)
    a = _worker(url, "A", VirtualClock(start=time.time()), flow)
    try:
        handle = a.schedule("pay", {})
        assert entered.wait(TIMEOUT)
        entered.clear()
        with _b(url, flow) as b:
            wait_until(lambda: b.stats().waiting == 1, "B to hold the parked case")
            release.set()  # A's late call is the only one: B resumed the case parked
            assert done.wait(TIMEOUT)
            assert b.receive_event(sent[0], "ok") is EventOutcome.DELIVERED
        assert not entered.is_set()  # B never called send
        assert sent == [f"{handle.job_id}/charge"]
    finally:
        release.set()
        a.shutdown()
