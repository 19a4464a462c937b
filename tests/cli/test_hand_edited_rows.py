"""Rows edited by hand into values no save writes: the worker and the commands go on.

A version that is no integer stopped a worker at its start (and ``actors status``) with
a bare ``ValueError``; a time past the year 9999 failed ``status`` and ``jobs show``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from bounds import TIMEOUT
from click.testing import CliRunner
from records import record

from actors import JobState, Mediator, Sequential, Workflow
from actors._cli import main
from actors.admin import Admin
from actors.stores import SqliteStore

FLOW = Workflow("w", start="a", steps=[Sequential("a", lambda data: None)])
YEAR_10000 = 253402300800.0


@pytest.fixture
def path(tmp_path: Path) -> Path:
    store = SqliteStore(tmp_path / "jobs.db")
    try:
        store.create(record("bad"))
    finally:
        store.close()
    return tmp_path / "jobs.db"


def _edit(path: Path, setting: str) -> None:
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute(f"UPDATE jobs SET {setting} WHERE id = 'bad'")


@pytest.mark.parametrize("version", ["'x'", "1.5"])
def test_a_version_that_is_no_integer_stops_neither_a_worker_nor_status(path, version):
    _edit(path, f"version = {version}")
    url = f"sqlite:///{path}"
    with Mediator([FLOW], store=url) as mediator:  # its start counts the unclaimed cases
        assert mediator.schedule("w", {}).result(timeout=TIMEOUT).state is JobState.DONE
    result = CliRunner().invoke(main, ["status", "--store", url, "--json"])
    assert result.exit_code == 0, result.output
    # Counted where no worker serves it: a claim of version 1 never takes it.
    assert json.loads(result.output)["unclaimed"] == [{"workflow": "w", "version": 0, "cases": 1}]


@pytest.mark.parametrize(
    "setting",
    [
        f"state = 'waiting', due = {YEAR_10000}",
        f"lease_owner = 'ghost', lease_expires = {YEAR_10000}",
        f"created_at = {YEAR_10000}",
        "created_at = -1e300",
    ],
)
def test_status_and_jobs_show_print_a_time_no_calendar_holds(path, setting):
    _edit(path, setting)
    url = f"sqlite:///{path}"
    for args in (["status"], ["jobs", "show", "bad", "--tree"], ["jobs", "list"]):
        result = CliRunner().invoke(main, [*args, "--store", url])
        assert result.exit_code == 0, (args, result.output)
        assert "Traceback" not in result.output
    shown = CliRunner().invoke(main, ["jobs", "show", "bad", "--tree", "--store", url]).output
    if "created_at" not in setting:
        assert "253402300800.0" in shown


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("attempt = 'x'", "its attempt holds 'x'"),
        ("at = 'x'", "its at holds 'x'"),
        ("seq = 'x'", "its seq holds 'x'"),
        ("started = 'x'", "its started holds 'x'"),
        (f"at = {YEAR_10000}", "its at holds 253402300800.0"),
    ],
)
def test_a_history_row_edited_into_what_no_save_writes_is_named(path, setting, named):
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute(f"UPDATE step_history SET {setting} WHERE job_id = 'bad'")
    url = f"sqlite:///{path}"
    with Admin(url) as admin:
        [entry] = admin.history("bad")
    assert entry.kind == "unreadable"
    assert named in (entry.error or "")
    result = CliRunner().invoke(main, ["jobs", "show", "bad", "--history", "--store", url])
    assert result.exit_code == 0, result.output
    assert "unreadable" in result.output


def test_an_action_on_a_damaged_row_says_to_repair_it_not_to_import_a_module(path):
    _edit(path, "attempt = -1")
    url = f"sqlite:///{path}"
    result = CliRunner().invoke(main, ["jobs", "cancel", "bad", "--store", url])
    assert result.exit_code == 3, result.output
    assert "column attempt holds -1" in result.output
    assert "Repair the row" in result.output
    assert "dataclass" not in result.output  # no module registers what reads it


@pytest.mark.parametrize("due", ["'soon'", "x'00'"])
def test_status_names_a_waiting_job_whose_due_time_is_no_number(path, due):
    _edit(path, f"state = 'waiting', due = {due}")
    url = f"sqlite:///{path}"
    for args in (["status"], ["status", "--json"]):
        result = CliRunner().invoke(main, [*args, "--store", url])
        assert result.exit_code == 0, (args, result.output)
    shown = json.loads(result.output)
    assert shown["summary"]["waiting_due"] == {"jobs": 1, "next_due": None}
    [job] = shown["unfinished"]  # the row, shown FAULTED (jobs show says why)
    assert (job["id"], job["state"]) == ("bad", "faulted")
    shown = CliRunner().invoke(main, ["jobs", "show", "bad", "--store", url]).output
    assert "column due holds" in shown


@pytest.mark.parametrize("held", ["lease_expires = 1e300", "lease_expires = 'soon'"])
def test_a_cancel_of_a_case_whose_lease_no_worker_wrote_acts_at_once(path, held):
    _edit(path, f"lease_owner = 'ghost', {held}")
    url = f"sqlite:///{path}"
    result = CliRunner().invoke(main, ["jobs", "cancel", "bad", "--store", url, "--timeout", "0"])
    assert result.exit_code == 0, result.output
    assert "via store" in result.output
    with Admin(url) as admin:
        assert admin.job("bad").state is JobState.CANCELLED
