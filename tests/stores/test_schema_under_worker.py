"""A newer release migrates the store, past what this one may write, under a running worker.

The worker's next lease renewal finds the migration (marked ``breaks_older``) and the
worker stops: no step starts, nothing is saved or released, and the renewal itself is
rolled back, so its cases go to a worker of the newer release once the lease lapses.
Polls come only when the test advances the worker's virtual clock.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT

from actors import EngineStoppedError, Mediator, RequestReaction, Sequential, Workflow
from actors.stores._schema import MIGRATIONS
from actors.testing import VirtualClock

LATEST = MIGRATIONS[-1].version


def _flow(asked: threading.Event, ran: list[str]) -> Workflow:
    def first(data: dict[str, Any]) -> None:
        ran.append("first")

    def ask(data: dict[str, Any], ctx: Any) -> None:
        asked.set()

    return Workflow(
        "parked",
        start="first",
        steps=[
            Sequential("first", first, next="ask"),
            RequestReaction("ask", send=ask, on_reply=lambda d, r: None, next="last"),
            Sequential("last", lambda d: ran.append("last")),
        ],
    )


def _migrate_past(path: Path, *, breaking: bool) -> None:
    """What a newer release's ``actors db upgrade`` leaves in ``schema_version``."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO schema_version (version, description, applied_at, breaks_older) "
            "VALUES (?, 'arrivals kept elsewhere', 0, ?), (?, 'an index', 0, 0)",
            (LATEST + 1, int(breaking), LATEST + 2),
        )


def _worker(url: str, clock: VirtualClock, flow: Workflow) -> Mediator:
    return Mediator(
        [flow],
        store=url,
        owner="old",
        clock=clock,
        lease_seconds=3000.0,
        poll_interval=1000.0,  # polls only when the test advances the clock
    )


def _rows(path: Path) -> tuple[list[Any], list[Any]]:
    with sqlite3.connect(path) as conn:
        jobs = conn.execute(
            "SELECT id, state, step, lease_owner, lease_expires, updated_at FROM jobs"
        ).fetchall()
        workers = conn.execute("SELECT owner, expires FROM workers").fetchall()
    return jobs, workers


def test_a_worker_stops_at_a_breaking_migration_applied_under_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="actors")
    asked, ran = threading.Event(), []
    path = tmp_path / "jobs.db"
    clock = VirtualClock(start=time.time())
    worker = _worker(f"sqlite:///{path}", clock, _flow(asked, ran))
    try:
        handle = worker.schedule("parked", {})
        assert asked.wait(TIMEOUT)  # parked at "ask", held by this worker
        _migrate_past(path, breaking=True)
        before = _rows(path)
        clock.advance(1000.0)  # the poll: its renewal finds the migration
        assert worker.scheduler.actor_stopped.wait(TIMEOUT)
        with pytest.raises(EngineStoppedError):
            handle.result(timeout=TIMEOUT)
    finally:
        worker.shutdown(drain=False)
    # Nothing written since the migration: no save, no renewal, no release.
    assert _rows(path) == before
    (job,), (lease,) = before
    assert (job[1], job[2], job[3]) == ("waiting", "ask", "old")
    assert lease[0] == "old"
    assert ran == ["first"]
    said = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(said) == 1, [r.getMessage() for r in said]
    text = said[0].getMessage()
    assert f"migration {LATEST + 1} (arrivals kept elsewhere)" in text
    assert "this worker stops" in text


def test_a_newer_migration_that_keeps_older_writes_leaves_the_worker_running(
    tmp_path: Path,
) -> None:
    asked, ran = threading.Event(), []
    path = tmp_path / "jobs.db"
    clock = VirtualClock(start=time.time())
    worker = _worker(f"sqlite:///{path}", clock, _flow(asked, ran))
    try:
        worker.schedule("parked", {})
        assert asked.wait(TIMEOUT)
        _migrate_past(path, breaking=False)
        expires = _rows(path)[1][0][1]
        clock.advance(1000.0)
        worker.stats()  # answered after the poll
        assert worker.scheduler.is_alive()
        assert _rows(path)[1][0][1] > expires  # the lease was renewed
    finally:
        worker.shutdown(drain=False)


def test_a_postgres_worker_stops_at_a_breaking_migration(pg_database: Any) -> None:
    import psycopg

    url = pg_database("actors_schema_under_worker")
    asked, ran = threading.Event(), []
    clock = VirtualClock(start=time.time())
    worker = _worker(url, clock, _flow(asked, ran))
    try:
        handle = worker.schedule("parked", {})
        assert asked.wait(TIMEOUT)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_at, breaks_older) "
                "VALUES (%s, 'arrivals kept elsewhere', 0, 1)",
                (LATEST + 1,),
            )
            expires = conn.execute("SELECT expires FROM workers").fetchone()
        clock.advance(1000.0)
        assert worker.scheduler.actor_stopped.wait(TIMEOUT)
        with pytest.raises(EngineStoppedError):
            handle.result(timeout=TIMEOUT)
    finally:
        worker.shutdown(drain=False)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT expires FROM workers").fetchone() == expires
        row = conn.execute("SELECT state, lease_owner FROM jobs").fetchone()
    assert row == ("waiting", "old")
