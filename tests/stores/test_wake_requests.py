"""An operator's action on a case a live worker holds takes effect at once, not at its poll.

``Admin`` leaves the action in the store as a request for the worker holding the case,
and wakes that worker: within one process directly, on PostgreSQL by ``NOTIFY`` from any
process. The clock is manual and the poll interval an hour: a worker polls only when
woken, so only the wake-up can carry the action out. A responder answering through
``Admin.send_event`` so gets a reply through per round trip, not one per poll.
"""

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from bounds import TIMEOUT, wait_until

from actors import JobState, Mediator, RequestReaction, Sequential, Workflow
from actors.admin import Admin
from actors.stores import open_store
from actors.stores._pg_listen import store_channel
from actors.testing import VirtualClock

HOUR = 3600.0
TESTS = Path(__file__).resolve().parents[1]

ASK = Workflow(
    "ask",
    start="ask",
    steps=[
        RequestReaction("ask", send=lambda d, ctx: None, on_reply=lambda d, r: d.update(reply=r))
    ],
)


def _worker(url: str, owner: str = "w") -> Mediator:
    clock = VirtualClock(start=time.time())
    return Mediator([ASK], runners=1, store=url, owner=owner, clock=clock, poll_interval=HOUR)


def _url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    return str(request.getfixturevalue("fresh_pg_url"))


def _asking(admin: Admin, *job_ids: str) -> None:
    wait_until(
        lambda: all(admin.job(i).state is JobState.WAITING for i in job_ids), "the cases to ask"
    )


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_admin_in_the_worker_s_process_wakes_it_for_each_event_and_cancel(
    kind, tmp_path, request
):
    url = _url(kind, tmp_path, request)
    with _worker(url) as worker:
        handles = [worker.schedule("ask", {}, job_id=f"o{n}") for n in range(3)]
        with Admin(url, operator="responder", timeout=TIMEOUT) as admin:  # a store of its own
            _asking(admin, "o0", "o1", "o2")
            for n in (0, 1):  # one after another, as a responder answering one at a time
                sent = admin.send_event(f"o{n}/ask", {"n": n})
                assert (sent.outcome, sent.via) == ("delivered", "worker w")
                assert handles[n].result(timeout=TIMEOUT).data["reply"] == {"n": n}
            cancelled = admin.cancel("o2")
            assert (cancelled.outcome, cancelled.via) == ("cancelled", "worker w")
            assert handles[2].result(timeout=TIMEOUT).state is JobState.CANCELLED


def test_a_responder_thread_answering_through_admin_is_answered_without_polls(tmp_path):
    # The user's case: the step's send hands the request to a responder in the worker's
    # process, which answers with Admin.send_event (a worker gives user code no Mediator).
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    answered: list[str] = []
    responders: list[threading.Thread] = []

    def respond(correlation_id: str) -> None:
        with Admin(url, operator="responder", timeout=TIMEOUT) as admin:
            answered.append(admin.send_event(correlation_id, "ok").outcome)

    def send(data: dict, ctx) -> None:
        responders.append(threading.Thread(target=respond, args=(ctx.correlation_id,)))
        responders[-1].start()

    flow = Workflow(
        "ask",
        start="ask",
        steps=[RequestReaction("ask", send=send, on_reply=lambda d, r: d.update(reply=r))],
    )
    clock = VirtualClock(start=time.time())
    with Mediator([flow], store=url, owner="w", clock=clock, poll_interval=HOUR) as worker:
        for n in range(5):
            job = worker.schedule("ask", {}, job_id=f"o{n}").result(timeout=TIMEOUT)
            assert job.data["reply"] == "ok"
        for responder in responders:  # each waits for the worker's word on its request
            responder.join(TIMEOUT)
    assert answered == ["delivered"] * 5


def _admin_elsewhere(url: str, *action: str) -> str:
    """Run one ``Admin`` action from another process; what it printed (outcome, via)."""
    script = (
        "import sys; from actors.admin import Admin\n"
        "with Admin(sys.argv[1], timeout=float(sys.argv[2])) as admin:\n"
        "    r = getattr(admin, sys.argv[3])(*sys.argv[4:])\n"
        "print(r.outcome, r.via)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])}
    done = subprocess.run(
        [sys.executable, "-c", script, url, str(TIMEOUT), *action],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=2 * TIMEOUT,
    )
    return done.stdout.strip()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_admin_in_another_process_wakes_the_worker(kind, tmp_path, request):
    # PostgreSQL by NOTIFY; SQLite by the worker's watcher, which sees the file change
    # and reads the new request.
    url = _url(kind, tmp_path, request)
    with _worker(url) as worker:
        asked = worker.schedule("ask", {}, job_id="o1")
        cancelled = worker.schedule("ask", {}, job_id="o2")
        with Admin(url) as admin:
            _asking(admin, "o1", "o2")
        assert _admin_elsewhere(url, "send_event", "o1/ask", "yes") == "delivered worker w"
        assert asked.result(timeout=TIMEOUT).data["reply"] == "yes"
        assert _admin_elsewhere(url, "cancel", "o2") == "cancelled worker w"
        assert cancelled.result(timeout=TIMEOUT).state is JobState.CANCELLED


def test_a_sqlite_watcher_wakes_the_worker_holding_a_new_request_s_case_alone(tmp_path):
    from actors.stores._sqlite_watch import Watcher
    from actors.stores._wake import requests_topic

    path = tmp_path / "jobs.db"
    store = open_store(f"sqlite:///{path}")
    store.close()  # the schema is in place

    def post(case_id: str, owner: str | None, *, taken: bool = False) -> None:
        with sqlite3.connect(path) as conn:  # as another process
            conn.execute(
                "INSERT INTO jobs (id, case_id, workflow, version, step, state, data, "
                "created_at, updated_at, lease_owner, lease_expires) "
                "VALUES (?, ?, 'ask', 1, 'ask', 'waiting', '{}', 0, 0, ?, ?)",
                (case_id, case_id, owner, None if owner is None else 1e10),
            )
            conn.execute(
                "INSERT INTO job_requests (case_id, job_id, kind, operator, posted_at, taken_by) "
                "VALUES (?, ?, 'cancel', 'op', 0, ?)",
                (case_id, case_id, "w" if taken else None),
            )

    watcher = Watcher(str(path), "sqlite:test-key", busy_timeout=1.0)

    def asked() -> list[str]:  # the requests' topics ("" is a free case's)
        return [topic for topic in watcher.wakes() if topic]

    try:
        watcher.serve(frozenset({"w", "v"}))
        assert asked() == []  # nothing asked yet
        post("c1", "w")
        assert asked() == [requests_topic("w")]
        assert asked() == []  # nothing written since
        with sqlite3.connect(path) as conn:  # the worker takes it
            conn.execute("UPDATE job_requests SET taken_by = 'w' WHERE case_id = 'c1'")
        assert asked() == []
        post("c2", "u")  # held by a worker of another process
        post("c3", None)  # held by nobody (Admin changes such a case itself)
        post("c4", "v", taken=True)  # taken already
        assert asked() == []
        with sqlite3.connect(path) as conn:  # a prune deletes the newest requests:
            conn.execute("DELETE FROM job_requests WHERE case_id IN ('c3', 'c4')")
        assert asked() == []
        post("c5", "v")  # its id is given again, below the last one looked at
        assert asked() == [requests_topic("v")]
    finally:
        watcher.close()


@pytest.mark.postgres
def test_a_postgres_notify_for_requests_wakes_the_named_worker_alone(fresh_pg_url):
    from actors.stores._wake import requests_topic

    store = open_store(fresh_pg_url)
    cases, mine, other = threading.Event(), threading.Event(), threading.Event()
    stops = [
        store.watch(cases.set),
        store.watch_requests("w", mine.set),
        store.watch_requests("v", other.set),
    ]  # LISTEN in place on return
    try:
        with psycopg.connect(fresh_pg_url, autocommit=True) as raw:  # as another process
            channel = store_channel(raw)
            raw.execute("SELECT pg_notify(%s, %s)", (channel, requests_topic("w")))
            assert mine.wait(TIMEOUT)
            # One listener hears them in order: the first was heard alone.
            assert not cases.is_set() and not other.is_set()
            raw.execute("SELECT pg_notify(%s, '')", (channel,))
            assert cases.wait(TIMEOUT)
            assert not other.is_set()
    finally:
        for stop in stops:
            stop()
        store.close()


@pytest.mark.postgres
def test_an_event_delivered_in_the_store_wakes_an_idle_postgres_worker_to_claim_it(
    fresh_pg_url,
):
    # The case's worker stopped and released it (nobody is woken for that); another
    # worker, idle, would claim it only at its next poll, an hour away.
    with _worker(fresh_pg_url, owner="w2") as idle:
        with _worker(fresh_pg_url, owner="w1") as first:
            first.schedule("ask", {}, job_id="o1")
            with Admin(fresh_pg_url) as admin:
                _asking(admin, "o1")
        with Admin(fresh_pg_url, timeout=TIMEOUT) as admin:
            sent = admin.send_event("o1/ask", "late but fine")
            assert (sent.outcome, sent.via) == ("delivered", "store")
            wait_until(lambda: admin.job("o1").state is JobState.DONE, "the case to end")
        assert idle.stats().done == 1


@pytest.mark.postgres
def test_a_retry_wakes_an_idle_postgres_worker_to_run_the_case_again(fresh_pg_url):
    failing = [True]

    def step(data: dict) -> None:
        if failing[0]:
            raise RuntimeError("down")
        data["ran"] = True

    flow = Workflow("flaky", start="one", steps=[Sequential("one", step)])
    clock = VirtualClock(start=time.time())
    with Mediator([flow], store=fresh_pg_url, owner="w", clock=clock, poll_interval=HOUR) as w:
        assert w.schedule("flaky", {}, job_id="f1").result(timeout=TIMEOUT).state is (
            JobState.FAULTED
        )
        failing[0] = False
        with Admin(fresh_pg_url, timeout=TIMEOUT) as admin:  # on a store of its own
            assert admin.retry("f1").outcome == "retried"
            # Nobody holds the case: the worker claims it when woken, not in an hour.
            wait_until(lambda: admin.job("f1").state is JobState.DONE, "the retried case")
