"""``actors jobs show``: one job's saved snapshot, as an operator reads it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until
from cli_support import UNSUPPORTED, held_flow, one_error_line
from click.testing import CliRunner
from records import record

import actors._cli as cli
from actors import JobState, Mediator, Retry, Sequential, StepContext, Workflow
from actors._cli import main
from actors._errors import JobNotFoundError
from actors._job import JobRecord
from actors._json_text import deep_json
from actors.admin import Admin
from actors.stores import Store, open_store


def test_jobs_show_prints_the_snapshot(runner: CliRunner, busy_store: Store) -> None:
    result = runner.invoke(main, ["jobs", "show", "quick-1", "--store", "memory://"])
    assert result.exit_code == 0, result.output
    fields = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.output.splitlines()
        if line.startswith("│")
    }
    assert fields["workflow"] == "quick"
    assert fields["version"] == "1"
    assert fields["state"] == "done"
    assert fields["parent"] == "-"
    assert fields["attempt"] == "1"
    data = json.loads(result.output.split("data:\n", 1)[1])
    assert data == {"n": 1, "a": True}


def test_jobs_show_a_branch_names_its_parent(runner: CliRunner, busy_store: Store) -> None:
    branch = next(j for j in busy_store.unfinished() if j.parent_id == "fan-1")
    result = runner.invoke(main, ["jobs", "show", branch.id, "--store", "m://", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["parent"] == "fan-1"
    assert shown["case"] == "fan-1"
    assert shown["branch"] == branch.branch_index
    assert shown["state"] == "waiting"
    assert shown["data"] == {"case": "fan", "note": "∑ unicode"}
    assert set(shown) == {
        "id",
        "workflow",
        "version",
        "step",
        "state",
        "case",
        "parent",
        "branch",
        "attempt",
        "error",
        "tries",
        "cancel_requested",
        "data",
    }
    assert shown["tries"] == 0


def test_jobs_show_an_unknown_id_exits_1(runner: CliRunner, busy_store: Store) -> None:
    result = runner.invoke(main, ["jobs", "show", "nope-42", "--store", "memory://"])
    line = one_error_line(result)
    assert result.exit_code == 1
    assert "no job 'nope-42'" in line


def test_jobs_show_with_a_bad_store_url(runner: CliRunner) -> None:
    result = runner.invoke(main, ["jobs", "show", "x", "--store", UNSUPPORTED])
    assert UNSUPPORTED in one_error_line(result)
    assert result.exit_code == 2


def test_json_of_data_json_cannot_encode() -> None:
    from dataclasses import dataclass

    @dataclass
    class Point:
        x: int

    text = cli._to_json({"p": Point(1), "s": {2, 1}, "state": JobState.DONE, "o": object})
    assert json.loads(text) == {"p": {"x": 1}, "s": [1, 2], "state": "done", "o": repr(object)}


def test_jobs_show_a_job_waiting_to_retry_gives_its_last_failure(
    runner: CliRunner, tmp_path, clock
) -> None:
    def call(data, ctx: StepContext):
        raise ConnectionError(f"busy {ctx.attempt}")

    flow = Workflow(
        "pickup", [Sequential("call", call, retry=Retry(attempts=3, backoff=60))], start="call"
    )
    url = f"sqlite:///{tmp_path / 'retry.db'}"
    with Mediator([flow], runners=1, store=url, clock=clock) as m:
        m.schedule("pickup", {}, job_id="pickup-1")
        wait_until(lambda: m.get_job("pickup-1").state is JobState.WAITING, "the retry's park")
    result = runner.invoke(main, ["jobs", "show", "pickup-1", "--store", url, "--tree"])
    assert result.exit_code == 0, result.output
    fields = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.output.splitlines()
        if line.startswith("│")
    }
    failure = "step 'call': ConnectionError: busy 1 (attempt 1)"
    assert fields["state"] == "waiting"
    assert fields["last failure"] == failure  # not "error": the job has not faulted
    assert "error" not in fields
    assert f"last failure: {failure}" in " ".join(result.output.split())
    shown = json.loads(
        runner.invoke(main, ["jobs", "show", "pickup-1", "--store", url, "--json"]).output
    )
    assert (shown["state"], shown["error"]) == ("waiting", failure)  # the field keeps its name


def test_jobs_show_counts_the_runs_of_a_job_whose_workers_stopped(
    runner: CliRunner, tmp_path
) -> None:
    """Each worker that took the job over from a stopped one counted a run first."""
    url = f"sqlite:///{tmp_path / 'tries.db'}"
    store = open_store(url)
    try:
        store.create(record("order-1", workflow="order", step="pack"))
        for n, now in enumerate((100.0, 200.0, 300.0)):
            store.owner = f"w{n}"
            [job] = store.claim(f"w{n}", now=now, lease_seconds=10.0, limit=10)
            if n:  # the first claim took a new case, not one a stopped worker held
                store.count_try(job)
    finally:
        store.close()
    result = runner.invoke(main, ["jobs", "show", "order-1", "--store", url])
    assert result.exit_code == 0, result.output
    fields = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.output.splitlines()
        if line.startswith("│")
    }
    assert fields["tries"].startswith("2: run 2 time(s) from its last save")
    shown = json.loads(
        runner.invoke(main, ["jobs", "show", "order-1", "--store", url, "--json"]).output
    )
    assert shown["tries"] == 2


def _no_bare_words(word: str) -> Any:
    raise AssertionError(f"not JSON: {word}")


def test_jobs_show_json_writes_floats_json_has_no_number_for_as_strings(
    runner: CliRunner, tmp_path
) -> None:
    """A task may leave NaN or an infinity in the data: --json prints strings, not bare words."""

    def measure(data):
        data["mean"] = float("nan")
        data["bounds"] = [float("-inf"), float("inf"), 1.5]

    flow = Workflow("measure", [Sequential("m", measure)], start="m")
    url = f"sqlite:///{tmp_path / 'nan.db'}"
    with Mediator([flow], runners=1, store=url) as m:
        m.schedule("measure", {}, job_id="m-1").result(timeout=10)
    args = ["jobs", "show", "m-1", "--store", url, "--json", "--tree", "--history"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output, parse_constant=_no_bare_words)
    expected = {"mean": "NaN", "bounds": ["-Infinity", "Infinity", 1.5]}
    assert shown["data"] == expected
    assert shown["tree"]["root"]["job"]["data"] == expected
    # Read by a person, the data keeps Python's words for the numbers.
    shown_text = runner.invoke(main, ["jobs", "show", "m-1", "--store", url]).output
    assert '"mean": NaN' in shown_text


def test_deep_json_writes_floats_json_has_no_number_for_as_strings() -> None:
    # The writer --json falls back to for a case tree nested past Python's stack.
    value = {"a": [float("nan"), {"b": float("-inf")}], "c": 2.5}
    text = deep_json(value, default=repr, strict=True)
    assert json.loads(text, parse_constant=_no_bare_words) == {
        "a": ["NaN", {"b": "-Infinity"}],
        "c": 2.5,
    }
    assert text == json.dumps(json.loads(text), indent=2)  # laid out as json.dumps does


def test_jobs_show_a_cancel_waiting_for_its_running_step_is_not_a_failure(
    runner: CliRunner, tmp_path
) -> None:
    """Its worker cancelled the job while its step runs: the row held "cancelled" as an error.

    The table labelled it ``last failure`` (a retry due) on a READY job; the dashboard
    already said "cancel requested". ``--json`` says so in ``cancel_requested``.
    """
    flow, started, go_on = held_flow()
    url = f"sqlite:///{tmp_path / 'held.db'}"
    worker = Mediator([flow], runners=1, store=url)
    try:
        handle = worker.schedule("held", {}, job_id="h-1")
        assert started.wait(TIMEOUT)
        worker.cancel("h-1")
        show = ["jobs", "show", "h-1", "--store", url]
        result = runner.invoke(main, show, env={"COLUMNS": "200"})
        shown = json.loads(runner.invoke(main, [*show, "--json"]).output)
        go_on.set()
        assert handle.result(timeout=TIMEOUT).state is JobState.CANCELLED
    finally:
        go_on.set()
        worker.shutdown()
    assert result.exit_code == 0, result.output
    fields = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.output.splitlines()
        if line.startswith("│")
    }
    assert "last failure" not in fields, fields
    ending = "yes: the running step ends first, then the job ends cancelled"
    assert fields["cancel requested"] == ending
    assert shown["cancel_requested"] is True
    done = json.loads(runner.invoke(main, ["jobs", "show", "h-1", "--store", url, "--json"]).output)
    assert (done["state"], done["cancel_requested"]) == ("cancelled", False)


def test_an_id_missing_for_white_space_at_an_end_names_the_id_the_store_holds(
    runner: CliRunner, tmp_path
) -> None:
    # ' j2' (pasted with its space) named no job, nor 'j2' a case a store written before
    # the id rule holds as ' j2': the message did not say why (the space hardly shows).
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = open_store(url)
    for job_id in ("j2", " k2", "m2 "):
        store.create(JobRecord(job_id, job_id, "w", 1, "a", {}))
    store.close()
    said = {}
    for asked in (" j2", "j2 ", "k2", "m2", " n2", "n2"):
        result = runner.invoke(main, ["jobs", "show", asked, "--store", url])
        assert result.exit_code == 1, (asked, result.output)
        said[asked] = one_error_line(result)
    assert "white space ' ' at the start: the store holds 'j2'" in said[" j2"]
    assert "white space ' ' at the end: the store holds 'j2'" in said["j2 "]
    assert "the store holds ' k2', with white space ' ' at the start" in said["k2"]
    assert "the store holds 'm2 ', with white space ' ' at the end" in said["m2"]
    assert "holds" not in said[" n2"] and "no white space at either end" in said[" n2"]
    assert said["n2"] == f"actors: error: no job 'n2' in {url}"
    # The API's lookups and actions say the same.
    with Admin(url) as admin:
        with pytest.raises(JobNotFoundError, match="the store holds 'j2'"):
            admin.job(" j2")
        with pytest.raises(JobNotFoundError, match="the store holds ' k2'"):
            admin.cancel("k2")
        with pytest.raises(JobNotFoundError, match="the store holds 'm2 '"):
            admin.retry("m2")
