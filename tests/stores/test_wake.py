"""A case enqueued for a running worker starts without waiting for the worker's next poll.

The clock is manual and the poll interval an hour: the worker polls only when woken.
Within one process ``enqueue`` wakes the workers of the same database directly; on
PostgreSQL a ``NOTIFY`` also wakes workers in other processes, and on SQLite a worker's
store notices the file's ``data_version`` move and looks for a free case.
"""

import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from flows import counting_flow

from actors import JobState, Mediator, enqueue
from actors.stores import open_store
from actors.stores._sqlite_watch import Watcher
from actors.testing import VirtualClock

HOUR = 3600.0
TESTS = Path(__file__).resolve().parents[1]


def _worker(flow, url, clock):
    return Mediator([flow], runners=1, store=url, owner="w", clock=clock, poll_interval=HOUR)


def _url(kind, tmp_path, request):
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    return request.getfixturevalue("fresh_pg_url")


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_enqueue_in_the_same_process_wakes_the_worker(kind, tmp_path, request):
    flow, ran, wait_for = counting_flow()
    url = _url(kind, tmp_path, request)
    client = open_store(url)
    clock = VirtualClock(start=time.time())
    try:
        with _worker(flow, url, clock):
            first = enqueue(client, flow, {"n": 1})
            wait_for(1)  # woken: the clock has not moved, the next poll is an hour away
            clock.advance(0.01)
            second = enqueue(url, flow, {"n": 2})  # through a store of its own, too
            wait_for(2)
        assert ran == [1, 2]
        assert client.get(first).state is JobState.DONE
        assert client.get(second).state is JobState.DONE
    finally:
        client.close()


def _enqueue_elsewhere(url, n):
    """``enqueue`` one counting case from another process (no wake-up of this one's)."""
    script = (
        "from flows import counting_flow; from actors import enqueue; import sys; "
        "enqueue(sys.argv[1], counting_flow()[0], {'n': int(sys.argv[2])})"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])}
    subprocess.run([sys.executable, "-c", script, url, str(n)], env=env, check=True)


@pytest.mark.postgres
def test_enqueue_in_another_process_wakes_a_postgres_worker_by_notify(fresh_pg_url):
    flow, ran, wait_for = counting_flow()
    clock = VirtualClock(start=time.time())
    with _worker(flow, fresh_pg_url, clock):
        _enqueue_elsewhere(fresh_pg_url, 7)
        wait_for(1)  # the clock has not moved: only the NOTIFY can have woken it
    assert ran == [7]


def test_enqueue_in_another_process_wakes_a_sqlite_worker(tmp_path):
    flow, ran, wait_for = counting_flow()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    clock = VirtualClock(start=time.time())
    with _worker(flow, url, clock):
        _enqueue_elsewhere(url, 7)
        wait_for(1)  # the clock has not moved: only the file's watcher can have woken it
        _enqueue_elsewhere(url, 8)
        wait_for(2)
    assert ran == [7, 8]


def _watched(tmp_path):
    path = str(tmp_path / "jobs.db")
    open_store(f"sqlite:///{path}").close()  # the schema
    return path, Watcher(path, "sqlite:test-key", busy_timeout=1.0)


def test_a_sqlite_watcher_wakes_only_for_a_free_case_written_since_its_last_look(tmp_path):
    flow, _, _ = counting_flow()
    path, watcher = _watched(tmp_path)
    url = f"sqlite:///{path}"
    try:
        assert not watcher.look()  # the first look: no case is free
        enqueue(url, flow, {"n": 1})
        assert watcher.look()  # another connection committed, and the case is free
        assert not watcher.look()  # nothing written since
        # A write that leaves no case free: the case is taken (its lease set).
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE jobs SET lease_owner = 'w', lease_expires = 1e10")
        assert not watcher.look()
        # Released (a worker stopped and let its cases go): free again.
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE jobs SET lease_owner = NULL, lease_expires = NULL")
        assert watcher.look()
    finally:
        watcher.close()


def test_a_sqlite_watcher_wakes_at_its_start_for_a_case_free_already(tmp_path):
    # Written after a worker's start looked for cases and before its watcher's first
    # look, a case would otherwise wait for the next poll.
    flow, _, _ = counting_flow()
    path, watcher = _watched(tmp_path)
    from actors.stores import _wake

    woken = threading.Event()
    stop = _wake.watch("sqlite:test-key", woken.set)
    try:
        enqueue(f"sqlite:///{path}", flow, {"n": 1})  # nobody watches this key yet
        assert not woken.is_set()
        watcher.start()
        assert woken.is_set()  # at once, from start()
    finally:
        watcher.close()
        stop()


def test_a_sqlite_watcher_thread_wakes_the_watchers_and_stops_with_the_last_one(tmp_path):
    flow, _, _ = counting_flow()
    path = tmp_path / "jobs.db"
    url = f"sqlite:///{path}"
    enqueue(url, flow, {"n": 1})  # nobody watches yet
    with sqlite3.connect(path) as conn:  # taken by a worker of another process
        conn.execute("UPDATE jobs SET lease_owner = 'w', lease_expires = 1e10")
    store = open_store(url)
    woken = threading.Event()
    try:
        stop = store.watch(woken.set)
        other = store.watch(lambda: None)
        # That worker stops and releases its case, through a connection of its own:
        # no wake-up within this process, only the file's version moves.
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE jobs SET lease_owner = NULL, lease_expires = NULL")
        assert woken.wait(10)
        stop()
        assert any(t.name == "actors-sqlite-watch" for t in threading.enumerate())
        other()
        other()  # a second stop of the same watch changes nothing
        assert not any(t.name == "actors-sqlite-watch" for t in threading.enumerate())
    finally:
        store.close()


def test_a_stopped_worker_is_no_longer_woken(tmp_path):
    flow, ran, _ = counting_flow()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    from actors.stores import _wake

    with _worker(flow, url, VirtualClock(start=time.time())):
        assert _wake._watchers  # watching while it runs
    assert not _wake._watchers
    enqueue(url, flow, {"n": 1})  # nobody to wake: nothing raises
    assert ran == []


def test_a_sqlite_watcher_that_cannot_read_its_file_says_so_once_and_opens_it_later(
    tmp_path, caplog
):
    # The file is not there yet: the watcher warns once, retries every second, and once
    # the file holds a store it wakes the watchers of its key for a free case.
    flow, _, _ = counting_flow()
    path = tmp_path / "later.db"
    key = "sqlite:test-later"
    from actors.stores import _sqlite_watch, _wake

    woken = threading.Event()
    failed_again = threading.Event()

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno == logging.DEBUG and "watching" in record.getMessage():
                failed_again.set()  # the second failure in a row, said at DEBUG

    handler = Seen(logging.DEBUG)
    logging.getLogger("actors.stores").addHandler(handler)
    stop = _wake.watch(key, woken.set)
    watcher = _sqlite_watch.Watcher(str(path), key, busy_timeout=1.0)
    try:
        with caplog.at_level(logging.DEBUG, logger="actors.stores"):
            watcher.start()
            assert failed_again.wait(10)
            url = f"sqlite:///{path}"
            for n in range(50):  # until the watcher has opened the file and seen a commit
                enqueue(url, flow, {"n": n})
                if woken.wait(0.2):
                    break
            assert woken.is_set()
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert str(path) in warnings[0].getMessage()
    finally:
        watcher.close()
        stop()
        logging.getLogger("actors.stores").removeHandler(handler)
