"""A SQLite file that can be read but not written: the jobs wait for the next poll.

A full disk, a read-only file or another program's long write lock fails every write at
once while reads go on working. A job whose saves were refused so must wait, as it does
when the database cannot be reached at all, to be taken back as last saved at the first
poll that finds the store writable again: taken back at once, it ran its step again and
again, hundreds of times a second, with an ERROR and a WARNING each time.

Here another connection holds the file's write lock and the store waits 50 ms for it
(``busy_timeout``), so each write fails as a full disk's does; the poll comes only when
the test advances the virtual clock.
"""

from __future__ import annotations

import logging
import sqlite3
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


@pytest.mark.parametrize("options", MODES)
def test_a_job_whose_saves_the_file_refuses_waits_for_the_next_poll(
    tmp_path, clock, caplog, options
) -> None:
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
    locker = sqlite3.connect(path, isolation_level=None)
    with Mediator(
        [flow], runners=1, store=store, clock=clock, poll_interval=POLL, owner="w1"
    ) as mediator:
        handle = mediator.schedule("w", {})
        assert entered.wait(TIMEOUT)
        locker.execute("BEGIN IMMEDIATE")  # from now on every write of the store fails
        try:
            go.set()
            # Said once the save failed; the job waits instead of running again at once.
            wait_until(
                lambda: "cannot be reached" in caplog.text or len(runs) > 2,
                "the store's failure to be noted",
            )
            assert len(runs) == 1, f"the step ran {len(runs)} times while the file refused"
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        clock.advance(POLL)  # the poll renews the lease, then takes the job back
        job = handle.result(timeout=TIMEOUT)
    assert (job.state, job.data) == (JobState.DONE, {"done": 2})
    assert "is reachable again" in caplog.text
