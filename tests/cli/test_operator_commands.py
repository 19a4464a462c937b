"""The operator's commands: jobs list/show/retry/cancel/prune, events send, status --json.

The cases are made by a Mediator in this process on a SQLite file; the commands open the
file as another process would. Beside a live worker, the same actions are tested through
``actors.admin`` in ``tests/stores/test_admin.py`` (SQLite and PostgreSQL).
"""

from __future__ import annotations

import io
import json
import logging
import queue
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until
from cli_support import write_module
from click.testing import CliRunner

from actors import (
    ExclusiveChoice,
    JobState,
    Mediator,
    RequestReaction,
    Sequential,
    Workflow,
    _cli_job_show,
)
from actors._cases import ID_RULE
from actors._cli import main
from actors._cli_jobs import parse_age
from actors._cli_load import load_workflows
from actors._cli_worker import _log_to_stderr
from actors.admin import ActionRefusedError, Admin

BROKEN = {"pay": True}


def pay(data: dict[str, Any]) -> None:
    if BROKEN["pay"]:
        raise RuntimeError("card declined")
    data["paid"] = True


FLOW = Workflow(
    "order",
    start="pay",
    steps=[
        Sequential("pay", pay, next="ask"),
        RequestReaction("ask", send=lambda d, ctx: None, on_reply=lambda d, r: d.update(r=r)),
    ],
)


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A store with o1 FAULTED at pay and o2 WAITING at ask; no worker holds them."""
    BROKEN["pay"] = True
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    with Mediator([FLOW], store=store) as mediator:
        assert mediator.schedule("order", {}, job_id="o1").result(timeout=TIMEOUT).state is (
            JobState.FAULTED
        )
        BROKEN["pay"] = False
        mediator.schedule("order", {}, job_id="o2")
        with Admin(store) as admin:  # parked by a runner
            wait_until(lambda: admin.job("o2").state is JobState.WAITING, "o2 to park at ask")
    return store


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"ACTORS_OPERATOR": "olga", "COLUMNS": "200"})


def test_jobs_list_filters_and_prints_json(url: str) -> None:
    result = run("jobs", "list", "--store", url, "--state", "faulted", "--json")
    assert result.exit_code == 0, result.output
    page = json.loads(result.output)
    assert [(j["id"], j["state"], j["step"]) for j in page["items"]] == [("o1", "faulted", "pay")]
    assert page["next_offset"] is None
    table = run("jobs", "list", "--store", url, "--error", "declined", "--since", "1h")
    assert table.exit_code == 0
    assert "o1" in table.output and "card declined" in table.output and "o2" not in table.output
    paged = run("jobs", "list", "--store", url, "--limit", "1")
    assert "More: --after " in paged.output and "(or --offset 1)" in paged.output
    cursor = paged.output.split("More: --after ")[1].split()[0]
    first = json.loads(run("jobs", "list", "--store", url, "--json").output)["items"]
    rest = run("jobs", "list", "--store", url, "--after", cursor, "--json")
    assert [j["id"] for j in json.loads(rest.output)["items"]] == [j["id"] for j in first[1:]]
    bad_cursor = run("jobs", "list", "--store", url, "--after", "o1")
    assert bad_cursor.exit_code == 2
    assert "--after 'o1' is not a listing cursor" in bad_cursor.stderr
    bad = run("jobs", "list", "--store", url, "--since", "yesterday")
    assert bad.exit_code == 2
    assert "--since 'yesterday' is not an age" in bad.stderr


def test_jobs_show_tree_and_history(url: str) -> None:
    result = run("jobs", "show", "o1", "--store", url, "--tree", "--history", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["tree"]["root"]["job"]["state"] == "faulted"
    assert [e["kind"] for e in shown["history"]] == ["created", "step"]
    assert shown["history"][1]["error"].endswith("card declined (attempt 1)")
    text = run(
        "jobs",
        "show",
        "o2",
        "--store",
        url,
        "--tree",
        "--history",
        "--workflows",
        "tests.cli.test_operator_commands:FLOW",
    )
    assert text.exit_code == 0, text.output
    assert "waits for an event (o2/ask)" in text.output
    assert "History of job o2" in text.output


def test_jobs_retry_then_refused_and_unknown(url: str) -> None:
    result = run("jobs", "retry", "o1", "--store", url)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "retry o1 (step 'pay'): retried, via store, by olga"
    again = run("jobs", "retry", "o1", "--store", url)
    assert again.exit_code == 3
    assert "case o1 still has unfinished jobs (o1)" in again.stderr  # retried, not yet run
    missing = run("jobs", "retry", "nope", "--store", url)
    assert missing.exit_code == 1
    assert "no job 'nope'" in missing.stderr
    reset = run("jobs", "retry", "o2", "--store", url, "--from", "pay", "--json")
    assert reset.exit_code == 3  # o2 is still waiting: its case has not ended
    with Admin(url) as admin:
        assert admin.job("o1").attempt == 2
        assert [e.worker for e in admin.history("o1") if e.kind == "action"] == ["olga"]


def test_events_send_and_jobs_cancel(url: str) -> None:
    bad = run("events", "send", "o2/ask", "--store", url, "--data", "{oops")
    assert bad.exit_code == 2
    assert "--data is not JSON" in bad.stderr
    sent = run("events", "send", "o2/ask", "--store", url, "--data", '{"ok": 1}', "--json")
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.output)["outcome"] == "delivered"
    bare = run("events", "send", "o2", "--store", url)
    assert bare.exit_code == 2  # a bad argument, as the exit-status table says
    assert "'o2' is not a correlation id: write JOB/STEP" in bare.stderr
    for shape in ("o2/ask/go/more", "o2//go", "/ask"):  # no step or event name holds "/"
        malformed = run("events", "send", shape, "--store", url)
        assert malformed.exit_code == 2, shape
        assert f"{shape!r} is not a correlation id" in malformed.stderr
    unknown = run("events", "send", "o2/nope", "--store", url)
    assert unknown.exit_code == 3
    assert "unknown" in unknown.output
    cancelled = run("jobs", "cancel", "o2", "--store", url)
    assert cancelled.exit_code == 0
    assert "cancelled, via store, by olga" in cancelled.output
    assert run("jobs", "cancel", "o2", "--store", url).output.startswith(
        "cancel o2: already_finished"
    )


def test_an_event_answered_twice_exits_3_and_a_cancel_of_an_ended_case_exits_0(url: str) -> None:
    """docs/how-to/operations.md: an event not delivered exits 3 saying why (``duplicate``).

    And ``jobs cancel`` of a case that has ended leaves it alone, with exit status 0.
    """
    assert run("events", "send", "o2/ask", "--store", url).exit_code == 0
    again = run("events", "send", "o2/ask", "--store", url, "--data", '"twice"')
    assert again.exit_code == 3, again.output
    assert again.output == "event o2 (o2/ask): duplicate, via store, by olga\n"
    ended = run("jobs", "cancel", "o1", "--store", url)  # o1 faulted
    assert ended.exit_code == 0, ended.output
    assert ended.output == "cancel o1: already_finished, via store, by olga\n"
    with Admin(url) as admin:
        assert admin.job("o1").state is JobState.FAULTED
        assert admin.job("o1").error == "step 'pay': RuntimeError: card declined (attempt 1)"


def test_events_send_without_data_sends_no_payload_and_help_says_so(url: str) -> None:
    shown = " ".join(run("events", "send", "--help").output.split())  # as wrapped
    assert "Without --data the payload is null." in shown
    assert "--data '{}' sends an empty object." in shown
    sent = run("events", "send", "o2/ask", "--store", url)
    assert sent.exit_code == 0, sent.output
    with Mediator([FLOW], store=url, poll_interval=0.02), Admin(url) as admin:
        wait_until(lambda: admin.job("o2").state is JobState.DONE, "o2 to take its reply")
        assert admin.job("o2").data == {"paid": True, "r": None}  # null, not {}


def test_jobs_prune_and_status_json(url: str) -> None:
    status = run("status", "--store", url, "--json")
    assert status.exit_code == 0, status.output
    facts = json.loads(status.output)
    assert facts["counts"]["faulted"] == 1 and facts["counts"]["waiting"] == 1
    assert [j["id"] for j in facts["unfinished"]] == ["o2"]
    kept = run("jobs", "prune", "--store", url, "--older-than", "7d")
    assert kept.output.startswith("deleted 0 case(s)")
    pruned = run("jobs", "prune", "--store", url, "--older-than", "0s", "--json")
    assert json.loads(pruned.output)["cases"] == 1  # o1 ended; o2 still waits
    assert run("jobs", "prune", "--store", url, "--older-than", "soon").exit_code == 2


def test_ages() -> None:
    assert [parse_age(a, "--x") for a in ("90", "90s", "15m", "1.5h", "7d", "2w")] == [
        90,
        90,
        900,
        5400,
        604800,
        1209600,
    ]


def test_traceback_option_shows_what_is_behind_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    (tmp_path / "broken_flows_mod.py").write_text("raise RuntimeError('config missing')\n")
    plain = CliRunner().invoke(main, ["graph", "broken_flows_mod"])
    assert plain.exit_code == 2
    assert "Traceback" not in plain.stderr
    for flag in ("--traceback", "-v"):
        shown = CliRunner().invoke(main, [flag, "graph", "broken_flows_mod"])
        assert shown.exit_code == 2
        assert "Traceback (most recent call last)" in shown.stderr
        assert 'broken_flows_mod.py", line 1' in shown.stderr
        assert shown.stderr.strip().splitlines()[-1].startswith("actors: error: importing")
    sys.modules.pop("broken_flows_mod", None)


def test_worker_logs_as_json_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    log = logging.getLogger("actors")
    with _log_to_stderr("info", "json"):
        log.info("job %s faulted", "o1", extra={"job_id": "o1", "step": "pay", "attempt": 2})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("store failed")
    first, second = (json.loads(line) for line in err.getvalue().splitlines()[:2])
    assert first["message"] == "job o1 faulted" and first["level"] == "INFO"
    assert (first["job_id"], first["step"], first["attempt"]) == ("o1", "pay", 2)
    assert first["time"].endswith("+00:00")
    assert "ValueError: boom" in second["traceback"]


def test_a_json_log_line_masks_and_escapes_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    # The text format printed the traceback masked; the JSON one formatted it again from
    # the exception, so a password the message showed as *** was in its "traceback".
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    log = logging.getLogger("actors")
    with _log_to_stderr("info", "json"):
        try:
            raise ValueError("no postgresql://app:Sup3rSecret@db/x \x1b[2J")
        except ValueError:
            log.exception("store failed")
    line = json.loads(err.getvalue().splitlines()[0])
    assert "Sup3rSecret" not in err.getvalue()
    assert "ValueError: no postgresql://app:***@db/x \\x1b[2J" in line["traceback"]


def test_events_send_fault_takes_the_fault_path_when_a_worker_resumes(url: str) -> None:
    sent = run("events", "send", "o2/ask", "--store", url, "--fault", "--data", '"lost"')
    assert sent.exit_code == 0, sent.output
    assert "(fault o2/ask): delivered, via store" in sent.output
    with Mediator([FLOW], store=url, poll_interval=0.02), Admin(url) as admin:
        wait_until(lambda: admin.job("o2").state is JobState.FAULTED, "o2 to take its fault path")
        assert "lost" in (admin.job("o2").error or "")


def test_a_case_a_live_worker_will_not_hand_over_exits_4(url: str) -> None:
    from actors.stores import open_store

    ghost = open_store(url)
    assert ghost.claim("ghost", time.time(), 60.0, 1, case_id="o2")  # alive, never polls
    busy = run("jobs", "cancel", "o2", "--store", url, "--timeout", "0.1")
    assert busy.exit_code == 4
    assert "worker 'ghost' holds case o2" in busy.stderr
    assert run("jobs", "show", "o2", "--store", url, "--json").output.count('"waiting"') == 1
    ghost.close()


def _requests(url: str) -> list[tuple[Any, ...]]:
    import sqlite3

    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        return list(db.execute("SELECT job_id, kind, taken_by, outcome FROM job_requests"))


def test_ctrl_c_while_a_worker_is_waited_for_withdraws_the_request(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "Aborted!" and status 1, the request left posted: the worker cancelled the case
    # once it polled again, after the operator had given up on it.
    from actors.stores import open_store
    from actors.stores._sql_requests import SqlRequests

    ghost = open_store(url)
    assert ghost.claim("ghost", time.time(), 60.0, 1, case_id="o2")  # alive, never polls
    monkeypatch.setattr(SqlRequests, "get_request", _interrupt)
    result = run("jobs", "cancel", "o2", "--store", url, "--timeout", "30")
    assert result.exit_code == 130, result.output
    assert result.stderr == (
        "actors: interrupted: the cancel of case o2 was withdrawn; nothing was changed\n"
    )
    assert _requests(url) == [("o2", "cancel", "", "withdrawn")]
    ghost.close()


def _interrupt(self: Any, request_id: int) -> Any:
    raise KeyboardInterrupt


def test_an_admin_closed_while_it_waits_for_a_worker_withdraws_the_request(url: str) -> None:
    # CaseBusyError said the Admin was closed; the request stayed posted for the worker.
    from actors.admin import CaseBusyError
    from actors.stores import open_store

    ghost = open_store(url)
    assert ghost.claim("ghost", time.time(), 60.0, 1, case_id="o2")
    admin = Admin(open_store(url), timeout=30)  # its store stays open once it is closed
    failed: list[BaseException] = []

    def cancel() -> None:
        try:
            admin.cancel("o2")
        except CaseBusyError as exc:
            failed.append(exc)

    waiting = threading.Thread(target=cancel)
    waiting.start()
    wait_until(lambda: len(_requests(url)) == 1, "the cancel to be posted for its holder")
    admin.close()
    waiting.join(timeout=TIMEOUT)
    assert "was withdrawn; nothing was changed" in str(failed[0])
    assert _requests(url) == [("o2", "cancel", "", "withdrawn")]
    admin.store.close()
    ghost.close()


def test_a_worker_process_logs_one_json_object_per_line(tmp_path: Path) -> None:
    import signal
    import subprocess

    (tmp_path / "json_log_flows.py").write_text(
        "from actors import Sequential, Workflow\n"
        "FLOW = Workflow('w', [Sequential('a', lambda d: None)], start='a')\n"
    )
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    command = [sys.executable, "-m", "actors", "worker", "--store", store]
    proc = subprocess.Popen(
        [*command, "--workflows", "json_log_flows", "--log-format", "json"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True)
    reader.start()
    try:
        first = json.loads(lines.get(timeout=TIMEOUT))  # the worker has started
        assert first["message"].startswith("worker started")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)
    reader.join(timeout=TIMEOUT)
    rest = [json.loads(lines.get_nowait()) for _ in range(lines.qsize())]
    proc.stderr.close()
    assert [r["message"] for r in rest][-1] == "worker stopped"
    assert all(r["level"] in ("INFO", "WARNING") for r in [first, *rest])


def test_jobs_list_keeps_long_ids_whole_on_a_narrow_terminal(tmp_path: Path) -> None:
    """An operator copies ids from the table: on 80 columns they must not fold."""
    store = f"sqlite:///{tmp_path / 'narrow.db'}"
    case = "customer-order-2026-12-05-000042"
    BROKEN["pay"] = True
    with Mediator([FLOW], store=store) as mediator:
        mediator.schedule("order", {}, job_id=case).result(timeout=TIMEOUT)
    result = CliRunner().invoke(main, ["jobs", "list", "--store", store], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(case in line for line in lines), result.output
    assert all(len(line) <= 80 for line in lines), result.output


def test_jobs_list_keeps_each_job_on_one_line_in_a_pipe(tmp_path: Path) -> None:
    """Not on a terminal (and no COLUMNS), rich folded the table at 80 columns.

    ``actors jobs list > jobs.txt`` split a workflow, a time and the next page's cursor
    over several lines, so that ``grep`` found no job whole; the history table of
    ``jobs show`` was already as wide as its longest entry there.
    """
    store = f"sqlite:///{tmp_path / 'piped.db'}"
    case = "customer-order-2026-12-05-000042"
    BROKEN["pay"] = True
    with Mediator([FLOW], store=store) as mediator:
        mediator.schedule("order", {}, job_id=case).result(timeout=TIMEOUT)
        mediator.schedule("order", {}, job_id=case + "-b").result(timeout=TIMEOUT)
    args = ["jobs", "list", "--store", store, "--limit", "1"]
    result = CliRunner().invoke(main, args, env={"COLUMNS": None})
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if case in line]
    assert len(rows) == 1, result.output
    assert "order v1" in rows[0] and "faulted" in rows[0], result.output
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rows[0]), result.output
    assert re.search(r"^More: --after \S+ \(or --offset 1\)$", result.output, re.M), result.output


STEP, WORKER = "reserve_inventory_for_order", "fulfilment-worker-7"  # names too long to fold


def _long_history(tmp_path: Path, env: dict[str, str | None]) -> Any:
    """``jobs show o1 --history`` of a case whose step and worker have long names."""
    store = f"sqlite:///{tmp_path / 'long.db'}"
    flow = Workflow("long", [Sequential(STEP, lambda d: None)], start=STEP)
    with Mediator([flow], store=store, owner=WORKER) as mediator:
        mediator.schedule("long", {}, job_id="o1").result(timeout=TIMEOUT)
    return CliRunner().invoke(main, ["jobs", "show", "o1", "--history", "--store", store], env=env)


def test_jobs_show_history_keeps_step_and_worker_names_whole_on_a_narrow_terminal(
    tmp_path: Path,
) -> None:
    """Step and worker names are copied from the history too: on 80 columns they must not fold."""
    result = _long_history(tmp_path, {"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output[result.output.index("History of job o1") :].splitlines()
    assert sum(STEP in line for line in lines) == 2, result.output  # created, and its run
    assert any(WORKER in line for line in lines), result.output
    assert all(len(line) <= 80 for line in lines), result.output


def test_jobs_show_history_keeps_each_entry_on_one_line_in_a_pipe(tmp_path: Path) -> None:
    """Not on a terminal (and no COLUMNS), rich folded at 80 columns: an entry took two lines.

    The trial's ``taken over from w2 (its lease expired)  join ... ready`` ended with its
    worker, ``by w3``, alone on the next line.
    """
    result = _long_history(tmp_path, {"COLUMNS": None})
    assert result.exit_code == 0, result.output
    lines = result.output[result.output.index("History of job o1") :].splitlines()
    entries = [line for line in lines if STEP in line]
    assert len(entries) == 2, result.output  # created, and its run
    assert all(WORKER in line for line in entries), result.output  # each whole on its line
    assert "created" in entries[0] and "done" in entries[1], result.output


def test_jobs_show_history_draws_the_most_recent_entries_of_a_long_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job that loops keeps a row per save: 20,000 of them took 13 s and 150 MiB to draw."""
    monkeypatch.setattr(_cli_job_show, "HISTORY_SHOWN", 4)
    store = f"sqlite:///{tmp_path / 'loop.db'}"
    flow = Workflow(
        "loop",
        start="turn",
        steps=[
            Sequential("turn", lambda d: d.update(n=d["n"] + 1), next="again"),
            ExclusiveChoice("again", spec=lambda d: d["n"] < 5, if_true="turn", if_false="end"),
            Sequential("end", lambda d: None),
        ],
    )
    with Mediator([flow], store=store) as mediator:
        mediator.schedule("loop", {"n": 0}, job_id="o1").result(timeout=TIMEOUT)
    with Admin(store) as admin:
        entries = admin.history("o1")
    show = ["jobs", "show", "o1", "--history", "--store", store]
    result = CliRunner().invoke(main, show, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    left_out = len(entries) - 4
    assert f"{left_out} earlier entries of job o1 not shown: the most recent 4 of" in result.output
    table = result.output[result.output.index("History of job o1") :].splitlines()
    drawn = [line for line in table if "│" in line]
    assert len(drawn) == 4, result.output
    assert "end" in drawn[-1] and "done" in drawn[-1], result.output
    every = json.loads(CliRunner().invoke(main, [*show, "--json"]).output)["history"]
    assert len(every) == len(entries) > 4


def test_prune_needs_a_unit_and_a_sane_age_and_deletes_nothing_otherwise(url: str) -> None:
    for age, why in (
        ("0", "a unit is required"),
        ("5", "a unit is required"),
        ("999999999999999w", "more than a hundred years"),
    ):
        result = run("jobs", "prune", "--store", url, "--older-than", age)
        assert result.exit_code == 2, result.output
        assert why in result.stderr and "Traceback" not in result.output
    with Admin(url) as admin:
        assert admin.job("o1").state is JobState.FAULTED  # still there


def test_commands_that_change_cases_create_no_database_at_a_mistyped_path(
    tmp_path: Path,
) -> None:
    missing = f"sqlite:///{tmp_path / 'typo.db'}"
    for args in (
        ("jobs", "prune", "--older-than", "7d"),
        ("jobs", "retry", "o1"),
        ("jobs", "cancel", "o1"),
        ("events", "send", "o2/ask", "--data", "1"),
        ("ui", "--port", "0"),  # refused before it would listen
    ):
        result = run(*args, "--store", missing)
        assert result.exit_code == 2, (args, result.output)
        assert "no SQLite database at" in result.stderr and "none is created" in result.stderr
    assert not (tmp_path / "typo.db").exists()


def test_numbers_no_store_or_clock_can_take_are_refused_in_one_line(url: str) -> None:
    refused = (
        ("jobs", "cancel", "o2", "--timeout", "nan", "--store", url),
        ("jobs", "list", "--limit", "100000000000000000000", "--store", url),
        ("jobs", "list", "--offset", "100000000000000000000", "--store", url),
        ("jobs", "list", "--version", "9223372036854775808", "--store", url),
        ("jobs", "list", "--version", "0", "--store", url),
        (
            "enqueue",
            "o",
            "--workflows",
            __name__,
            "--version",
            "-1",
            "--data",
            "{}",
            "--store",
            url,
        ),
        ("worker", "--store", url, "--workflows", __name__, "--poll-interval", "nan"),
        ("worker", "--store", url, "--workflows", __name__, "--group-wait", "nan"),
    )
    for args in refused:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output


def test_data_with_nan_or_infinity_is_refused_as_not_json(url: str, tmp_path: Path) -> None:
    one = run("enqueue", "order", "--store", url, "--workflows", __name__, "--data", "NaN")
    assert one.exit_code == 2 and "--data holds NaN, which is not JSON" in one.stderr
    lines = tmp_path / "cases.jsonl"
    lines.write_text('{"order": 1}\n{"x": Infinity}\n', encoding="utf-8")
    many = run("enqueue", "order", "--store", url, "--workflows", __name__, "--file", str(lines))
    assert many.exit_code == 2, many.output  # bad input, as --data: no longer 1
    assert f"line 2 of {str(lines)!r} holds Infinity, which is not JSON" in many.stderr
    event = run("events", "send", "o2/ask", "--data", "-Infinity", "--store", url)
    assert event.exit_code == 2 and "--data holds -Infinity, which is not JSON" in event.stderr


def test_jobs_show_with_a_bad_workflows_reference_prints_nothing_but_the_error(url: str) -> None:
    result = run("jobs", "show", "o1", "--tree", "--store", url, "--workflows", "no_such_module")
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "no_such_module" in result.stderr


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (["jobs", "show"], "ID"),
        (["jobs", "cancel"], "ID"),
        (["jobs", "retry"], "ID"),
        (["events", "send"], "CORRELATION_ID"),
    ],
)
def test_an_id_given_as_bytes_that_are_not_utf8_is_named_not_a_traceback(
    tmp_path: Path, command: list[str], name: str
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    Mediator([Workflow("w", [Sequential("a", lambda d: None)], start="a")], store=url).shutdown()
    given = b"order-\xff".decode("utf-8", "surrogateescape")  # what a shell hands Python
    result = CliRunner().invoke(main, [*command, given, "--store", url])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"actors: error: {name} is not UTF-8 text (byte 0xff at column 7)" in result.stderr


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["jobs", "retry", "f1"], "--operator"),
        (["jobs", "retry", "f1"], "--from"),
        (["jobs", "cancel", "f1"], "--operator"),
        (["events", "send", "f1/a"], "--operator"),
        (["jobs", "list"], "--workflow"),
        (["jobs", "list"], "--step"),
        (["jobs", "list"], "--error"),
        (["worker", "--workflows", "no_module_read_before"], "--name"),
        (["ui", "--host", "0.0.0.0"], "--operator"),  # before: refused for want of a token
    ],
)
def test_an_option_given_as_bytes_that_are_not_utf8_is_named_not_a_traceback(
    tmp_path: Path, command: list[str], option: str
) -> None:
    # Each reached the store as it was and failed there with a UnicodeEncodeError's
    # traceback (--name: an error naming no option).
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    flow = Workflow("w", [Sequential("a", _fail)], start="a")
    with Mediator([flow], store=url) as mediator:
        mediator.schedule("w", {}, job_id="f1").result(timeout=TIMEOUT)
    given = b"order-\xff".decode("utf-8", "surrogateescape")  # what a shell hands Python
    result = CliRunner().invoke(main, [*command, option, given, "--store", url])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"actors: error: {option} is not UTF-8 text (byte 0xff at column 7)" in result.stderr
    assert "f1" not in run("jobs", "list", "--state", "ready", "--store", url).output


def test_an_operator_name_from_the_environment_that_is_not_utf8_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    flow = Workflow("w", [Sequential("a", _fail)], start="a")
    with Mediator([flow], store=url) as mediator:
        mediator.schedule("w", {}, job_id="f1").result(timeout=TIMEOUT)
    monkeypatch.setenv("ACTORS_OPERATOR", b"al\xffce".decode("utf-8", "surrogateescape"))
    result = CliRunner().invoke(main, ["jobs", "retry", "f1", "--store", url])
    assert result.exit_code == 2, result.output
    assert "ACTORS_OPERATOR is not UTF-8 text (byte 0xff at column 3)" in result.stderr
    named = CliRunner().invoke(main, ["jobs", "retry", "f1", "--store", url, "--operator", "al"])
    assert named.exit_code == 0, named.output  # the option given, the variable is not read


def _fail(data: Any) -> None:
    raise RuntimeError("declined")


@pytest.mark.parametrize("step", ["", "pay/ship"])
def test_a_reset_to_a_step_no_workflow_can_have_is_a_bad_argument(
    tmp_path: Path, step: str
) -> None:
    # --from '' reset the job to step '' (where a worker would fault it) and reported
    # "retry f1 (step 'a'): reset", naming the step it had.
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    flow = Workflow("w", [Sequential("a", _fail)], start="a")
    with Mediator([flow], store=url) as mediator:
        mediator.schedule("w", {}, job_id="f1").result(timeout=TIMEOUT)
    result = run("jobs", "retry", "f1", "--from", step, "--store", url)
    assert result.exit_code == 2, result.output
    assert f"--from {step!r} is no step name" in result.stderr
    assert run("jobs", "show", "f1", "--json", "--store", url).output.count('"faulted"') == 1
    with Admin(url) as admin, pytest.raises(ValueError, match="is no step name"):
        admin.retry("f1", from_step=step)


def test_worker_logs_the_database_drivers_warnings_in_its_format_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    driver = logging.getLogger("psycopg.pool")
    with _log_to_stderr("info"):
        driver.warning("error connecting in %r: postgresql://app:hunter2@db/jobs", "actors-store")
        driver.debug("not shown: the driver's chatter below WARNING")
    driver.warning("after the worker: not its to print")
    lines = err.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert " WARNING psycopg.pool: error connecting in 'actors-store'" in lines[0]
    assert "hunter2" not in lines[0] and "app:***@db" in lines[0]


@pytest.mark.parametrize("command", [["jobs", "show"], ["jobs", "cancel"], ["jobs", "retry"]])
@pytest.mark.parametrize("given", ["", "a/b"])
def test_an_id_no_job_could_have_is_a_bad_argument(
    tmp_path: Path, command: list[str], given: str
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    Mediator([Workflow("w", [Sequential("a", lambda d: None)], start="a")], store=url).shutdown()
    result = CliRunner().invoke(main, [*command, given, "--store", url])
    assert result.exit_code == 2, result.output
    assert f"actors: error: ID {given!r} is not a job id" in result.stderr


@pytest.mark.parametrize("command", [["jobs", "show"], ["jobs", "cancel"], ["jobs", "retry"]])
def test_a_long_id_is_named_cut_short_and_a_bad_one_by_the_rule(
    tmp_path: Path, command: list[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    Mediator([Workflow("w", [Sequential("a", lambda d: None)], start="a")], store=url).shutdown()
    long = CliRunner().invoke(main, [*command, "x" * 5_000, "--store", url])
    assert long.exit_code == 2  # longer than any id: no job could have it
    assert "(5,000 characters)" in long.stderr and "x" * 100 not in long.stderr
    bad = CliRunner().invoke(main, [*command, "a\x00b", "--store", url])
    assert bad.exit_code == 2
    flaw = "(control character '\\x00' at position 1)"
    assert f"ID 'a\\x00b' {flaw} is not a job id (one is {ID_RULE})" in bad.stderr


# An escape that would clear the screen, the C1 CSI, a right-to-left override that would
# draw the rest of the line backwards, tab, newline, DEL, a line separator.
NO_ID_CHARACTERS = ["\x1b", "\x9b", "\u202e", "\u2066", "\t", "\n", "\x7f", "\u2028"]


@pytest.mark.parametrize("command", [["jobs", "show"], ["jobs", "cancel"], ["jobs", "retry"]])
@pytest.mark.parametrize("char", NO_ID_CHARACTERS)
def test_an_id_holding_what_no_id_holds_is_a_bad_argument_shown_escaped(
    tmp_path: Path, command: list[str], char: str
) -> None:
    """Such an id was looked up and reported as ``no job`` (exit 1), the character raw."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    Mediator([Workflow("w", [Sequential("a", lambda d: None)], start="a")], store=url).shutdown()
    given = f"nap-3{char}[2J"
    result = CliRunner().invoke(main, [*command, given, "--store", url])
    assert result.exit_code == 2, result.output
    shown = repr(char)[1:-1]
    assert result.stderr == (
        f"actors: error: ID 'nap-3{shown}[2J' (control character '{shown}' at position 5) "
        f"is not a job id (one is {ID_RULE})\n"
    )
    assert char not in result.stderr.removesuffix("\n")  # one line, the character escaped


@pytest.mark.parametrize("char", NO_ID_CHARACTERS)
def test_events_send_to_a_job_id_no_job_could_have_is_a_bad_argument(
    tmp_path: Path, char: str
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    Mediator([Workflow("w", [Sequential("a", lambda d: None)], start="a")], store=url).shutdown()
    result = CliRunner().invoke(main, ["events", "send", f"nap-3{char}/rest", "--store", url])
    assert result.exit_code == 2, result.output
    shown = repr(char)[1:-1]
    assert result.stderr == (
        f"actors: error: 'nap-3{shown}/rest' is not a correlation id: its JOB "
        f"'nap-3{shown}' (control character '{shown}' at position 5) is no job id "
        f"(one is {ID_RULE})\n"
    )
    assert char not in result.stderr.removesuffix("\n")  # one line, the character escaped
    with Admin(url) as admin, pytest.raises(ActionRefusedError, match="is no job id"):
        admin.send_event(f"nap-3{char}/rest")  # as the dashboard sends it


NAPS = """
    from actors import Sequential, Wait, Workflow

    NAP = Workflow(
        "nap",
        [Wait("rest", duration=3600, next="up"), Sequential("up", lambda d: None)],
        start="rest",
    )
"""


def test_events_send_with_workflows_refuses_an_event_the_step_does_not_wait_on(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mod = write_module(workdir, NAPS)
    flow = load_workflows(f"{mod}:NAP")[0]
    url = f"sqlite:///{workdir / 'naps.db'}"
    with Mediator([flow], store=url) as mediator:
        mediator.schedule("nap", {}, job_id="n1")
        with Admin(url) as admin:
            wait_until(lambda: admin.job("n1").state is JobState.WAITING, "n1 to park at rest")
        mediator.shutdown(drain=False)
    with Admin(url) as admin:
        due = admin.job("n1").due
    refused = run("events", "send", "n1/rest", "--store", url, "--workflows", mod, "--json")
    assert refused.exit_code == 3, refused.output
    assert json.loads(refused.output)["outcome"] == "unknown"
    # Without the workflows the event is delivered; the Wait ignores it, says so, and
    # parks again for its whole duration.
    sent = run("events", "send", "n1/rest", "--store", url)
    assert sent.exit_code == 0, sent.output
    with (
        caplog.at_level(logging.WARNING, logger="actors"),
        Mediator([flow], store=url, poll_interval=0.02),
        Admin(url) as admin,
    ):
        wait_until(
            lambda: admin.job("n1").state is JobState.WAITING and admin.job("n1").due,
            "n1 to park at rest again",
        )
        assert admin.job("n1").due > due
    assert "Wait step 'rest' takes no event, but was sent an event by hand" in caplog.text


def test_workflows_given_without_the_jobs_own_refuse_to_act_unchecked(
    url: str, workdir: Path
) -> None:
    mod = write_module(workdir, NAPS)  # "nap" only; o1 and o2 are of workflow "order"
    sent = run("events", "send", "o2/ask", "--store", url, "--workflows", mod)
    retried = run("jobs", "retry", "o1", "--store", url, "--from", "nosuch", "--workflows", mod)
    for result in (sent, retried):
        assert result.exit_code == 3, result.output  # refused, as an action a case refuses
        assert "is of workflow 'order' version 1, which is not among the workflows given " in (
            " ".join(result.output.split())
        )
        assert "'nap' version 1" in result.output
    with Admin(url) as admin:  # nothing was done
        assert admin.job("o2").state is JobState.WAITING
        assert admin.job("o1").state is JobState.FAULTED


def test_the_drivers_own_warnings_do_not_reach_stderr_bare(tmp_path, capfd):
    """A dropped connection's warning came out through Python's last-resort handler."""
    import logging

    result = CliRunner().invoke(main, ["jobs", "list", "--store", f"sqlite:///{tmp_path / 'e.db'}"])
    assert result.exit_code in (0, 2), result.output
    driver = logging.getLogger("psycopg")  # a handler of its own: no last resort
    assert any(isinstance(h, logging.NullHandler) for h in driver.handlers)
    capfd.readouterr()
    logging.getLogger("psycopg.pool").warning("discarding closed connection")
    assert "discarding closed connection" not in capfd.readouterr().err
