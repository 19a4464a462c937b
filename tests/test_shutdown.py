"""Shutdown as a workflow sees it: steps that outlive the timeout, tasks that admit cases."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pykka
import pytest
from bounds import TIMEOUT, wait_until
from flows import Gate

from actors import EngineStoppedError, JobState, Mediator, Sequential, Workflow
from actors._runner import Runner
from actors.stores import open_store


@pytest.mark.parametrize("drain", [False, True])
def test_a_shutdown_timeout_returns_and_the_step_it_did_not_wait_for_runs_again(
    drain: bool, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A shutdown's timeout passes with a step still running: it returns, never raising.

    It closes the store under the step, whose save is refused quietly; the next Mediator
    runs that step again, then the rest, once.
    """
    gate = Gate()
    ran: list[str] = []

    def a(data: dict[str, Any]) -> None:
        ran.append("a")
        gate(data)

    flow = Workflow(
        "slow", [Sequential("a", a, next="b"), Sequential("b", lambda d: ran.append("b"))], "a"
    )
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    m = Mediator([flow], runners=1, store=url, owner="w")
    handle = m.schedule("slow", {}, job_id="case-1")
    assert gate.entered.wait(TIMEOUT)
    (runner,) = pykka.ActorRegistry.get_by_class(Runner)
    m.shutdown(drain=drain, timeout=0.05)  # the step is still running: not waited for
    assert "runner 0 (job case-1 at 'a') still running a step" in caplog.text
    with pytest.raises(EngineStoppedError):
        handle.result(timeout=TIMEOUT)
    gate.opened.set()
    assert runner.actor_stopped.wait(TIMEOUT)  # its save refused, it stopped
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    with Mediator([flow], runners=1, store=url, owner="w") as again:
        wait_until(lambda: again.get_job("case-1").state is JobState.DONE, "case-1 to end")
    assert ran == ["a", "a", "b"]


def _spawning(holder: dict[str, Any]) -> list[Workflow]:
    """A parent whose task, once its gate opens, schedules a child case (both in holder)."""

    def spawn(data: dict[str, Any]) -> None:
        holder["gate"](data)
        data["child"] = holder["m"].schedule("child", {"of": data["n"]}).job_id

    return [
        Workflow("parent", start="spawn", steps=[Sequential("spawn", spawn)]),
        Workflow("child", start="c", steps=[Sequential("c", lambda data: None)]),
    ]


@pytest.mark.parametrize("drain", [True, False])
def test_a_task_refused_admission_by_the_shutdown_is_not_faulted_and_runs_again(
    drain: bool, tmp_path: Any
) -> None:
    """A task that schedules a case as the engine shuts down gets ``EngineStoppedError``.

    That is the stop's doing, not the job's: the job is not faulted (it was, and stayed
    FAULTED for good); its step runs again on the next start, and the case ends.
    """
    gate = Gate()
    holder: dict[str, Any] = {"gate": gate}
    flows = _spawning(holder)
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    m = holder["m"] = Mediator(flows, runners=1, capacity=1, store=url, owner="w")
    m.schedule("parent", {"n": 1}, job_id="p1")
    assert gate.entered.wait(TIMEOUT)
    m.schedule("parent", {"n": 2}, job_id="p2")  # queued: the mailbox is full
    refused: list[BaseException] = []

    def producer() -> None:  # blocked on the full mailbox until admission closes
        try:
            m.schedule("parent", {"n": 3})
        except EngineStoppedError as exc:
            refused.append(exc)

    blocked = threading.Thread(target=producer)
    blocked.start()
    wait_until(lambda: m.stats().blocked_producers == 1, "the producer to block")
    stopper = threading.Thread(target=m.shutdown, kwargs={"drain": drain})
    stopper.start()
    blocked.join(TIMEOUT)
    assert refused  # admission is closed: now the running task schedules its child
    gate.opened.set()
    stopper.join(TIMEOUT)
    assert not stopper.is_alive()
    kept = open_store(url)
    try:
        saved = [kept.get(p) for p in ("p1", "p2")]
    finally:
        kept.close()
    assert [(j.state, j.step) for j in saved if j is not None] == [(JobState.READY, "spawn")] * 2
    holder["gate"] = Gate()  # the resumed parents wait until the holder names the new one
    with Mediator(flows, runners=1, store=url, owner="w") as again:
        holder["m"] = again
        holder["gate"].opened.set()
        wait_until(
            lambda: {again.get_job(p).state for p in ("p1", "p2")} == {JobState.DONE},
            "both parents to end",
        )
        children = [again.get_job(again.get_job(p).data["child"]) for p in ("p1", "p2")]
        wait_until(lambda: all(again.get_job(c.id).state is JobState.DONE for c in children))


def test_a_stopping_worker_keeps_its_lease_while_a_step_runs_on(tmp_path: Any) -> None:
    """A non-draining stop waits for the running step; no other worker takes its case.

    The Scheduler, whose polls renew the lease, stops first: without a renewal while the
    step ran on, another worker took the case once the lease lapsed and ran that step a
    second time beside it.
    """
    import sqlite3
    import time

    from actors._scheduler import Scheduler

    gate = Gate()
    flow = Workflow("slow", [Sequential("a", gate)], "a")
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    m = Mediator([flow], runners=1, store=url, owner="a", lease_seconds=1.0, poll_interval=0.1)
    m.schedule("slow", {}, job_id="case-1")
    assert gate.entered.wait(TIMEOUT)
    (scheduler,) = pykka.ActorRegistry.get_by_class(Scheduler)
    stopping = threading.Thread(target=m.shutdown, kwargs={"drain": False})
    stopping.start()
    try:
        assert scheduler.actor_stopped.wait(TIMEOUT)  # no poll renews the lease any more

        def expiry() -> float:
            with sqlite3.connect(tmp_path / "jobs.db") as db:
                (ends,) = db.execute("SELECT expires FROM workers WHERE owner = 'a'").fetchone()
            return float(ends)

        first = expiry()
        wait_until(lambda: time.time() > first + 0.1 and expiry() > first, "a renewal")
        other = open_store(url)
        try:
            taken = other.claim("b", time.time(), 1.0, 10, workflows=[("slow", 1)])
        finally:
            other.close()
        assert taken == []
    finally:
        gate.opened.set()
        stopping.join(TIMEOUT)
    assert not stopping.is_alive()


def test_a_job_a_non_draining_stop_leaves_mid_slice_is_stored_ready(tmp_path: Any) -> None:
    """Its saves in the slice said RUNNING: listings showed it running on a stopped worker."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    running, release = threading.Event(), threading.Event()

    def turn(data: dict[str, Any]) -> None:
        data["n"] = data.get("n", 0) + 1
        if data["n"] == 3:  # two saves of this slice are RUNNING by now
            running.set()
            assert release.wait(TIMEOUT)

    names = "abcde"
    loop = Workflow(
        "chain",
        [Sequential(n, turn, next=names[i + 1] if i < 4 else None) for i, n in enumerate(names)],
        start="a",
    )
    m = Mediator([loop], store=url, runners=1)
    handle = m.schedule("chain", {})
    assert running.wait(TIMEOUT)
    stopping = threading.Thread(target=m.shutdown, kwargs={"drain": False, "timeout": TIMEOUT})
    stopping.start()
    wait_until(lambda: m._engine.stop.requested, "the stop to be requested")
    release.set()
    stopping.join(TIMEOUT)
    assert not stopping.is_alive()
    store = open_store(url)
    try:
        job = store.get(handle.job_id)
        assert job is not None
        assert (job.state, job.step, job.data) == (JobState.READY, "d", {"n": 3})
    finally:
        store.close()
    with Mediator([loop], store=url, runners=1) as again:  # and it resumes from there
        assert again.shutdown(drain=True, timeout=TIMEOUT)
    store = open_store(url)
    try:
        job = store.get(handle.job_id)
        assert job is not None
        assert (job.state, job.data) == (JobState.DONE, {"n": 5})
    finally:
        store.close()


def test_a_shutdown_whose_lease_release_fails_still_stops_and_closes_the_store(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A store that fails as the worker stops (a database away) stops no shutdown.

    The release of the worker's cases is a courtesy to the other workers (their leases
    would lapse anyway): its failure is logged, and the store is closed all the same.
    """
    from actors import StoreError
    from actors.stores import SqliteStore

    class Away(SqliteStore):
        closed = False

        def release(self, owner: str) -> int:
            raise StoreError("sqlite: cannot release: the database is away")

        def close(self) -> None:
            self.closed = True
            super().close()

    store = Away(tmp_path / "jobs.db")
    flow = Workflow("one", start="a", steps=[Sequential("a", lambda d: d)])
    mediator = Mediator([flow], store=store, owner="w1", lease_seconds=5.0)
    assert mediator.schedule("one", {}).result(timeout=TIMEOUT).state is JobState.DONE
    with caplog.at_level(logging.WARNING, logger="actors"):
        mediator.shutdown(drain=False)  # raised the StoreError, leaving the store open
    assert store.closed
    assert "cannot release this worker's cases" in caplog.text
