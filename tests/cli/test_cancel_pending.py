"""A job cancelled while its step runs: ``jobs list`` and ``status`` say the cancel is pending.

Its worker stores the request on the row (no save of the job until the step ends), so the
job reads in its last saved state, READY here, until then.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until
from cli_support import held_flow
from click.testing import CliRunner

from actors import JobState, Mediator
from actors._cli import main


def _rows(output: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in output.splitlines()
        if line.startswith("│")
    ]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'held.db'}"
    return str(request.getfixturevalue("pg_database")("actors_cancel_pending"))


@pytest.fixture
def cancelling(store_url: str) -> Iterator[tuple[str, threading.Event]]:
    """``store_url`` holding job h-1, cancelled while its first step is held running."""
    flow, started, go_on = held_flow()
    worker = Mediator([flow], runners=1, store=store_url)
    try:
        handle = worker.schedule("held", {}, job_id="h-1")
        worker.schedule("held", {}, job_id="h-2")  # waits for the one runner, not cancelled
        assert started.wait(TIMEOUT)
        worker.cancel("h-1")
        yield store_url, go_on
        go_on.set()
        assert handle.result(timeout=TIMEOUT).state is JobState.CANCELLED
    finally:
        go_on.set()
        worker.shutdown()


def test_jobs_list_shows_a_cancel_waiting_for_the_running_step(
    runner: CliRunner, cancelling: tuple[str, threading.Event]
) -> None:
    url, _ = cancelling
    result = runner.invoke(main, ["jobs", "list", "--store", url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    states = {row[0]: row[4] for row in _rows(result.output)}
    assert states == {"h-1": "ready, cancel requested", "h-2": "ready"}
    listed = runner.invoke(main, ["jobs", "list", "--store", url, "--json"])
    flags = {item["id"]: item["cancel_requested"] for item in json.loads(listed.output)["items"]}
    assert flags == {"h-1": True, "h-2": False}


def test_status_counts_the_cancels_waiting_for_a_running_step(
    runner: CliRunner, cancelling: tuple[str, threading.Event]
) -> None:
    url, _ = cancelling
    result = runner.invoke(main, ["status", "--store", url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = _rows(result.output)
    summary = {row[0]: row[1] for row in rows if len(row) == 2}
    assert summary["cancel requested, their running step to end first"] == "1"
    unfinished = {row[0]: row[3] for row in rows if len(row) == 7}
    assert unfinished == {"h-1": "ready, cancel requested", "h-2": "ready"}
    shown = json.loads(runner.invoke(main, ["status", "--store", url, "--json"]).output)
    assert shown["summary"]["cancel_requested"] == 1
    flags = {job["id"]: job["cancel_requested"] for job in shown["unfinished"]}
    assert flags == {"h-1": True, "h-2": False}


def test_the_cancel_is_no_longer_pending_once_the_job_is_cancelled(
    runner: CliRunner, cancelling: tuple[str, threading.Event]
) -> None:
    url, go_on = cancelling
    go_on.set()
    listed: dict[str, Any] = {}

    def cancelled() -> bool:
        page = json.loads(runner.invoke(main, ["jobs", "list", "--store", url, "--json"]).output)
        listed.update((item["id"], item) for item in page["items"])
        return bool(listed["h-1"]["state"] == "cancelled")

    wait_until(cancelled, "h-1 saved cancelled")
    assert (listed["h-1"]["state"], listed["h-1"]["cancel_requested"]) == ("cancelled", False)
    shown = json.loads(runner.invoke(main, ["status", "--store", url, "--json"]).output)
    assert shown["summary"]["cancel_requested"] == 0
