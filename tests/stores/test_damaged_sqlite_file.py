"""A worker whose SQLite file turns out damaged stops, naming it, and faults no case.

A page of ``step_history`` overwritten (a disk's bad sector, a copy taken mid-write)
made every save fail with ``database disk image is malformed``: the worker ran each
case's steps four times, then faulted it as a job whose saves always fail (90 of 200
cases in 15 s, each fault's own save failing too), and went on so. No wait mends a
damaged file: the worker now stops at its next poll, as for a -wal deleted under it,
its cases left as stored, and the error says how to check and repair the file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import pytest
from bounds import TIMEOUT

from actors import JobState, Mediator, Sequential, Workflow, enqueue
from actors.stores import SqliteStore


def _damage_history(path: Path) -> None:
    """Overwrite the page of ``step_history`` (one, in a small store) past its type byte."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'step_history'")
        page = root.fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    with path.open("r+b") as file:
        file.seek((page - 1) * size + 1)
        file.write(b"\xde\xad\xbe\xef" * (size // 4 - 1))


@pytest.mark.parametrize(
    "options", [{}, {"writer": "process"}, {"commit": "step"}], ids=["group", "process", "step"]
)
def test_a_worker_meeting_a_damaged_file_stops_and_faults_no_case(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, options: dict[str, str]
) -> None:
    caplog.set_level(logging.INFO, logger="actors")
    path = tmp_path / "jobs.db"
    runs: list[str] = []
    lock = threading.Lock()

    def work(data: dict[str, str]) -> None:
        with lock:
            runs.append(data["id"])

    flow = Workflow("w", start="work", steps=[Sequential("work", work)])
    store = SqliteStore(path)
    for case in ("c1", "c2", "c3"):
        enqueue(store, flow, {"id": case}, job_id=case)
    store.close()
    _damage_history(path)
    worker = Mediator(
        [flow],
        runners=1,
        store=SqliteStore(path, **options),
        owner="w",
        poll_interval=0.05,
        lease_seconds=1.0,
    )
    try:
        assert worker.scheduler.actor_stopped.wait(TIMEOUT)
    finally:
        worker.shutdown(drain=False)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(said) == 1, said
    assert "DatabaseError: database disk image is malformed (the file " in said[0]
    assert "is damaged: with no worker running, check it with sqlite3 " in said[0]
    assert "'PRAGMA integrity_check', and restore it from a backup" in said[0]
    assert "this worker stops" in said[0]
    assert max(runs.count(case) for case in ("c1", "c2", "c3")) == 1  # none ran again
    conn = sqlite3.connect(path)
    try:
        states = conn.execute("SELECT id, state FROM jobs ORDER BY id").fetchall()
    finally:
        conn.close()
    assert states == [(case, JobState.READY.value) for case in ("c1", "c2", "c3")]
