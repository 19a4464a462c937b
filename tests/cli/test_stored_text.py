"""Text read from a store is shown as it is: never read as rich markup or terminal codes.

Job ids, step names, errors and operators' names come from whoever wrote the store (a
task's exception quoting its input, an ``enqueue`` file): ``[/path]`` must not crash a
table as an unmatched closing tag, ``[red]`` must not vanish from the id the operator
copies, and an escape character must not reach the terminal.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT
from click.testing import CliRunner

import actors._cases
from actors import JobState, Mediator, Sequential, Wait, Workflow
from actors._cli import main

# Markup, an escape that would clear the screen, and a right-to-left override that would
# draw the rest of the line backwards.
CASE = "[red]order-1\x1b[2J\u202e"
SHOWN = "[red]order-1\\x1b[2J\\u202e"
ERROR = "[/x.csv] :thumbs_up:"  # a closing tag that matches none, and an emoji code


def _fail(data: dict) -> None:
    raise RuntimeError(ERROR)


NAP = Workflow("nap", [Wait("nap", 3600, next="read"), Sequential("read", _fail)], "nap")


def _napping(url: str) -> None:
    """Store case ``nap-1`` of ``NAP`` at ``url``, parked on its hour's wait."""
    mediator = Mediator([NAP], store=url)
    try:
        mediator.schedule("nap", {}, job_id="nap-1")
    finally:
        mediator.shutdown(drain=False)


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    # Ids with control characters are refused now; a store an earlier version wrote may
    # hold them, and the commands must still show them escaped. (The commands taking an
    # ID refuse such an id too, by the same rule: lifted here for them as well.)
    monkeypatch.setattr(actors._cases, "_CONTROL", re.compile("(?!)"))
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    flow = Workflow("import", [Sequential("read", _fail)], start="read")
    mediator = Mediator([flow, NAP], store=url)
    try:
        job = mediator.schedule("import", {}, job_id=CASE).result(timeout=TIMEOUT)
        mediator.schedule("nap", {}, job_id=f"{CASE}-nap")  # unfinished, for status
    finally:
        mediator.shutdown(drain=False)
    assert job.state is JobState.FAULTED
    return url


@pytest.mark.parametrize(
    "command",
    [
        ["jobs", "show", CASE, "--tree", "--history"],
        ["jobs", "list"],
        ["status"],
    ],
)
def test_stored_text_is_shown_literally(
    runner: CliRunner, store_url: str, command: list[str]
) -> None:
    result = runner.invoke(main, [*command, "--store", store_url], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert result.exception is None, result.exception
    assert SHOWN in result.output
    assert "\x1b" not in result.output
    assert "\u202e" not in result.output
    if command[0] != "status":  # status shows no errors
        assert ERROR in result.output


def test_an_operator_name_is_not_markup(runner: CliRunner, store_url: str) -> None:
    retried = runner.invoke(
        main, ["jobs", "retry", CASE, "--store", store_url, "--operator", "[/x]"]
    )
    assert retried.exit_code == 0, retried.output
    result = runner.invoke(
        main, ["jobs", "show", CASE, "--history", "--store", store_url], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.output
    assert "[/x]" in result.output


def test_an_operator_name_is_shown_escaped_in_the_action_line(
    runner: CliRunner, store_url: str
) -> None:
    retried = runner.invoke(
        main, ["jobs", "retry", CASE, "--store", store_url, "--operator", "ev\x1b[2Jil"]
    )
    assert retried.exit_code == 0, retried.output
    assert "by ev\\x1b[2Jil" in retried.output
    assert "\x1b" not in retried.output


@pytest.mark.parametrize(
    "command",
    [
        ["jobs", "list"],
        ["jobs", "list", "--json"],
        ["jobs", "show", "nap-1", "--tree", "--history"],
        ["jobs", "show", "nap-1", "--json"],
        ["status"],
    ],
)
def test_time_columns_edited_by_hand_are_shown_as_none(
    runner: CliRunner, tmp_path: Path, command: list[str]
) -> None:
    # SQLite keeps text in a REAL column: the commands show such a time as '-', not a
    # TypeError from comparing or formatting it.
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    _napping(url)  # case "nap-1", parked for an hour
    with sqlite3.connect(tmp_path / "jobs.db") as db:
        db.execute(
            "UPDATE jobs SET created_at = 'x', finished_at = 'y', lease_expires = 'z',"
            " lease_owner = 7 WHERE id = 'nap-1'"
        )
    result = runner.invoke(main, [*command, "--store", url], env={"COLUMNS": "300"})
    assert result.exception is None, result.exception
    assert result.exit_code == 0, result.output
    assert "nap-1" in result.output


def test_a_case_whose_lease_holds_text_can_be_cancelled(runner: CliRunner, tmp_path: Path) -> None:
    # No worker's lease is text: the case is held by nobody, and the operator's cancel
    # (the way to end a case no worker will claim) goes through instead of a TypeError.
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    _napping(url)  # case "nap-1", parked for an hour
    with sqlite3.connect(tmp_path / "jobs.db") as db:
        db.execute("UPDATE jobs SET lease_owner = 'w', lease_expires = 'z' WHERE id = 'nap-1'")
    result = runner.invoke(main, ["jobs", "cancel", "nap-1", "--store", url])
    assert result.exception is None, result.exception
    assert result.exit_code == 0, result.output
    assert "cancelled, via store" in result.output


def test_postgres_times_that_are_not_finite_are_shown_as_none(
    runner: CliRunner, pg_database: Any
) -> None:
    # A double precision column holds NaN and infinities: formatted as a date they
    # raised (ValueError, OverflowError), and an infinite lease read as held.
    import psycopg

    url = pg_database("actors_cli_times")
    _napping(url)  # case "nap-1", parked for an hour
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE jobs SET created_at = 'NaN', lease_owner = 'w',"
            " lease_expires = 'Infinity' WHERE id = 'nap-1'"
        )
    for command in (["jobs", "list"], ["jobs", "show", "nap-1", "--tree"]):
        result = runner.invoke(main, [*command, "--store", url], env={"COLUMNS": "300"})
        assert result.exception is None, result.exception
        assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["jobs", "cancel", "nap-1", "--store", url])
    assert result.exit_code == 0, result.output
    assert "cancelled, via store" in result.output
