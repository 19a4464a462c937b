"""``actors status`` shows the workers: live or stopped, the cases each holds, its lease's end.

On memory, SQLite and PostgreSQL: the leases are read by the store's clock (PostgreSQL's
server clock), so a lease that ended two minutes ago reads so whatever this machine's
clock says.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from click.testing import CliRunner
from records import record

import actors._cli as cli
from actors._cli import main
from actors.stores import MemoryStore, Store, open_store

KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Any, monkeypatch: Any) -> str:
    """A store where ``w-stopped`` holds 2 cases on a lease that ended 120 s ago, ``w-live`` 1.

    ``w-live``'s lease ends in 300 s.
    """
    if request.param == "memory":
        store: Store = MemoryStore()
        url = "memory://"
        monkeypatch.setattr(cli, "open_store", lambda url, **options: store)
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
        store = open_store(url)
    else:
        url = request.getfixturevalue("pg_database")("actors_cli_status_workers")
        store = open_store(url)
    for name in ("a", "b", "c"):
        store.create(record(name))
    now = time.time()
    assert len(store.claim("w-stopped", now=now - 180, lease_seconds=60.0, limit=2)) == 2
    assert len(store.claim("w-live", now=now, lease_seconds=300.0, limit=1, case_id="c")) == 1
    if request.param != "memory":
        store.close()
    return url


def _rows(output: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def test_status_lists_the_live_and_the_stopped_workers(runner: CliRunner, store_url: str) -> None:
    result = runner.invoke(main, ["status", "--store", store_url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = _rows(result.output)
    summary = {row[0]: row[1] for row in rows if len(row) == 2}
    assert summary["workers (lease live, or expired)"] == "2 (1 live, 1 stopped: lease expired)"
    assert "Workers (2 of 2, stopped first)" in result.output
    workers = [row for row in rows if len(row) == 4 and row[0].startswith("w-")]
    assert [row[:3] for row in workers] == [
        ["w-stopped", "expired: its cases wait for a takeover", "2"],
        ["w-live", "live", "1"],
    ]
    assert re.fullmatch(r"\S+Z \(ended 2 min ago\)", workers[0][3]), workers[0]
    assert re.fullmatch(r"\S+Z \(in 5 min\)", workers[1][3]), workers[1]


def test_status_json_gives_each_worker_and_how_many_more(runner: CliRunner, store_url: str) -> None:
    result = runner.invoke(main, ["status", "--store", store_url, "--json", "--workers", "1"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert facts["summary"]["workers"] == {"total": 2, "live": 1}
    workers = facts["workers"]
    assert {k: workers[k] for k in ("total", "live", "more")} == {"total": 2, "live": 1, "more": 1}
    (stopped,) = workers["listed"]
    assert {k: stopped[k] for k in ("owner", "live", "cases")} == {
        "owner": "w-stopped",
        "live": False,
        "cases": 2,
    }
    # Its cases count as unclaimed too: no live worker holds them.
    assert facts["unclaimed"] == [{"workflow": "w", "version": 1, "cases": 2}]
    # By the store's clock, as stored: 120 s before the store's now.
    assert time.time() - 130 < stopped["lease_expires"] < time.time() - 110


def test_status_says_how_many_workers_it_left_out(runner: CliRunner, store_url: str) -> None:
    result = runner.invoke(
        main, ["status", "--store", store_url, "--workers", "1"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "Workers (1 of 2, stopped first)" in result.output
    assert "1 more not listed (--workers to list more)" in result.output
    assert "w-live" not in result.output


def test_status_with_workers_0_lists_none_and_its_summary_still_counts_them(
    runner: CliRunner, store_url: str
) -> None:
    """docs/how-to/command-line.md: ``--workers`` 0 lists none, the summary still counts them."""
    result = runner.invoke(
        main, ["status", "--store", store_url, "--workers", "0"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    summary = {row[0]: row[1] for row in _rows(result.output) if len(row) == 2}
    assert summary["workers (lease live, or expired)"] == "2 (1 live, 1 stopped: lease expired)"
    assert "w-stopped" not in result.output
    assert "w-live" not in result.output
    facts = json.loads(
        runner.invoke(main, ["status", "--store", store_url, "--workers", "0", "--json"]).output
    )
    assert facts["summary"]["workers"] == {"total": 2, "live": 1}
    assert facts["workers"] == {"total": 2, "live": 1, "more": 2, "listed": []}
