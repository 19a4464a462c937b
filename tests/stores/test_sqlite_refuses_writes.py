"""A SQLite file that can be read but not written: the jobs wait for the next poll.

A full disk, a read-only file or another program's long write lock fails every write at
once while reads go on working. A job whose saves were refused so must wait, as it does
when the database cannot be reached at all, to be taken back as last saved at the first
poll that finds the store writable again: taken back at once, it ran its step again and
again, hundreds of times a second, with an ERROR and a WARNING each time.

Here another connection holds the file's write lock and the store waits 50 ms for it
(``busy_timeout``), so each write fails as a full disk's does; or the file is moved
away (the store refuses to write to a file no longer at its path) and back; or no new
connection opens (a process out of file descriptors). The poll
comes only when the test advances the virtual clock.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import threading

import pytest
from bounds import TIMEOUT, wait_until

from actors import JobState, Mediator, Sequential, Workflow
from actors.stores import SqliteStore

POLL = 1.0

MODES = [
    pytest.param({"commit": "group"}, id="group-thread"),
    pytest.param({"commit": "group", "writer": "process"}, id="group-process"),
    pytest.param({"commit": "step"}, id="step"),
]


class Lock:
    """Another connection holds the file's write lock: each write fails after 50 ms."""

    def __init__(self, path):
        self._conn = sqlite3.connect(path, isolation_level=None)

    def refuse(self):
        self._conn.execute("BEGIN IMMEDIATE")

    def allow(self):
        self._conn.execute("ROLLBACK")
        self._conn.close()


class Move:
    """The file and its companions moved away, and back: each write fails at once."""

    def __init__(self, path):
        self._names = [path.name + end for end in ("", "-wal", "-shm")]
        self._here, self._away = path.parent, path.parent / "away"

    def refuse(self):
        self._away.mkdir()
        for name in self._names:
            (self._here / name).rename(self._away / name)

    def allow(self):
        for name in self._names:
            (self._away / name).rename(self._here / name)


class NoDescriptors:
    """The process has no file descriptor left: a thread's first connection fails.

    Its cases were faulted, each after four runs, as jobs whose saves always fail.
    """

    def __init__(self, path):
        self._connect = sqlite3.connect

    def refuse(self):
        def connect(*args, **kwargs):
            raise sqlite3.OperationalError("unable to open database file")  # as for EMFILE

        sqlite3.connect = connect

    def allow(self):
        sqlite3.connect = self._connect


@pytest.mark.parametrize("cause", [Lock, Move, NoDescriptors], ids=["locked", "moved", "no-fd"])
@pytest.mark.parametrize("options", MODES)
def test_a_job_whose_saves_the_file_refuses_waits_for_the_next_poll(
    tmp_path, clock, caplog, options, cause
) -> None:
    if cause is NoDescriptors and options.get("writer") == "process":
        pytest.skip("the writer process's connection is opened in that process")
    caplog.set_level(logging.INFO, logger="actors")
    path = tmp_path / "jobs.db"
    entered, go = threading.Event(), threading.Event()
    runs: list[int] = []

    def work(data):
        runs.append(1)
        entered.set()
        go.wait(TIMEOUT)
        data["done"] = len(runs)

    flow = Workflow("w", start="work", steps=[Sequential("work", work)])
    store = SqliteStore(path, busy_timeout=0.05, **options)
    refusal = cause(path)
    with Mediator(
        [flow], runners=1, store=store, clock=clock, poll_interval=POLL, owner="w1"
    ) as mediator:
        handle = mediator.schedule("w", {})
        assert entered.wait(TIMEOUT)
        refusal.refuse()  # from now on every write of the store fails
        try:
            go.set()
            # Said once the save failed; the job waits instead of running again at once.
            wait_until(
                lambda: "cannot be reached" in caplog.text or len(runs) > 2,
                "the store's failure to be noted",
            )
            assert len(runs) == 1, f"the step ran {len(runs)} times while the file refused"
        finally:
            refusal.allow()
        clock.advance(POLL)  # the poll renews the lease, then takes the job back
        job = handle.result(timeout=TIMEOUT)
    assert (job.state, job.data) == (JobState.DONE, {"done": 2})
    assert "is reachable again" in caplog.text


_OUT_OF_DESCRIPTORS = """
import os, resource, sys, threading
from actors.stores import SqliteStore

store = SqliteStore(sys.argv[1])
store.get("x")  # this thread's connection is open: the next thread's is one too many
held = len(os.listdir("/proc/self/fd")) - 1
resource.setrlimit(resource.RLIMIT_NOFILE, (held, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
errors = []

def read():
    try:
        store.get("x")
    except Exception as exc:
        errors.append(f"{type(exc).__name__} blames_job={exc.blames_job}: {exc}")

thread = threading.Thread(target=read)
thread.start()
thread.join()
print(errors)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_a_process_out_of_file_descriptors_is_named_as_such(tmp_path) -> None:
    """SQLite said only 'unable to open database file', which reads as a wrong path."""
    found = subprocess.run(
        [sys.executable, "-c", _OUT_OF_DESCRIPTORS, str(tmp_path / "jobs.db")],
        capture_output=True, text=True, timeout=TIMEOUT, check=True,
    )  # fmt: skip
    assert "StoreError blames_job=False: cannot open the SQLite store at" in found.stdout
    assert "unable to open database file (this process holds " in found.stdout
    assert "open files, at its limit of " in found.stdout
    assert "(ulimit -n): close the files it leaks, or raise the limit)" in found.stdout
