"""A PostgreSQL server that stops answering hangs no worker: it is an outage like another.

The server (a throwaway one of this module's own, so that freezing it stops no other
test's) is frozen with SIGSTOP, postmaster and backends, while a worker's steps are in
flight: their saves, the worker's polls and any new connection wait on a server that
neither answers nor closes anything, as behind a network that drops packets. Each
statement is bounded (a third of the lease, cut half as long again later), so the
worker reports the outage within seconds; SIGTERM ends it within a bounded time; and
once the server answers again (SIGCONT) every case ends, each step run at most twice
(once more only when its save was lost: at-least-once).
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from bounds import TIMEOUT, wait_until
from freezeflow import FLOW
from pg_outage import frozen

from actors import JobState, Mediator, enqueue
from actors.stores import open_store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LEASE = 3.0  # seconds: statements are bounded at 1 s on the server, cut at 1.5 s
REPORTED = 10.0  # seconds within which the outage must be reported
STOPPED = 20.0  # seconds within which SIGTERM must end a worker
CASES = 4
TESTS = Path(__file__).parents[1]


@pytest.fixture
def db_url(freezable_pg_server, pg_database, tmp_path, monkeypatch):
    name = f"frozen_{tmp_path.name[-20:]}".replace("-", "_").lower()
    monkeypatch.setenv("FREEZE_DIR", str(tmp_path))
    return pg_database(name, freezable_pg_server)


class _Seen(logging.Handler):
    """Sets an event when a record of the ``actors`` logger contains ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.INFO)
        self.text = text
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


def _entered(where: Path, count: int) -> None:
    wait_until(lambda: len(list(where.glob("entered-*"))) >= count, "steps to be in flight")


def _check_runs(where: Path, url: str) -> None:
    runs = Counter((where / "runs.log").read_text().splitlines())
    for i in range(CASES):  # every step ran; again only if its save was lost
        assert 1 <= runs[f"first {i}"] <= 2, runs
        assert 1 <= runs[f"second {i}"] <= 2, runs
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT state, lease_expires FROM jobs").fetchall()
    assert rows == [("done", None)] * CASES


def test_an_embedded_worker_reports_a_frozen_server_and_resumes_after_it(
    freezable_pg_server, db_url, tmp_path
):
    unreachable, reachable = _Seen("cannot be reached"), _Seen("is reachable again")
    engine_log = logging.getLogger("actors")
    level_before = engine_log.level
    engine_log.setLevel(logging.INFO)
    for handler in (unreachable, reachable):
        engine_log.addHandler(handler)
    store = open_store(db_url, commit="step")
    mediator = Mediator(
        [FLOW], runners=CASES, store=store, owner="w1", poll_interval=0.2, lease_seconds=LEASE
    )
    try:
        handles = [mediator.schedule("frozen", {"i": i}) for i in range(CASES)]
        _entered(tmp_path, CASES)
        with frozen(freezable_pg_server):
            (tmp_path / "release").touch()  # their saves wait on the frozen server
            assert unreachable.event.wait(REPORTED), "the outage was not reported"
            assert mediator.scheduler.is_alive(), "the Scheduler died of the outage"
        jobs = [handle.result(timeout=TIMEOUT) for handle in handles]
        assert reachable.event.wait(TIMEOUT)
    finally:
        (tmp_path / "release").touch()
        mediator.shutdown(drain=False)
        for handler in (unreachable, reachable):
            engine_log.removeHandler(handler)
        engine_log.setLevel(level_before)
    assert [(job.state, job.data) for job in jobs] == [
        (JobState.DONE, {"i": i, "done": True}) for i in range(CASES)
    ]
    _check_runs(tmp_path, db_url)


def test_sigterm_ends_a_worker_whose_server_is_frozen_and_nothing_is_lost(
    freezable_pg_server, db_url, tmp_path
):
    for i in range(CASES):
        enqueue(db_url, FLOW, {"i": i}, job_id=f"case-{i}")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "actors", "worker", "--store", db_url, "--workflows", "freezeflow",
         "--runners", "2", "--name", "frozen-w", "--poll-interval", "0.2",
         "--lease-seconds", str(LEASE)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in worker.stderr], daemon=True)
    reader.start()
    seen: list[str] = []

    def wait_for(text: str, within: float) -> None:
        deadline = time.monotonic() + within
        while not any(text in line for line in seen):
            left = deadline - time.monotonic()
            try:
                seen.append(lines.get(timeout=max(0.0, left)))
            except queue.Empty:
                pytest.fail(f"no {text!r} within {within}s:\n" + "".join(seen[-20:]))

    try:
        _entered(tmp_path, 2)  # both runners inside "first"
        with frozen(freezable_pg_server):
            (tmp_path / "release").touch()
            wait_for("cannot be reached", REPORTED)
            began = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            try:
                code = worker.wait(STOPPED)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the worker did not stop within {STOPPED}s of SIGTERM")
            took = time.monotonic() - began
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(TIMEOUT)
        reader.join(TIMEOUT)
        worker.stderr.close()
    while not lines.empty():
        seen.append(lines.get_nowait())
    assert code == 0, "".join(seen[-30:])
    assert took < STOPPED
    # Another worker takes the cases over once the frozen one's leases have run out.
    with Mediator(
        [FLOW], runners=2, store=db_url, owner="w2", poll_interval=0.2, lease_seconds=LEASE
    ):
        store = open_store(db_url, read_only=True)
        try:
            wait_until(
                lambda: all(
                    (job := store.get(f"case-{i}")) is not None and job.state is JobState.DONE
                    for i in range(CASES)
                ),
                "the cases to end on the other worker",
            )
        finally:
            store.close()
    _check_runs(tmp_path, db_url)


def test_listening_begun_while_the_server_is_frozen_holds_the_caller_one_bound(
    freezable_pg_server, db_url
):
    # A Scheduler begins to listen on its own thread as it starts: a server that stops
    # answering then kept it from its first poll (and from telling of the outage) until
    # the connection attempt failed, 10 s on.
    store = open_store(db_url, statement_timeout=1.0)
    try:
        with frozen(freezable_pg_server):
            began = time.monotonic()
            unwatch = store.watch(lambda: None)
            took = time.monotonic() - began
        unwatch()
    finally:
        store.close()
    assert took < 1.0 * 1.5 + 2.0, f"watch() held its caller {took:.1f}s"
