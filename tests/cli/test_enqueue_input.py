"""What ``actors enqueue`` and ``events send`` refuse of their input: one line, exit 2.

Each error names where the input is wrong (the option, or the file and its line) and
nothing of a refused batch is written; the batches before it stay.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import FLOWS, one_error_line, write_module
from click.testing import CliRunner, Result

from actors import JobState
from actors._cli import main
from actors._cli_input import MAX_EVENT_DEPTH, MAX_JSON_DEPTH
from actors.stores import open_store

BAD_ARGUMENT = 2  # docs/how-to/command-line.md: a bad argument (a module reference, JSON...)


def _enqueue(
    runner: CliRunner, workdir: Path, *extra: str, stdin: str | bytes | None = None
) -> Result:
    mod = write_module(workdir, FLOWS)
    url = f"sqlite:///{workdir / 'cases.db'}"
    return runner.invoke(
        main, ["enqueue", "first", "--store", url, "--workflows", mod, *extra], input=stdin
    )


def _cases(workdir: Path) -> dict[str, object]:
    """The data of each case the store at ``workdir`` holds, by id."""
    store = open_store(f"sqlite:///{workdir / 'cases.db'}")
    try:
        return {job.id: job.data for job in store.unfinished() if job.parent_id is None}
    finally:
        store.close()


def _refused(result: Result) -> str:
    line = one_error_line(result)
    assert result.exit_code == BAD_ARGUMENT, result.stderr
    return line


@pytest.mark.parametrize(
    ("second", "why"),
    [
        ('{"k": null}', ": field 'k' is null, not a case id"),
        ('{"k": true}', ": field 'k' is true, not a case id"),
        ('{"k": 1.5}', ": field 'k' is the number 1.5, not a case id"),
        ('{"k": 2.0}', ": field 'k' is the number 2.0, not a case id"),
        ('{"k": 7e0}', ": field 'k' is the number 7.0, not a case id"),  # an exponent
        ('{"k": [1]}', ": field 'k' is an array, not a case id"),
        ('{"k": {"a": 1}}', ": field 'k' is an object, not a case id"),
        ('{"k": ""}', ": field 'k' is '', not a case id"),
        ('{"k": "a/b"}', ": field 'k' is 'a/b', not a case id"),
        ('{"x": 1}', " has no field 'k' to name its case by"),
        ("[1, 2]", " is an array, not an object with a field 'k'"),
    ],
)
def test_id_field_of_a_kind_no_case_id_has_is_refused_by_its_line(
    runner: CliRunner, workdir: Path, second: str, why: str
) -> None:
    """A null key was the case "None" (and every later null a duplicate of it)."""
    (workdir / "cases.jsonl").write_text(f'{{"k": "a"}}\n{second}\n{second}\n', encoding="utf-8")
    line = _refused(_enqueue(runner, workdir, "--file", "cases.jsonl", "--id-field", "k"))
    assert f"line 2 of 'cases.jsonl'{why}" in line
    assert line.endswith("; nothing was written")
    assert _cases(workdir) == {}  # the valid first line was in the refused batch


def test_id_field_takes_a_string_or_an_integer_as_its_digits(
    runner: CliRunner, workdir: Path
) -> None:
    (workdir / "cases.jsonl").write_text('{"k": "a"}\n{"k": 7}\n{"k": -3}\n', encoding="utf-8")
    result = _enqueue(runner, workdir, "--file", "cases.jsonl", "--id-field", "k")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["a", "7", "-3"]
    assert _cases(workdir) == {"a": {"k": "a"}, "7": {"k": 7}, "-3": {"k": -3}}


def test_an_id_twice_in_the_file_is_refused_by_both_lines_even_in_another_batch(
    runner: CliRunner, workdir: Path
) -> None:
    """With --skip-existing the repeat was skipped as "already there": its data was lost."""
    rows = ['{"k": "a", "n": 1}', '{"k": "b"}', '{"k": "a", "n": 2}']
    (workdir / "cases.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    args = ("--file", "cases.jsonl", "--id-field", "k", "--batch", "2", "--skip-existing")
    line = _refused(_enqueue(runner, workdir, *args))
    assert "line 3 of 'cases.jsonl': case id 'a' (field 'k') is on line 1 too" in line
    assert "2 case(s) written, from lines 1 to 2" in line
    assert _cases(workdir) == {"a": {"k": "a", "n": 1}, "b": {"k": "b"}}  # kept
    # In one batch too: that batch is refused whole, as ``enqueue_many`` would refuse it.
    (workdir / "again.jsonl").write_text('{"k": "c"}\n{"k": "c"}\n', encoding="utf-8")
    again = _refused(_enqueue(runner, workdir, "--file", "again.jsonl", "--id-field", "k"))
    assert "line 2 of 'again.jsonl': case id 'c' (field 'k') is on line 1 too" in again
    assert "c" not in _cases(workdir)


def test_a_byte_order_mark_at_the_start_of_a_file_is_read_past(
    runner: CliRunner, workdir: Path
) -> None:
    """Some editors write one first (UTF-8 with BOM): it was 'line 1 is not JSON'."""
    text = '\ufeff{"k": "a"}\r\n{"k": "b"}\r\n'
    (workdir / "cases.jsonl").write_bytes(text.encode("utf-8"))
    result = _enqueue(runner, workdir, "--file", "cases.jsonl", "--id-field", "k")
    assert result.exit_code == 0, result.output
    assert _cases(workdir) == {"a": {"k": "a"}, "b": {"k": "b"}}


def test_a_file_line_that_is_not_utf8_is_named_by_line_and_column(
    runner: CliRunner, workdir: Path
) -> None:
    """It was a traceback ending in UnicodeDecodeError, naming neither."""
    (workdir / "cases.jsonl").write_bytes(b'{"k": "a"}\n{"k": "b\xff"}\n')
    line = _refused(_enqueue(runner, workdir, "--file", "cases.jsonl"))
    assert "line 2 of 'cases.jsonl' is not UTF-8 text (byte 0xff at column 9)" in line
    assert _cases(workdir) == {}
    piped = _refused(_enqueue(runner, workdir, "--file", "-", stdin=b'{"k": "\xfe"}\n'))
    assert "line 1 of stdin is not UTF-8 text (byte 0xfe at column 8)" in piped


def test_a_bad_file_line_names_its_column_not_the_parser_s_line(
    runner: CliRunner, workdir: Path
) -> None:
    """``line 8 is not JSON: Expecting ',' delimiter: line 2 column 1`` mixed two lines."""
    text = '{"a": 1}\n{"a": 1 "b": 2}\n'
    line = _refused(_enqueue(runner, workdir, "--file", "-", stdin=text))
    assert "line 2 of stdin is not JSON: Expecting ',' delimiter at column 9;" in line
    cut = _refused(_enqueue(runner, workdir, "--file", "-", stdin='{"a": 1}\n{"a": 1\n'))
    assert "line 2 of stdin is not JSON: Expecting ',' delimiter at the end;" in cut
    for told in (line, cut):
        assert "column 1" not in told and "(char" not in told and "line 1 " not in told
    data = _refused(_enqueue(runner, workdir, "--data", '{"a": 1,\n "b": }'))
    assert "--data is not JSON: Expecting value at line 2, column 7" in data


def _nested(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


def test_json_nested_too_deep_is_refused_by_where_it_is(runner: CliRunner, workdir: Path) -> None:
    """990 levels raised RecursionError (a traceback); 300 were left to the store."""
    deep = f"is nested more than {MAX_JSON_DEPTH} levels deep (arrays and objects)"
    for levels in (MAX_JSON_DEPTH + 2, 300, 990, 100_000):
        data = _refused(_enqueue(runner, workdir, "--data", _nested(levels)))
        assert f"--data {deep}" in data
        lines = f'{{"ok": 1}}\n{_nested(levels)}\n'
        line = _refused(_enqueue(runner, workdir, "--file", "-", stdin=lines))
        assert f"line 2 of stdin {deep}; nothing was written" in line
    assert _cases(workdir) == {}
    # As deep as the stores take (the top object is level 0): what the API can enqueue.
    ok = _enqueue(runner, workdir, "--data", _nested(MAX_JSON_DEPTH + 1), "--id", "deepest")
    assert ok.exit_code == 0, ok.output
    assert "deepest" in _cases(workdir)


def test_events_send_refuses_data_nested_too_deep(runner: CliRunner, workdir: Path) -> None:
    result = runner.invoke(
        main, ["events", "send", "o1/ask", "--store", "sqlite:///x.db", "--data", _nested(990)]
    )
    line = _refused(result)
    assert f"--data is nested more than {MAX_EVENT_DEPTH} levels deep" in line


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--data", "{}", "--id", "a\udcff"], "--id is not UTF-8 text (byte 0xff at column 2)"),
        (["--data", '{"a": "\udcff"}'], "--data is not UTF-8 text (byte 0xff at column 8)"),
        (
            ["--data", '{"a": "\\udcff"}'],  # a JSON escape: a lone surrogate, not text
            "--data holds a string at ['a'] with the lone surrogate \\udcff",
        ),
        (["--file", "-", "--id-field", "k\udcff"], "--id-field is not UTF-8 text"),
    ],
)
def test_an_argument_with_bytes_that_are_not_utf8_is_named(
    runner: CliRunner, workdir: Path, extra: list[str], needle: str
) -> None:
    """Such bytes reach Python as surrogates: the store's encoder failed on them (exit 1).

    ``actors: error: UnicodeEncodeError: ... surrogates not allowed`` named no option.
    """
    line = _refused(_enqueue(runner, workdir, *extra, stdin=""))
    assert needle in line
    assert "UnicodeEncodeError" not in line


def test_events_send_names_data_that_is_not_utf8(runner: CliRunner, workdir: Path) -> None:
    result = runner.invoke(
        main, ["events", "send", "o1/ask", "--store", "sqlite:///x.db", "--data", '"\udcff"']
    )
    assert "--data is not UTF-8 text (byte 0xff at column 2)" in _refused(result)


@pytest.mark.parametrize("job_id", ["", "a/b"])
def test_a_bad_id_is_a_bad_argument_without_a_class_name(
    runner: CliRunner, workdir: Path, job_id: str
) -> None:
    """``actors: error: ValueError: batch item 0: job_id must be ...`` exited 1."""
    line = _refused(_enqueue(runner, workdir, "--data", "{}", "--id", job_id))
    assert line == (
        f"actors: error: --id {job_id!r} is not a case id (a non-empty string without '/' "
        "or control characters (NUL, newline, tab, escape, bidirectional override...), "
        "not '.' or '..', with no white space at either end, at most 500 characters long)"
    )


@pytest.mark.parametrize(
    ("number", "path"), [("1e999", " at ['a']"), ("-1e400", " at ['a']"), ("1E+309", " at ['a']")]
)
def test_a_number_too_large_for_a_float_is_refused_by_where_it_is(
    runner: CliRunner, workdir: Path, number: str, path: str
) -> None:
    """``1e999`` was read as float infinity and stored as ``Infinity``, which is not JSON."""
    too_large = "too large for a float: it would be stored as Infinity, which is not JSON"
    data = _refused(_enqueue(runner, workdir, "--data", f'{{"a": {number}}}'))
    assert f"--data holds a number{path} {too_large}" in data
    lines = f'{{"ok": 1}}\n{{"b": [{{"a": {number}}}]}}\n'
    line = _refused(_enqueue(runner, workdir, "--file", "-", stdin=lines))
    assert f"line 2 of stdin holds a number at ['b'][0]['a'] {too_large}" in line
    assert _cases(workdir) == {}
    event = runner.invoke(
        main, ["events", "send", "o1/ask", "--store", "sqlite:///x.db", "--data", number]
    )
    assert f"--data holds a number {too_large}" in _refused(event)
    fine = _enqueue(runner, workdir, "--data", '{"a": 1e308, "b": 1e-999}')
    assert fine.exit_code == 0, fine.output
    assert list(_cases(workdir).values()) == [{"a": 1e308, "b": 0.0}]


def test_cases_written_before_a_bad_line_stay_and_the_error_says_so(
    runner: CliRunner, workdir: Path
) -> None:
    rows = [json.dumps({"k": n}) for n in range(4)]
    text = "\n".join([*rows, '{"k": 4, "x": 1e999}', '{"k": 5}']) + "\n"
    (workdir / "cases.jsonl").write_text(text, encoding="utf-8")
    args = ("--file", "cases.jsonl", "--id-field", "k", "--batch", "2")
    line = _refused(_enqueue(runner, workdir, *args))
    assert "line 5 of 'cases.jsonl' holds a number at ['x']" in line
    assert "4 case(s) written, from lines 1 to 4; fix the file and run it again" in line
    assert sorted(_cases(workdir)) == ["0", "1", "2", "3"]
    store = open_store(f"sqlite:///{workdir / 'cases.db'}")
    try:
        assert store.get("0").state is JobState.READY
    finally:
        store.close()


@pytest.mark.parametrize("text", ["", "\n\n  \n"], ids=["empty", "blank lines"])
def test_a_file_with_no_case_says_so(runner: CliRunner, workdir: Path, text: str) -> None:
    # Nothing was said: an operator who gave the wrong file (or a producer that wrote
    # nothing) read exit status 0 and no output as the cases written.
    (workdir / "orders.jsonl").write_text(text)
    result = _enqueue(runner, workdir, "--file", "orders.jsonl")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    warning = "actors: warning: 'orders.jsonl' holds no line of JSON (blank lines are skipped)"
    assert result.stderr == f"{warning}: nothing was written\n"
    assert _cases(workdir) == {}


def test_blank_lines_between_cases_are_skipped(runner: CliRunner, workdir: Path) -> None:
    (workdir / "orders.jsonl").write_text('\n{"n": 1}\n\n   \n{"n": 2}\n')
    result = _enqueue(runner, workdir, "--file", "orders.jsonl")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert sorted(d["n"] for d in _cases(workdir).values()) == [1, 2]


def test_a_key_given_twice_in_one_object_is_refused_by_its_line_and_name(
    runner: CliRunner, workdir: Path
) -> None:
    """``{"a": 1, "a": 2}`` was read as ``{"a": 2}``: the first value was lost unsaid."""
    twice = "gives the key 'b' twice in one object"
    data = _refused(_enqueue(runner, workdir, "--data", '{"x": [{"b": 1, "c": 2, "b": 3}]}'))
    assert data.startswith(f"actors: error: --data {twice}: which of its values is meant")
    rows = ['{"k": 1}', '{"k": 2}', '{"k": 3, "b": 1, "b": 1}', '{"k": 4}']
    (workdir / "cases.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    args = ("--file", "cases.jsonl", "--id-field", "k", "--batch", "2")
    line = _refused(_enqueue(runner, workdir, *args))
    assert f"line 3 of 'cases.jsonl' {twice}" in line
    assert "2 case(s) written, from lines 1 to 2; fix the file and run it again" in line
    assert _cases(workdir) == {"1": {"k": 1}, "2": {"k": 2}}  # the batch of line 3: none
    event = runner.invoke(
        main, ["events", "send", "o1/ask", "--store", "sqlite:///x.db", "--data", '{"b":1,"b":2}']
    )
    assert f"--data {twice}" in _refused(event)
