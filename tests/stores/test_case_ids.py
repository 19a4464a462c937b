"""One rule for case ids on every store, checked before anything is stored.

A case id is a non-empty string without ``/`` or control characters (NUL, a newline, a
tab...), not ``.`` or ``..`` (a browser resolves them in the dashboard's addresses),
with no white space at either end (``' j2'`` printed as ``j2``, which then named no
case), at most 500 characters long (500
characters of UTF-8 fit an entry of PostgreSQL's btree index). A longer id went into
SQLite and memory but failed inside PostgreSQL with a ``StoreError``, or went in there
too when it compressed well; ``actors enqueue`` then exited 1 naming no line. An id
holding a newline or a tab was stored, and printed as broken lines by ``actors enqueue``
and ``actors jobs list``.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT
from click.testing import CliRunner

from actors import JobState, Mediator, Sequential, Workflow, enqueue, enqueue_many
from actors._cases import MAX_ID_LENGTH, new_case
from actors._cli import main
from actors.stores import open_store

FLOW = Workflow("one", [Sequential("a", lambda d: None)], start="a")
RULE = (
    "a non-empty string without '/' or control characters (NUL, newline, tab, escape, "
    "bidirectional override...), not '.' or '..', with no white space at either end, "
    "at most 500 characters long"
)


def noise(length: int, *, wide: bool = False) -> str:
    """Text that does not compress (PostgreSQL compresses a long value before indexing it).

    ``wide``: characters of four bytes in UTF-8, the most an index entry can take.
    """
    rng = random.Random(length)
    low, high = (0x1F300, 0x1F5FF) if wide else (0x61, 0x7A)
    return "".join(chr(rng.randint(low, high)) for _ in range(length))


BAD_IDS = {
    "nul": "order\x00-7",
    "newline": "order\n7",
    "tab": "order-7\t",
    "escape": "\x1b[2Jorder-7",
    "delete": "order\x7f7",
    "c1": "order\x857",
    "line-separator": "order\u20287",
    "right-to-left-override": "\u202eorder-7",
    "isolate": "order\u2066-7",
    "right-to-left-mark": "order\u200f7",
    "one-too-long": noise(MAX_ID_LENGTH + 1),
    "dot": ".",
    "dot-dot": "..",
    "leading-space": " j2",
    "trailing-no-break-space": "j2\u00a0",
    "20000": noise(20_000),
}


def test_an_id_of_the_longest_length_is_stored_and_found_on_every_store(make_store: Any) -> None:
    longest = noise(MAX_ID_LENGTH, wide=True)
    with Mediator([FLOW], store=make_store()) as m:
        assert m.schedule("one", {}, job_id=longest).result(timeout=TIMEOUT).state is (
            JobState.DONE
        )
        assert m.get_job(longest).id == longest
        enqueue(m.store, FLOW, {}, job_id=longest[:-1] + "x")
        assert m.store.existing([longest, longest[:-1] + "x"]) == {longest, longest[:-1] + "x"}


def _admit(how: str, m: Mediator, job_id: str) -> Any:
    if how == "schedule":
        return m.schedule("one", {}, job_id=job_id)
    if how == "schedule_many":
        return m.schedule_many("one", [{}, {}], job_ids=["fine", job_id])
    if how == "enqueue":
        return enqueue(m.store, FLOW, {}, job_id=job_id)
    return enqueue_many(m.store, FLOW, [{}, {}], job_ids=["fine", job_id])


@pytest.mark.parametrize("bad", list(BAD_IDS))
@pytest.mark.parametrize("how", ["schedule", "schedule_many", "enqueue", "enqueue_many"])
def test_an_id_too_long_or_holding_nul_is_refused_before_anything_is_stored(
    make_store: Any, how: str, bad: str
) -> None:
    job_id = BAD_IDS[bad]
    with Mediator([FLOW], store=make_store()) as m:
        with pytest.raises(ValueError, match=re.escape(f"job_id must be {RULE}, got ")) as refused:
            _admit(how, m, job_id)
        assert len(str(refused.value)) < 340  # the rule, and a long id cut short with its length
        if len(job_id) > MAX_ID_LENGTH:
            assert f"({len(job_id):,} characters)" in str(refused.value)
        assert m.store.existing(["fine"]) == set()
        assert m.store.unfinished() == []
        assert m.stats().admitted == 0


@pytest.fixture
def url(make_sql_store: Any) -> str:
    if make_sql_store.kind == "sqlite":
        return f"sqlite:///{make_sql_store.path}"
    return str(make_sql_store.url)


def _enqueue(url: str, *args: str) -> Any:
    flows = "tests.stores.test_case_ids:FLOW"
    return CliRunner().invoke(main, ["enqueue", "one", "--store", url, "--workflows", flows, *args])


@pytest.mark.parametrize("bad", list(BAD_IDS))
def test_enqueue_refuses_an_id_too_long_or_holding_nul_by_its_line_and_field(
    url: str, tmp_path: Path, bad: str
) -> None:
    """On PostgreSQL a 20,000-character id exited 1 with the database's ``StoreError``."""
    job_id = BAD_IDS[bad]
    lines = [json.dumps({"k": "fine"}), json.dumps({"k": job_id})]
    (tmp_path / "cases.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _enqueue(url, "--file", str(tmp_path / "cases.jsonl"), "--id-field", "k")
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"actors: error: line 2 of '{tmp_path / 'cases.jsonl'}': field 'k' is ")
    assert f"not a case id ({RULE}; or an integer); nothing was written" in line
    assert len(line) < 450 and "StoreError" not in line

    given = _enqueue(url, "--data", "{}", "--id", job_id)
    assert given.exit_code == 2, given.output
    (line,) = given.stderr.splitlines()
    assert line.startswith("actors: error: --id ")
    assert line.endswith(f"is not a case id ({RULE})") and len(line) < 340
    fine = _enqueue(url, "--data", "{}", "--id", "fine")
    assert fine.exit_code == 0, fine.output  # nothing of the refused lines was written


CONTROLS = {"newline": ("\n", 5), "tab": ("\t", 7), "escape": ("\x1b", 0)}


@pytest.mark.parametrize("bad", list(CONTROLS))
def test_an_id_with_a_control_character_is_refused_naming_it_escaped(bad: str) -> None:
    char, position = CONTROLS[bad]
    with Mediator([FLOW]) as m, pytest.raises(ValueError, match="control character") as refused:
        m.schedule_many("one", [{}, {}, {}], job_ids=["a", "b", BAD_IDS[bad]])
    message = str(refused.value)
    assert message.startswith(f"batch item 2: job_id must be {RULE}, got {BAD_IDS[bad]!r}")
    assert message.endswith(f" (control character {char!r} at position {position})")
    assert "\n" not in message and "\t" not in message and "\x1b" not in message
    assert m.store.existing(["a", "b"]) == set()  # the batch is all or none


def test_enqueue_file_keeps_the_batches_before_an_id_with_a_newline(
    url: str, tmp_path: Path
) -> None:
    lines = [json.dumps({"k": k}) for k in ("a", "b", "c", "order\n7", "e")]
    (tmp_path / "cases.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _enqueue(
        url, "--file", str(tmp_path / "cases.jsonl"), "--id-field", "k", "--batch", "2"
    )
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"actors: error: line 4 of '{tmp_path / 'cases.jsonl'}': field 'k' is 'order\\n7' "
        "(control character '\\n' at position 5), not a case id"
    )
    assert "2 case(s) written, from lines 1 to 2" in line
    written = _enqueue(url, "--data", "{}", "--id", "a")
    assert written.exit_code == 1 and "already" in written.stderr  # batch 1 stays written
    again = _enqueue(url, "--data", "{}", "--id", "c")
    assert again.exit_code == 0, again.output  # c's batch held the bad line: none written


PADDED = {"space": (" j2", "white space ' ' at the start"),
          "no-break": ("j2\u00a0", "white space '\\xa0' at the end")}  # fmt: skip


@pytest.mark.parametrize("bad", list(PADDED))
def test_an_id_with_white_space_at_an_end_is_refused_naming_it_escaped(
    url: str, tmp_path: Path, bad: str
) -> None:
    """`` j2`` was admitted, then ``actors jobs show j2`` found no case."""
    job_id, flaw = PADDED[bad]
    with Mediator([FLOW]) as m, pytest.raises(ValueError, match=re.escape(f"({flaw})")):
        m.schedule("one", {}, job_id=job_id)
    given = _enqueue(url, "--data", "{}", "--id", job_id)
    assert given.exit_code == 2, given.output
    assert given.stderr == f"actors: error: --id {job_id!r} ({flaw}) is not a case id ({RULE})\n"
    (tmp_path / "cases.jsonl").write_text(f'{{"k": "a"}}\n{json.dumps({"k": job_id})}\n')
    result = _enqueue(url, "--file", str(tmp_path / "cases.jsonl"), "--id-field", "k")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(
        f"actors: error: line 2 of '{tmp_path / 'cases.jsonl'}': field 'k' is {job_id!r} "
        f"({flaw}), not a case id"
    )
    assert "nothing was written" in result.stderr


def test_a_case_stored_with_white_space_at_an_end_is_still_looked_up(url: str) -> None:
    """The rule is for new cases: one an earlier version admitted is shown and cancelled."""
    store = open_store(url)
    try:
        store.create(new_case(FLOW, " j2", {}))
    finally:
        store.close()
    shown = CliRunner().invoke(main, ["jobs", "show", " j2", "--store", url])
    assert shown.exit_code == 0, shown.output
    assert " j2" in shown.stdout
    cancelled = CliRunner().invoke(main, ["jobs", "cancel", " j2", "--store", url])
    assert cancelled.exit_code == 0, cancelled.output
