"""``actors status``: what a store holds, counted by state and by what it waits on."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from pathlib import Path

import pytest
from cli_support import UNSUPPORTED, one_error_line
from click.testing import CliRunner

import actors._cli as cli
import actors._cli_status_rows as status_rows
from actors import (
    JobState,
    Mediator,
    Sequential,
    StoreError,
    Workflow,
)
from actors._cli import main
from actors._job import JobRecord
from actors.stores import MemoryStore, Store, open_store


def test_status_counts_states_and_what_waits(runner: CliRunner, busy_store: Store) -> None:
    result = runner.invoke(main, ["status", "--store", "memory://"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in out.splitlines()
        if line.startswith("│")
    }
    assert rows["done"] == "1"
    assert rows["waiting"] == "5"  # pause, ask, the fan parent and its two branches
    assert rows["shed"] == "0"
    assert rows["jobs in the store"] == "6"
    assert rows["unfinished jobs"] == "5"
    assert rows["oldest unfinished job"].startswith("pause-1 (pause v1 at 'nap', waiting)")
    # The virtual clock's time, and how far from now (the store's clock) that is.
    assert re.fullmatch(
        r"3, next due 1970-01-12T13:47:10Z \(\d+\.\d d overdue\)",
        rows["waiting on a due time (wait, retry, timeout)"],
    )
    assert rows["waiting for their branches"] == "1"
    assert rows["waiting for an event, no timeout"] == "1"
    assert rows["shed (DROP_OLDEST evictions)"] == "0"
    assert "Unfinished jobs (oldest 5 of 5)" in out


def test_a_limit_past_sql_integers_is_refused_naming_its_range(
    runner: CliRunner, tmp_path: Path
) -> None:
    # It reached SQLite and came back a traceback: OverflowError (exit status 1).
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    open_store(url).close()
    result = runner.invoke(main, ["status", "--store", url, "--limit", str(2**64)])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--limit'" in one_error_line(result)
    assert runner.invoke(main, ["status", "--store", url, "--limit", str(2**62)]).exit_code == 0


def test_status_of_an_empty_store(runner: CliRunner) -> None:
    result = runner.invoke(main, ["status", "--store", "memory://", "--limit", "0"])
    assert result.exit_code == 0, result.output
    assert "unfinished jobs" in result.output
    assert "Unfinished jobs (" not in result.output


def test_status_json_of_an_empty_store_says_null_where_there_is_nothing(
    runner: CliRunner,
) -> None:
    """`oldest_unfinished`, and a time, are null when there is none (command-line guide)."""
    result = runner.invoke(main, ["status", "--store", "memory://", "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert list(facts) == ["store", "counts", "summary", "workers", "unclaimed", "unfinished"]
    assert facts["counts"] == dict.fromkeys(
        ["ready", "running", "waiting", "done", "faulted", "cancelled", "shed"], 0
    )
    assert facts["summary"] == {
        "jobs": 0,
        "workers": {"total": 0, "live": 0},
        "unfinished": 0,
        "oldest_unfinished": None,
        "waiting_due": {"jobs": 0, "next_due": None},
        "waiting_branches": 0,
        "waiting_events": 0,
        "cancel_requested": 0,
        "shed": 0,
        "orphaned": 0,
        "under_ended": 0,
    }
    assert facts["unclaimed"] == [] and facts["unfinished"] == []
    assert facts["workers"] == {"total": 0, "live": 0, "more": 0, "listed": []}


def test_status_rows_are_pluggable(
    runner: CliRunner, busy_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = status_rows.SummaryRow("expired_leases", "expired leases", 7, "7")
    rows = [*status_rows.STATUS_ROWS, lambda facts: extra, lambda facts: None]
    monkeypatch.setattr(status_rows, "STATUS_ROWS", rows)
    result = runner.invoke(main, ["status", "--store", "memory://"], env={"COLUMNS": "200"})
    assert "expired leases" in result.output
    as_json = runner.invoke(main, ["status", "--store", "memory://", "--json"])
    assert json.loads(as_json.output)["summary"]["expired_leases"] == 7


def test_status_json_summary_is_for_scripts(runner: CliRunner, busy_store: Store) -> None:
    """Keys a script can name, and numbers (not the table's labels and display text)."""
    result = runner.invoke(main, ["status", "--store", "memory://", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)["summary"]
    assert summary == {
        "jobs": 6,
        "workers": {"total": 0, "live": 0},  # a Mediator alone claims no case
        "unfinished": 5,
        "oldest_unfinished": {
            "id": "pause-1",
            "workflow": "pause",
            "version": 1,
            "step": "nap",
            "state": "waiting",
        },
        "waiting_due": {"jobs": 3, "next_due": 1000030.0},
        "waiting_branches": 1,
        "waiting_events": 1,
        "cancel_requested": 0,
        "shed": 0,
        "orphaned": 0,
        "under_ended": 0,
    }


def test_status_with_a_bad_store_url(runner: CliRunner) -> None:
    result = runner.invoke(main, ["status", "--store", UNSUPPORTED])
    assert UNSUPPORTED in one_error_line(result)
    assert result.exit_code == 2


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["jobs", "list"],
        ["jobs", "show", "j1"],
        ["jobs", "retry", "j1"],
        ["jobs", "cancel", "j1"],
        ["jobs", "prune", "--older-than", "7d"],
        ["events", "send", "j1/ask"],
        ["enqueue", "flow", "--workflows", "flows"],
        ["worker", "--workflows", "flows"],
        ["ui"],
        ["db", "upgrade"],
    ],
)
def test_a_command_without_a_store_names_both_ways_to_give_one(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.delenv("ACTORS_STORE", raising=False)
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert "Missing option '--store'" in result.stderr
    assert "ACTORS_STORE" in result.stderr  # the variable that can give it instead


def test_a_store_failing_later_is_one_line_too(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    class BrokenStore(MemoryStore):
        def counts(self) -> dict[JobState, int]:
            raise StoreError("database is locked")

    monkeypatch.setattr(cli, "open_store", lambda url: BrokenStore())
    result = runner.invoke(main, ["status", "--store", "memory://"])
    assert one_error_line(result) == "actors: error: database is locked"
    assert result.exit_code == 1


def test_store_url_from_the_environment(runner: CliRunner) -> None:
    result = runner.invoke(main, ["status"], env={"ACTORS_STORE": UNSUPPORTED})
    assert UNSUPPORTED in one_error_line(result)


def test_status_names_jobs_whose_case_root_is_gone(runner: CliRunner, tmp_path) -> None:
    """Workers claim cases by their roots: a branch left without one would wait unseen."""
    import sqlite3

    from records import saved_split

    from actors.stores import SqliteStore

    path = tmp_path / "jobs.db"
    store = SqliteStore(path)
    parent, _ = saved_split(store, 2)
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM jobs WHERE id = ?", (parent.id,))
    url = f"sqlite:///{path}"
    summary = json.loads(runner.invoke(main, ["status", "--store", url, "--json"]).output)
    assert summary["summary"]["orphaned"] == 2
    text = runner.invoke(main, ["status", "--store", url]).output
    # The cell wraps at 80 columns, where depends on the ids' length: read its words.
    words = " ".join(re.sub(r"[│┃|]", " ", text).split())
    assert "2 (no worker will run them:" in words
    assert f"{parent.id}.0," in words and f"{parent.id}.1)" in words


@pytest.mark.parametrize("command", [["status"], ["jobs", "list"], ["db", "upgrade"]])
def test_a_database_in_a_directory_it_cannot_write_is_named_so(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    # SQLite reads a WAL database with its -shm file beside it: where that cannot be
    # made (a read-only directory, here a link to nowhere as it is under root too),
    # SQLite says only "unable to open database file", which reads as a wrong path.
    path = tmp_path / "jobs.db"
    url = f"sqlite:///{path}"
    open_store(url).close()  # a WAL database, as every store leaves it
    (tmp_path / "jobs.db-shm").symlink_to(tmp_path / "no" / "such")
    writable = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: mode != os.W_OK and writable(p, mode))
    result = runner.invoke(main, [*command, "--store", url])
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert "unable to open database file" in line
    assert f"cannot create them in {str(tmp_path)!r}" in line


def test_a_new_database_in_a_directory_it_cannot_write_is_named_so(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store the command creates (demo, enqueue, worker) in a read-only directory: SQLite
    # says only "unable to open database file". Under root nothing is read-only, so the
    # file is a link to nowhere, and the directory reads as not writable.
    path = tmp_path / "jobs.db"
    path.symlink_to(tmp_path / "no" / "such")
    writable = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: mode != os.W_OK and writable(p, mode))
    result = runner.invoke(main, ["demo", "--orders", "1", "--store", f"sqlite:///{path}"])
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert "unable to open database file" in line
    assert f"this user cannot create one in {str(tmp_path)!r}" in line


def test_a_database_that_cannot_be_opened_for_another_reason_gets_no_such_hint(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "jobs.db"
    url = f"sqlite:///{path}"
    open_store(url).close()  # a WAL database, as every store leaves it
    (tmp_path / "jobs.db-shm").symlink_to(tmp_path / "no" / "such")
    result = runner.invoke(main, ["status", "--store", url])
    assert result.exit_code == 2, result.output
    assert "unable to open database file" in result.output
    assert "cannot create them" not in result.output


def test_status_keeps_each_row_on_one_line_in_a_pipe(tmp_path: Path) -> None:
    """Not on a terminal (and no COLUMNS), rich folded the summary at 80 columns."""
    from actors import Mediator, RequestReaction, Workflow

    store = f"sqlite:///{tmp_path / 'piped.db'}"
    step, case = "ask_customer_for_confirmation", "customer-order-2026-12-05-000042"
    flow = Workflow(
        "waiting_for_customer_reply",
        [RequestReaction(step, send=lambda d, c: None, on_reply=lambda d, r: None)],
        start=step,
    )
    with Mediator([flow], store=store, owner="w") as mediator:
        mediator.schedule("waiting_for_customer_reply", {}, job_id=case)
    result = CliRunner().invoke(main, ["status", "--store", store], env={"COLUMNS": None})
    assert result.exit_code == 0, result.output
    [oldest] = [line for line in result.output.splitlines() if "oldest unfinished job" in line]
    assert case in oldest and f"at '{step}', waiting" in oldest, result.output


def test_a_store_url_with_control_characters_is_shown_escaped(
    runner: CliRunner, tmp_path: Path
) -> None:
    # status printed its header "Store URL" as given: an OSC in the file's name set the
    # terminal's title and, left open, swallowed what followed (jobs list escaped it).
    name = "jobs\x1b]0;owned\x07\x1b[2J.db"
    open_store(f"sqlite:///{tmp_path / name}").close()
    url = f"sqlite:///{tmp_path / name}"
    shown = "jobs\\x1b]0;owned\\x07\\x1b[2J.db"
    for command in (["status"], ["status", "--json"], ["jobs", "list"], ["jobs", "show", "x"]):
        result = runner.invoke(main, [*command, "--store", url], env={"COLUMNS": "300"})
        said = result.output + result.stderr
        assert "\x1b" not in said and "\x07" not in said, (command, said)
        assert shown in said.replace("\\\\", "\\"), (command, said)  # in JSON too
    masked = cli.mask_url("postgresql://app:pw@db/x?application_name=\x1b[2J")
    assert masked == "postgresql://app:***@db/x?application_name=\\x1b[2J"


@pytest.mark.parametrize("columns", ["0", "abc"])
def test_a_columns_of_no_width_prints_as_if_unset(
    runner: CliRunner, busy_store: Store, columns: str
) -> None:
    # COLUMNS=0 (what some CI runners set) made rich print at a width of 0: status and
    # jobs list printed nothing, jobs show only its data, all with exit status 0.
    for command, shown in (
        (["status"], "Jobs by state"),
        (["jobs", "list"], "quick-1"),
        (["jobs", "show", "quick-1"], "workflow"),
    ):
        result = runner.invoke(main, [*command, "--store", "memory://"], env={"COLUMNS": columns})
        assert result.exit_code == 0, result.output
        assert shown in result.output, (command, result.output)
        assert max(map(len, result.output.splitlines())) > 20  # not folded a letter a line


def test_status_counts_states_as_stored_a_job_in_its_first_step_reads_ready(
    runner: CliRunner, tmp_path: Path
) -> None:
    """The counts are of the store: a job is stored after its steps, not as it starts one."""
    began, go_on = threading.Event(), threading.Event()

    def long_step(data):
        began.set()
        assert go_on.wait(30)

    flow = Workflow("long", start="long", steps=[Sequential("long", long_step)])
    url = f"sqlite:///{tmp_path / 'jobs.db'}"

    def counts() -> dict[str, int]:
        result = runner.invoke(main, ["status", "--store", url, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)["counts"]

    with Mediator([flow], runners=1, store=url) as mediator:
        handle = mediator.schedule("long", {}, job_id="long-1")
        assert began.wait(30)
        during = counts()
        go_on.set()
        assert handle.result(timeout=30).state is JobState.DONE
    assert (during["ready"], during["running"]) == (1, 0)
    assert counts()["done"] == 1


def test_status_counts_the_jobs_a_full_mailbox_shed(runner: CliRunner, tmp_path: Path) -> None:
    """The capacity guide: "``actors status`` shows how many jobs a store holds as shed"."""
    from flows import Gate

    from actors import FullMode

    gate = Gate()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    flow = Workflow("hold", [Sequential("a", gate)], "a")
    options = {"runners": 1, "capacity": 1, "full_mode": FullMode.DROP_OLDEST}
    with Mediator([flow], store=url, **options) as m:
        m.schedule("hold", {})
        assert gate.entered.wait(30)
        shed = [m.schedule("hold", {}) for _ in range(3)]  # each evicts the one before
        gate.opened.set()
        assert [h.result(timeout=30).state for h in shed] == [JobState.SHED] * 2 + [JobState.DONE]
    result = runner.invoke(main, ["status", "--store", url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.output.splitlines()
        if line.startswith("│")
    }
    assert rows["shed"] == "2"
    assert rows["shed (DROP_OLDEST evictions)"] == "2"
    as_json = runner.invoke(main, ["status", "--store", url, "--json"])
    facts = json.loads(as_json.output)
    assert facts["counts"]["shed"] == facts["summary"]["shed"] == 2, as_json.output


def test_status_says_why_each_unreadable_row_it_lists_is_faulted(
    runner: CliRunner, tmp_path: Path
) -> None:
    # An unreadable row is listed FAULTED, which jobs show explained and status did not.
    path = tmp_path / "jobs.db"
    url = f"sqlite:///{path}"
    store = open_store(url)
    store.create_many([JobRecord(f"j{n:02}", f"j{n:02}", "w", 1, "a", {}) for n in range(12)])
    store.close()
    with sqlite3.connect(path, isolation_level=None) as db:
        db.execute("UPDATE jobs SET data = 'not json{' WHERE id != 'j00'")
        db.execute("UPDATE jobs SET state = 'sleepy' WHERE id = 'j01'")
    result = runner.invoke(main, ["status", "--store", url], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    [j01] = [line for line in lines if line.startswith("  j01:")]
    assert "unknown state 'sleepy'" in j01 and "not valid JSON" in j01
    reasons = [line for line in lines if line.startswith("  j") and "not valid JSON" in line]
    assert len(reasons) == 5  # of the 11 listed: the others in one line
    assert any("6 more unreadable rows" in line and "jobs show" in line for line in lines)
    assert sum("faulted (unreadable row)" in line for line in lines) == 11
    shown = json.loads(runner.invoke(main, ["status", "--store", url, "--json"]).output)
    unread = {job["id"]: job["unreadable"] for job in shown["unfinished"]}
    assert unread["j00"] is None
    assert "not valid JSON" in unread["j02"] and "unknown state 'sleepy'" in unread["j01"]


def test_an_unreadable_row_s_problem_is_cut_at_200_characters_under_the_table() -> None:
    from actors._cli_unreadable import reason_lines

    job = JobRecord("j", "j", "w", 1, "a", {}, state=JobState.FAULTED)
    job.error = "stored job row is unreadable: " + "x" * 500
    [_, line] = reason_lines([job])
    assert line == "  j: " + "x" * 197 + "..."
