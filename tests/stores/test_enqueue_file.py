"""``actors enqueue`` keeps its promise or refuses: a file that fails part-way can be re-run.

With ``--batch 100``, a file of 200 cases whose line 150 is broken writes lines 1 to 100
and says so; fixed, it runs again with ``--skip-existing`` and ends with all 200 written,
once each. ``memory://`` is refused, since its cases would be gone when the command exits.
"""

import json
import sys
import textwrap
import uuid

import pytest
from click.testing import CliRunner

from actors import JobState
from actors._cli import main
from actors.stores import open_store

FLOWS = """
    from actors import Sequential, Workflow

    FLOW = Workflow("flow", [Sequential("a", lambda data: None)], start="a")
"""


@pytest.fixture
def module(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    name = f"wfmod_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(FLOWS), encoding="utf-8")
    return name


def _url(factory):
    return f"sqlite:///{factory.path}" if factory.kind == "sqlite" else factory.url


def _one_line(result):
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_file_that_fails_part_way_says_how_far_it_got_and_runs_again(
    make_sql_store, module, tmp_path
):
    url = _url(make_sql_store)
    lines = [json.dumps({"order": f"o{n}"}) for n in range(1, 201)]
    broken = [*lines[:149], '{"order": "o150", ', *lines[150:]]
    (tmp_path / "cases.jsonl").write_text("\n".join(broken) + "\n")
    args = ["enqueue", "flow", "--store", url, "--workflows", module, "--file", "cases.jsonl"]
    args += ["--batch", "100", "--id-field", "order"]
    failed = CliRunner().invoke(main, args)
    assert failed.exit_code == 2  # a bad argument: the file's line
    line = _one_line(failed)
    assert "line 150 of 'cases.jsonl' is not JSON" in line
    assert "100 case(s) written, from lines 1 to 100" in line
    assert "--skip-existing" in line
    assert failed.stdout.split() == [f"o{n}" for n in range(1, 101)]

    (tmp_path / "cases.jsonl").write_text("\n".join(lines) + "\n")  # fixed
    again = CliRunner().invoke(main, [*args, "--skip-existing"])
    assert again.exit_code == 0, again.output
    assert again.stdout.split() == [f"o{n}" for n in range(101, 201)]
    assert "skipped 100 case(s)" in again.stderr
    store = open_store(url)
    try:
        assert store.counts()[JobState.READY] == 200
        assert store.get("o150").data == {"order": "o150"}
    finally:
        store.close()


def test_an_error_in_a_later_batch_names_its_lines_and_what_was_written(
    make_sql_store, module, tmp_path
):
    url = _url(make_sql_store)
    lines = [json.dumps({"order": f"o{n}"}) for n in range(1, 6)]
    lines[3] = json.dumps({"order": "o1"})  # line 4 repeats the id of line 1
    (tmp_path / "cases.jsonl").write_text("\n".join(lines) + "\n")
    args = ["enqueue", "flow", "--store", url, "--workflows", module, "--file", "cases.jsonl"]
    failed = CliRunner().invoke(main, [*args, "--batch", "2", "--id-field", "order"])
    line = _one_line(failed)
    assert "line 4 of 'cases.jsonl'" in line and "is on line 1 too" in line
    assert "2 case(s) written, from lines 1 to 2" in line


def test_without_ids_the_error_says_a_rerun_would_write_cases_twice(
    make_sql_store, module, tmp_path
):
    url = _url(make_sql_store)
    (tmp_path / "cases.jsonl").write_text('{"a": 1}\n{"a": 2}\nnot json\n')
    args = ["enqueue", "flow", "--store", url, "--workflows", module, "--file", "cases.jsonl"]
    line = _one_line(CliRunner().invoke(main, [*args, "--batch", "1"]))
    assert "2 case(s) written, from lines 1 to 2" in line
    assert "twice" in line


def test_enqueue_refuses_a_memory_store_and_a_skip_without_ids(module):
    args = ["enqueue", "flow", "--workflows", module, "--data", "{}"]
    memory = CliRunner().invoke(main, [*args, "--store", "memory://"])
    assert memory.exit_code == 2
    assert "memory://" in memory.stderr and "gone when enqueue exits" in memory.stderr
    assert memory.stdout == ""  # no id printed for a case that would not exist
    skip = CliRunner().invoke(main, [*args, "--store", "sqlite:///x.db", "--skip-existing"])
    assert skip.exit_code == 2
    assert "--skip-existing skips cases by id" in skip.stderr
