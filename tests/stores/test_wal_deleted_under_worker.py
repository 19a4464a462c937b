"""A worker whose SQLite file's -wal was deleted under it stops, its cases kept as stored.

Its writes could never reach the file again (SQLite goes on writing to the log it has
open, where no other process reads), so it waited for ever on a store that "cannot be
reached": alive, its cases held, nothing run, while the error asked for a restart.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from bounds import TIMEOUT

from actors import EngineStoppedError, Mediator, RequestReaction, Sequential, Workflow
from actors.stores import SqliteStore
from actors.testing import VirtualClock

READ = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
print(*conn.execute("SELECT state, step FROM jobs WHERE id = 'c1'").fetchone())
print(conn.execute("SELECT count(*) FROM jobs WHERE id = 'c2'").fetchone()[0])
"""


def _flow(asked: threading.Event) -> Workflow:
    return Workflow("w", start="ask", steps=[
        RequestReaction("ask", send=lambda data, ctx: asked.set(), next="done"),
        Sequential("done", lambda data: None),
    ])  # fmt: skip


def test_the_engine_stops_at_its_next_poll_and_the_case_is_kept_as_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="actors")
    path, asked = tmp_path / "jobs.db", threading.Event()
    with Mediator([_flow(asked)], store=SqliteStore(path), owner="a") as first:
        first.schedule("w", {}, job_id="c1")
        assert asked.wait(TIMEOUT)  # parked at "ask"; the store's close checkpoints the file
    clock = VirtualClock(start=time.time())
    parked = threading.Event()
    worker = Mediator(
        [_flow(parked)],
        store=SqliteStore(path),
        owner="a",
        clock=clock,
        lease_seconds=3000.0,
        poll_interval=1000.0,  # polls only when the test advances the clock
    )
    try:
        handle = worker.schedule("w", {}, job_id="c2")  # written to the log deleted below
        assert parked.wait(TIMEOUT)  # its park stored: no write of it under way any more
        for end in ("-wal", "-shm"):
            (tmp_path / f"jobs.db{end}").unlink()
        clock.advance(1000.0)  # the poll: its renewal meets the deleted log
        assert worker.scheduler.actor_stopped.wait(TIMEOUT)
        with pytest.raises(EngineStoppedError):
            handle.result(timeout=TIMEOUT)
    finally:
        worker.shutdown(drain=False)
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(said) == 1, said
    assert "the -wal or -shm file beside" in said[0]
    assert "this worker stops" in said[0]
    # A new process (this one keeps the old log open, and SQLite's locks with it) finds
    # c1 as the file held it before: parked at "ask" (c2 was only in the deleted log).
    seen = subprocess.run(
        [sys.executable, "-c", READ, str(path)], check=True, capture_output=True, text=True
    )
    assert seen.stdout.split() == ["waiting", "ask", "0"]
