"""``actors enqueue``: cases written into a store from a file or the command line."""

from __future__ import annotations

import json
import os
import signal
import textwrap
from pathlib import Path

import pytest
from cli_support import FLOWS, one_error_line, write_module
from click.testing import CliRunner

import actors._cli as cli
from actors import (
    JobState,
)
from actors._cli import main
from actors.stores import MemoryStore, open_store


def test_enqueue_writes_cases_from_a_file_in_batches(runner: CliRunner, workdir: Path) -> None:
    mod = write_module(workdir, FLOWS)
    url = f"sqlite:///{workdir / 'cases.db'}"
    lines = [json.dumps({"order": n}) for n in range(7)]
    (workdir / "cases.jsonl").write_text("\n".join([*lines[:3], "", *lines[3:]]) + "\n")
    args = ["enqueue", "first", "--store", url, "--workflows", mod, "--file", "cases.jsonl"]
    result = runner.invoke(main, [*args, "--batch", "3", "--id-field", "order"])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(n) for n in range(7)]
    store = open_store(url)
    try:
        jobs = [store.get(str(n)) for n in range(7)]
        assert [(j.workflow, j.step, j.state, j.data) for j in jobs] == [
            ("first", "a", JobState.READY, {"order": n}) for n in range(7)
        ]
        # Again: the first batch's ids exist, so that batch is refused whole, by name.
        again = runner.invoke(main, [*args, "--batch", "3", "--id-field", "order"])
        line = one_error_line(again)
        assert "already exist" in line and "(lines 1 to 3); nothing was written" in line
        assert again.exit_code == 1  # the input is fine; the store holds those cases already
        assert store.counts()[JobState.READY] == 7
    finally:
        store.close()


def test_enqueue_one_case_from_data_picks_the_workflow_by_name(
    runner: CliRunner, workdir: Path
) -> None:
    mod = write_module(workdir, FLOWS)
    store = MemoryStore()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "open_store", lambda url: store)
        result = runner.invoke(
            main,
            [
                *("enqueue", "second", "--store", "m://", "--workflows", f"{mod}:BOTH"),
                *("--data", '{"x": 1}', "--id", "case-9"),
            ],
        )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "case-9"
    job = store.get("case-9")
    assert (job.workflow, job.version, job.step, job.data) == ("second", 2, "b", {"x": 1})


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ([], "give either --data (one case) or --file"),
        (["--data", "{}", "--file", "-"], "give either --data (one case) or --file"),
        (["--data", "{oops"], "--data is not JSON"),
        (["--data", "{}", "--id-field", "k"], "--id-field names each case of --file"),
        (["--file", "-", "--id", "k"], "--id names the one case of --data"),
        (["--data", "{}", "--version", "7"], "no workflow 'first' version 7 in"),
    ],
)
def test_enqueue_refuses_bad_arguments_in_one_line(
    runner: CliRunner, workdir: Path, extra: list[str], needle: str
) -> None:
    mod = write_module(workdir, FLOWS)
    args = ["enqueue", "first", "--store", "sqlite:///cases.db", "--workflows", mod, *extra]
    line = one_error_line(runner.invoke(main, args, input=""))
    assert needle in line


def test_enqueue_names_the_line_that_is_not_json(runner: CliRunner, workdir: Path) -> None:
    mod = write_module(workdir, FLOWS)
    args = ["enqueue", "first", "--store", "sqlite:///cases.db", "--workflows", mod, "--file", "-"]
    line = one_error_line(runner.invoke(main, args, input='{"a": 1}\n\n{"a": \n'))
    assert "line 3 of stdin is not JSON: Expecting value at the end; nothing was written" in line


def test_enqueue_refuses_a_line_too_long_without_reading_it_whole(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import actors._cli_enqueue as enqueue

    monkeypatch.setattr(enqueue, "MAX_LINE", 1_000)  # as 64 Mi characters would, smaller
    mod = write_module(workdir, FLOWS)
    args = ["enqueue", "first", "--store", "sqlite:///cases.db", "--workflows", mod, "--file", "-"]
    text = '{"a": 1}\n' + "x" * 5_000  # no line end: a reader by lines would take it whole
    result = runner.invoke(main, args, input=text)
    assert result.exit_code == 2, result.output
    assert "line 2 of stdin is longer than 1,000 characters" in one_error_line(result)
    assert not any(open_store("sqlite:///cases.db").counts().values())  # nothing written


def test_ctrl_c_once_a_batch_is_stored_waits_for_its_ids_and_counts_it(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Ctrl-C that landed after a batch's commit (in the store's call, or while its ids
    # printed) stopped the command there: the batch was written but counted as not, its
    # ids not all printed, and the user, told to run the lines after the last counted
    # batch again, wrote its cases twice.
    import actors._cli_enqueue as enqueue

    written = enqueue.enqueue_many
    calls = []

    def second_is_interrupted_once_stored(*args, **kwargs):
        made = written(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, as the commit returns
        return made

    monkeypatch.setattr(enqueue, "enqueue_many", second_is_interrupted_once_stored)
    mod = write_module(workdir, FLOWS)
    url = f"sqlite:///{workdir / 'cases.db'}"
    (workdir / "cases.jsonl").write_text("".join(f'{{"order": {n}}}\n' for n in range(9)))
    args = ["enqueue", "first", "--store", url, "--workflows", mod, "--file", "cases.jsonl"]
    result = runner.invoke(main, [*args, "--batch", "3"])
    assert result.exit_code == 130, result.output
    told = "they have new ids: run only the lines after 6 again"
    assert result.stderr == f"actors: interrupted: 6 case(s) written, from lines 1 to 6; {told}\n"
    store = open_store(url)
    try:
        assert sorted(result.stdout.split()) == sorted(j.id for j in store.unfinished())
    finally:
        store.close()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_a_second_ctrl_c_stops_a_batch_under_way_and_says_it_is_uncertain(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store that does not answer must not make Ctrl-C useless: the second one stops
    # the write at once, and the batch it cut may or may not have been stored.
    import actors._cli_enqueue as enqueue
    import actors._cli_interrupt as interrupt

    written = enqueue.enqueue_many
    calls = []
    clock = [100.0]
    monkeypatch.setattr(interrupt, "_monotonic", lambda: clock[0])

    def second_hangs(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # waits for the batch
            clock[0] += interrupt.ONE_REQUEST  # a second press, not the first one's copy
            os.kill(os.getpid(), signal.SIGINT)  # does not
        return written(*args, **kwargs)

    monkeypatch.setattr(enqueue, "enqueue_many", second_hangs)
    mod = write_module(workdir, FLOWS)
    url = f"sqlite:///{workdir / 'cases.db'}"
    (workdir / "cases.jsonl").write_text("".join(f'{{"order": {n}}}\n' for n in range(9)))
    args = ["enqueue", "first", "--store", url, "--workflows", mod, "--file", "cases.jsonl"]
    result = runner.invoke(main, [*args, "--batch", "3"])
    assert result.exit_code == 130, result.output
    assert result.stderr == (
        "actors: interrupted: 3 case(s) written, from lines 1 to 3; they have new ids: run "
        "only the lines after 3 again; a second Ctrl-C stopped the write of lines 4 to 6, "
        "which may or may not be in the store: look before running them again\n"
    )
    assert len(result.stdout.split()) == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize(
    ("id_field", "told"),
    [
        (["--id-field", "order"], "run it again with --skip-existing to write the rest"),
        ([], "they have new ids: run only the lines after 6 again"),
    ],
)
def test_ctrl_c_part_way_through_a_file_says_what_was_written(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch, id_field, told
) -> None:
    # It said "Aborted!" (exit status 1), not how many lines were written: without ids,
    # a run of the whole file again wrote those cases twice.
    import actors._cli_enqueue as enqueue

    written = enqueue.enqueue_many
    calls = []

    def third_is_interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return written(*args, **kwargs)

    monkeypatch.setattr(enqueue, "enqueue_many", third_is_interrupted)
    mod = write_module(workdir, FLOWS)
    url = f"sqlite:///{workdir / 'cases.db'}"
    (workdir / "cases.jsonl").write_text("".join(f'{{"order": {n}}}\n' for n in range(9)))
    args = ["enqueue", "first", "--store", url, "--workflows", mod, "--file", "cases.jsonl"]
    result = runner.invoke(main, [*args, "--batch", "3", *id_field])
    assert result.exit_code == 130, result.output
    assert result.stderr == f"actors: interrupted: 6 case(s) written, from lines 1 to 6; {told}\n"
    store = open_store(url)
    try:
        assert store.counts()[JobState.READY] == 6
    finally:
        store.close()


def test_enqueued_data_is_the_json_given_never_a_dataclass(
    runner: CliRunner, workdir: Path
) -> None:
    """The docs say a dataclass workflow gets a dict from ``enqueue``: pinned here."""
    mod = write_module(
        workdir,
        textwrap.dedent(FLOWS)
        + "\nfrom dataclasses import dataclass\nfrom actors.stores import register_dataclass\n"
        + "\n@register_dataclass\n@dataclass\nclass Order:\n    n: int\n",
    )
    url = f"sqlite:///{workdir / 'cases.db'}"
    tagged = {"__dataclass__": f"{mod}:Order", "fields": {"n": 1}}
    args = ["enqueue", "first", "--store", url, "--workflows", mod, "--id", "c1"]
    result = runner.invoke(main, [*args, "--data", json.dumps(tagged)])
    assert result.exit_code == 0, result.output
    store = open_store(url)
    try:
        job = store.get("c1")
        assert job is not None
        assert job.data == tagged  # a dict, its tag a key like any other
    finally:
        store.close()


def test_a_closed_output_stops_enqueue_saying_how_far_it_got(workdir: Path) -> None:
    # actors enqueue ... | head -1: click exited with status 1 at the first id it could
    # not print, saying nothing, and the rest of the file was never written.
    import re
    import subprocess
    import sys

    mod = write_module(workdir, FLOWS)
    url = f"sqlite:///{workdir / 'cases.db'}"
    (workdir / "cases.jsonl").write_text("".join(f'{{"order": {n}}}\n' for n in range(2000)))
    command = [sys.executable, "-m", "actors", "enqueue", "first", "--store", url]
    proc = subprocess.Popen(
        [
            *command,
            "--workflows",
            mod,
            "--file",
            "cases.jsonl",
            "--id-field",
            "order",
            "--batch",
            "1",
        ],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == "0\n"
    proc.stdout.close()  # as head does once it has its line
    said = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 1
    found = re.fullmatch(
        r"actors: error: the output was closed \(a broken pipe\), so the ids stopped; "
        r"(\d+) case\(s\) written, from lines 1 to \1; run it again with --skip-existing "
        r"to write the rest\n",
        said,
    )
    assert found, said
    store = open_store(url)
    try:
        assert store.counts()[JobState.READY] == int(found.group(1)) < 2000
    finally:
        store.close()


_CHANGED = """
    from actors import Sequential, Workflow
    from {old} import FIRST

    def noop(data):
        return None

    # Changed, and its version= left as it was: a new start step under "first" v1.
    CHANGED = Workflow("first", [Sequential("z", noop)], start="z")
    WORKFLOWS = [FIRST, CHANGED]
"""


@pytest.mark.parametrize(
    "command",
    [
        ["enqueue", "first", "--data", "{}"],
        ["jobs", "retry", "c1", "--from", "z"],
        ["events", "send", "c1/a"],
        ["worker"],
    ],
)
def test_two_workflows_of_one_name_and_version_are_refused_by_every_command(
    runner: CliRunner, workdir: Path, command: list[str]
) -> None:
    old = write_module(workdir, FLOWS)
    both = write_module(workdir, _CHANGED.format(old=old))
    url = f"sqlite:///{workdir / 'cases.db'}"
    made = runner.invoke(
        main, ["enqueue", "first", "--store", url, "--workflows", old, "--id", "c1", "--data", "{}"]
    )
    assert made.exit_code == 0, made.output
    args = [*command, "--store", url, "--workflows", old, "--workflows", both]
    result = runner.invoke(main, args)
    # enqueue wrote the case at the first one's start step, and a reset checked its step
    # against the last one, where a worker refused to start with both.
    line = one_error_line(result)
    assert "workflow 'first' version 1 is defined twice, differently" in line, line
    assert "give a changed workflow a new version=" in line
    assert result.exit_code == 2
    store = open_store(url)
    try:
        assert store.counts()[JobState.READY] == 1  # nothing written
    finally:
        store.close()
