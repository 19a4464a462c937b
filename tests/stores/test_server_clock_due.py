"""An operator's views show due times by the database server's clock, as workers store them.

Workers on PostgreSQL store timers and leases by the server's clock (test_server_clock.py).
From a machine whose clock was two minutes ahead, ``actors status`` gave a due time read
by that machine's clock beside one read by the server's, ``jobs show --tree`` and the
dashboard gave no "in 10 min" to go by, the dashboard told a lease as expired two minutes
longer ago than it had, and ``events send`` took an event for a job whose timeout was ten
minutes away for one that came after its timeout.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from functools import partial

import pytest
from click.testing import CliRunner
from records import record
from starlette.testclient import TestClient

from actors import JobState
from actors._cli import main
from actors._outcomes import EventOutcome
from actors.admin import Admin
from actors.stores import open_store
from actors.stores._postgres import PostgresStore
from actors.ui import create_app

pytestmark = pytest.mark.postgres

AHEAD = 120.0  # the operator's machine's clock, ahead of the server's (and the workers')
DUE_IN = 600.0  # the timer, by the server's clock

rec = partial(record, workflow="order", step="ask")


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def parked(fresh_pg_url: str) -> tuple[str, float]:
    """A store holding case ``p``, WAITING on a timer due in 10 min; and its due time."""
    worker = PostgresStore(fresh_pg_url)  # a worker whose clock agrees with the server's
    try:
        due = time.time() + DUE_IN
        worker.create(rec("p", state=JobState.WAITING, due=due))
        [(stored,)] = worker._read("SELECT due FROM jobs WHERE id = ?", ("p",), "read")
        assert stored == pytest.approx(due)
    finally:
        worker.close()
    return fresh_pg_url, due


@pytest.fixture
def ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's clock runs two minutes ahead, as every store opened from now reads."""
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + AHEAD)


def test_status_shows_due_times_by_the_servers_clock(
    parked: tuple[str, float], ahead: None
) -> None:
    url, due = parked
    runner = CliRunner()
    shown = runner.invoke(main, ["status", "--store", url], env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    assert f"1, next due {_stamp(due)} (in 10 min)" in shown.output
    [row] = [line for line in shown.output.splitlines() if line.startswith("│ p ")]
    assert f"{_stamp(due)} (in 10 min)" in row
    read = runner.invoke(main, ["status", "--store", url, "--json"])
    facts = json.loads(read.stdout)
    assert facts["summary"]["waiting_due"]["next_due"] == pytest.approx(due)
    assert facts["unfinished"][0]["due"] == pytest.approx(due)  # as stored, as next_due


def test_jobs_show_tree_says_how_far_a_due_time_is_by_the_servers_clock(
    parked: tuple[str, float], ahead: None
) -> None:
    url, due = parked
    shown = CliRunner().invoke(
        main, ["jobs", "show", "p", "--tree", "--store", url], env={"COLUMNS": "250"}
    )
    assert shown.exit_code == 0, shown.output
    assert f"due {_stamp(due)} (in 10 min)" in shown.output


def test_an_event_before_its_timeout_by_the_servers_clock_is_delivered(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = PostgresStore(fresh_pg_url)
    try:
        worker.create(rec("p", state=JobState.WAITING, due=time.time() + 60))  # in a minute
    finally:
        worker.close()
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + AHEAD)  # past it by this machine's clock
    store = open_store(fresh_pg_url)
    admin = Admin(store, operator="alice")
    try:
        assert admin.send_event("p/ask", {"ok": True}).outcome == EventOutcome.DELIVERED.value
        job = store.get("p")
        assert job is not None and job.state is JobState.READY
    finally:
        admin.close()
        store.close()


def test_an_event_after_its_timeout_by_the_servers_clock_is_late(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = PostgresStore(fresh_pg_url)
    try:
        worker.create(rec("p", state=JobState.WAITING, due=time.time() - 60))  # a minute ago
    finally:
        worker.close()
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - AHEAD)  # a machine two minutes behind
    store = open_store(fresh_pg_url)
    admin = Admin(store, operator="alice")
    try:
        assert admin.send_event("p/ask", {"ok": True}).outcome == EventOutcome.LATE.value
    finally:
        admin.close()
        store.close()


def _page(url: str, path: str) -> str:
    store = open_store(url, read_only=True)
    try:
        return TestClient(create_app(store), base_url="http://127.0.0.1:8400").get(path).text
    finally:
        store.close()


def test_the_dashboard_shows_a_due_time_by_the_servers_clock(
    parked: tuple[str, float], ahead: None
) -> None:
    url, due = parked
    page = _page(url, "/cases/p")
    shown = datetime.fromtimestamp(due, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"due {shown} (in 10 min)" in page


def test_the_dashboard_tells_an_expired_lease_by_the_servers_clock(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = PostgresStore(fresh_pg_url)
    try:
        worker.create(rec("held", step="a"))
        # Its worker's lease ran out 30 s ago, by the server's clock.
        worker.claim("w1", now=time.time() - 60, lease_seconds=30.0, limit=10)
    finally:
        worker.close()
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + AHEAD)
    overview = _page(fresh_pg_url, "/")
    assert re.search(r"w1 \(lease expired 3[01] s ago\)", overview), overview
