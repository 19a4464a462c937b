"""End to end: a worker whose case was taken over while it stalled stops working on it.

Two Mediators share one SQLite file. Each has its own virtual clock: worker B's runs far
ahead of worker A's, so A's leases have expired as B sees them (as if A had stalled
longer than its lease). Nothing sleeps: threads meet on events, with timeouts.
"""

import contextlib
import logging
import threading
import time
from types import SimpleNamespace

import pytest
from bounds import TIMEOUT

from actors import (
    EventOutcome,
    JobState,
    LeaseLostError,
    Mediator,
    RequestReaction,
    Sequential,
    Workflow,
)
from actors.stores import open_store
from actors.testing import VirtualClock

LEASE = 10.0


def _flows():
    """``stall``: its first run blocks until released (worker A's stall); then it parks."""
    entered, release, asked = threading.Event(), threading.Event(), threading.Event()
    runs: list[str] = []
    cids: list[str] = []

    def stall(data):
        runs.append("stall")
        if len(runs) == 1:  # worker A: stalls inside the step, longer than its lease
            entered.set()
            assert release.wait(TIMEOUT)
            data["ran_by"] = "A"
        else:
            data["ran_by"] = "B"

    def ask(data, ctx):
        cids.append(ctx.correlation_id)
        asked.set()

    def confirm(data):
        runs.append("confirm")
        data["confirmed"] = True

    stalling = Workflow(
        "stalling",
        start="stall",
        steps=[
            Sequential("stall", stall, next="ask"),
            RequestReaction("ask", send=ask, on_reply=lambda d, r: d.update(answer=r), next="ok"),
            Sequential("ok", confirm),
        ],
    )
    quick = Workflow("quick", start="one", steps=[Sequential("one", lambda d: d.update(one=1))])
    return [stalling, quick], entered, release, asked, runs, cids


def _worker(path, owner, clock, flows):
    return Mediator(
        flows,
        runners=2,
        store=f"sqlite:///{path}",
        owner=owner,
        clock=clock,
        lease_seconds=LEASE,
        poll_interval=1000.0,  # polls only when a test advances the clock
    )


@contextlib.contextmanager
def _taken_over(tmp_path):
    """Worker A stalls inside "stall"; worker B takes the case over and parks it at "ask".

    B starts with a clock past A's lease, so it takes the case over at once and runs it
    from its last saved step ("stall"). A stays stalled until the test sets ``release``.
    """
    flows, entered, release, asked, runs, cids = _flows()
    path = tmp_path / "jobs.db"
    a = _worker(path, "A", VirtualClock(start=time.time()), flows)
    b = None
    try:
        handle = a.schedule("stalling", {"order": 1})
        assert entered.wait(TIMEOUT)  # A's runner is inside "stall" and stays there
        b = _worker(path, "B", VirtualClock(start=time.time() + 100 * LEASE), flows)
        assert asked.wait(TIMEOUT)
        yield SimpleNamespace(
            a=a, b=b, handle=handle, release=release, runs=runs, cids=cids, path=path
        )
    finally:
        release.set()
        a.shutdown()
        if b is not None:
            b.shutdown()


def test_a_stalled_worker_is_fenced_and_the_case_ends_as_the_new_owner_ran_it(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="actors")
    with _taken_over(tmp_path) as t:
        a, b, handle = t.a, t.b, t.handle
        store = open_store(f"sqlite:///{t.path}")
        try:
            before = store.load(handle.job_id)
            assert (before.state, before.step, before.data["ran_by"]) == (
                JobState.WAITING,
                "ask",
                "B",
            )
            t.release.set()  # A wakes up; its save after "stall" must be fenced
            with pytest.raises(LeaseLostError) as lost:
                handle.result(timeout=TIMEOUT)
            assert (lost.value.case_id, lost.value.owner) == (handle.job_id, "B")
            after = store.load(handle.job_id)
            assert (after.state, after.step, after.data) == (
                before.state,
                before.step,
                before.data,
            )
            # A keeps working: the same runners run its other cases.
            other = a.schedule("quick", {})
            assert other.result(timeout=TIMEOUT).state is JobState.DONE
            stats = a.stats()
            assert (stats.running, stats.ready, stats.waiting, stats.timers) == (0, 0, 0, 0)
            assert a.receive_event(t.cids[0], "from A") is EventOutcome.ELSEWHERE
            # B finishes the case.
            assert b.receive_event(t.cids[0], "yes") is EventOutcome.DELIVERED
            b.shutdown()  # drains: the case runs to its end
            done = store.get(handle.job_id)
            history = [step for step, _, _, _ in store.history(handle.job_id)]
        finally:
            store.close()
        assert done.state is JobState.DONE
        assert done.data == {"order": 1, "ran_by": "B", "answer": "yes", "confirmed": True}
        assert t.runs == ["stall", "stall", "confirm"]  # A's stall, B's, and B's confirm
        # B's saves only: created, after "stall", parked, released by the reply, after
        # "ok", ended. A's fenced save (after its "stall") left no row.
        assert history == ["stall", "ask", "ask", "ask", "ok", "ok"]
        assert "restarting" not in caplog.text  # no runner was restarted for the case
        assert "taken over by worker 'B'" in caplog.text


def test_the_heartbeat_drops_a_parked_case_another_worker_took(tmp_path):
    flows, _, release, asked, _, cids = _flows()
    release.set()  # no stall in this test
    path = tmp_path / "jobs.db"
    clock = VirtualClock(start=time.time())
    a = _worker(path, "A", clock, flows)
    b = None
    try:
        handle = a.schedule("stalling", {})
        assert asked.wait(TIMEOUT)  # parked at "ask" on worker A
        asked.clear()
        b = _worker(path, "B", VirtualClock(start=time.time() + 100 * LEASE), flows)
        assert a.stats().waiting == 1
        clock.advance(1000.0)  # A's poll: its heartbeat renews nothing for the case
        with pytest.raises(LeaseLostError):
            handle.result(timeout=TIMEOUT)
        assert a.stats().waiting == 0
        assert a.receive_event(cids[0], "yes") is EventOutcome.ELSEWHERE
        assert b.receive_event(cids[0], "yes") is EventOutcome.DELIVERED
        b.shutdown()
        store = open_store(f"sqlite:///{path}")
        try:
            assert store.get(handle.job_id).state is JobState.DONE
        finally:
            store.close()
    finally:
        a.shutdown()
        if b is not None:
            b.shutdown()


def test_a_stalled_worker_that_wakes_after_the_case_ended_is_fenced(tmp_path):
    with _taken_over(tmp_path) as t:
        handle = t.handle
        assert t.b.receive_event(t.cids[0], "yes") is EventOutcome.DELIVERED
        t.b.shutdown()  # B runs the case to its end (its leases end with it)
        store = open_store(f"sqlite:///{t.path}")
        try:
            ended = store.load(handle.job_id)
            assert ended.state is JobState.DONE
            t.release.set()  # only now does A wake; its save after "stall" must be fenced
            with pytest.raises(LeaseLostError) as lost:
                handle.result(timeout=TIMEOUT)
            assert (lost.value.case_id, lost.value.owner) == (handle.job_id, "B")
            after = store.load(handle.job_id)
            assert (after.state, after.step, after.data) == (ended.state, ended.step, ended.data)
            history = [step for step, _, _, _ in store.history(handle.job_id)]
        finally:
            store.close()
        assert after.data == {"order": 1, "ran_by": "B", "answer": "yes", "confirmed": True}
        assert history == ["stall", "ask", "ask", "ask", "ok", "ok"]  # B's saves only
        assert t.runs == ["stall", "stall", "confirm"]


def test_reply_to_is_told_of_a_case_another_worker_took(tmp_path):
    """Its actor heard nothing: the handle failed, the CaseFinished never came."""
    from flows import Told

    from actors.messages import CaseUnfinished, Schedule

    flows, _, release, asked, _, _ = _flows()
    release.set()
    path = tmp_path / "jobs.db"
    clock = VirtualClock(start=time.time())
    told: list[object] = []
    heard = threading.Event()
    waiter = Told.start(told, heard)
    a = _worker(path, "A", clock, flows)
    b = None
    try:
        handle = a.scheduler.ask(Schedule("stalling", {}, reply_to=waiter), timeout=TIMEOUT)
        assert asked.wait(TIMEOUT)  # parked at "ask" on worker A
        b = _worker(path, "B", VirtualClock(start=time.time() + 100 * LEASE), flows)
        clock.advance(1000.0)  # A's poll finds the case B's
        assert heard.wait(TIMEOUT)
        (message,) = told
        assert isinstance(message, CaseUnfinished)
        assert message.case_id == handle.job_id
        assert isinstance(message.error, LeaseLostError)
    finally:
        a.shutdown()
        if b is not None:
            b.shutdown()
        waiter.stop()
    assert len(told) == 1  # and nothing more when A stopped
