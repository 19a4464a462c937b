"""``actors status`` sums up the unfinished jobs in the database and reads one page of them.

It read every unfinished job, its data included, and summed them up in Python: on a store
with a backlog of a million cases that took half a minute and over a gigabyte.
"""

import dataclasses
import json
import re
import sqlite3

import pytest
from click.testing import CliRunner
from records import record, saved_split

from actors import JobState
from actors._cli import main
from actors._job import saved_open
from actors.stores import SqliteStore

READY = 30


def _mixed(store) -> None:
    """Finished jobs, and unfinished ones of every kind a summary row counts."""
    store.create_many(
        [record(f"done-{i}", state=JobState.DONE) for i in range(5)]
        + [record(f"ready-{i}") for i in range(READY)]
        + [record("napping", state=JobState.WAITING, due=2000.0)]
        + [record("retrying", state=JobState.WAITING, due=1500.0)]
        + [record("asking", state=JobState.WAITING)]
    )
    saved_split(store, 2)  # a parent waiting for its two branches
    ended = record("ended", state=JobState.RUNNING)
    store.create(ended)
    ended.state = JobState.DONE
    store.create(record("ended.0", case_id="ended", parent_id="ended", branch_index=0, step="b"))
    store.save(saved_open(ended))  # ended, a branch of it still live
    store.mark_cancel("ready-3", "cancelled")  # its worker told to cancel it mid-step


def _facts(store, limit):
    """The facts as reading every unfinished job gives them (jobs by id: records compare so)."""
    from actors.stores._unfinished_facts import of_records

    return _plain(of_records(store.unfinished(), store.existing, limit))


def _plain(facts):
    return dataclasses.replace(facts, oldest=[job.id for job in facts.oldest])


def test_a_sql_store_sums_up_its_unfinished_jobs_as_reading_them_all_does(sql_store) -> None:
    _mixed(sql_store)
    for limit in (0, 3, 100):
        assert _plain(sql_store.unfinished_facts(limit)) == _facts(sql_store, limit)
    facts = sql_store.unfinished_facts(3)
    assert (facts.due, facts.next_due) == (2, 1500.0)
    assert (facts.waiting_branches, facts.waiting_events) == (2, 1)
    assert facts.total == READY + 3 + 3 + 2 and facts.orphaned == []
    assert facts.cancelling == 1


def test_it_names_the_jobs_whose_case_root_or_parent_is_gone(make_sql_store) -> None:
    store = make_sql_store()
    parent, branches = saved_split(store, 2)
    store.create(record("lone", case_id="gone-case"))
    make_sql_store.raw("DELETE FROM jobs WHERE id = ?", (parent.id,))
    facts = store.unfinished_facts(1)
    assert facts.orphaned == [b.id for b in branches] + ["lone"]
    assert _plain(facts) == _facts(store, 1)


@pytest.mark.parametrize("parent", ["root", "root.1"])
def test_it_names_the_jobs_of_a_case_whose_root_row_names_a_parent(make_sql_store, parent):
    """A root edited into a branch (of itself, of its own branch) is never claimed.

    Workers claim cases by their roots (rows without a parent): its case waited for
    ever, and ``actors status`` counted none of its jobs as orphaned.
    """
    store = make_sql_store()
    saved_split(store, 2, build=lambda job_id="root", **kw: record(job_id, **kw))
    store.create(record("other"))
    make_sql_store.raw("UPDATE jobs SET parent_id = ? WHERE id = 'root'", (parent,))
    facts = store.unfinished_facts(1)
    assert facts.orphaned == ["root", "root.0", "root.1"]
    assert _facts(store, 1).orphaned == facts.orphaned  # as reading every job finds them


def _status_rows_read(store, url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, int]:
    read = type(store)._read
    counted = []

    def counting(self, sql, params, what):
        rows = read(self, sql, params, what)
        counted.append(len(rows))
        return rows

    monkeypatch.setattr(type(store), "_read", counting)
    result = CliRunner().invoke(main, ["status", "--store", url, "--limit", "2", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output), sum(counted)


def test_status_reads_a_page_of_the_unfinished_jobs_not_all_of_them(
    make_sql_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_sql_store()
    _mixed(store)
    url = make_sql_store.url or f"sqlite:///{make_sql_store.path}"
    out, rows = _status_rows_read(store, url, monkeypatch)
    assert out["summary"]["unfinished"] == READY + 8
    assert [job["id"] for job in out["unfinished"]] == ["ready-0", "ready-1"]
    # The counts by state, the unclaimed cases, two sums, the page, no orphan: every
    # unfinished job (38 here) was read before.
    assert rows < 20


def test_status_on_sqlite_scans_no_table(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "jobs.db"
    store = SqliteStore(path)
    _mixed(store)
    store.close()
    statements: set[str] = set()
    connect = sqlite3.connect

    def traced(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(statements.add)
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced)
    result = CliRunner().invoke(main, ["status", "--store", f"sqlite:///{path}"])
    assert result.exit_code == 0, result.output
    monkeypatch.undo()
    reads = [sql for sql in statements if re.match(r"\s*SELECT\b.*\bjobs\b", sql, re.I | re.S)]
    assert len(reads) >= 3
    scans = []
    with connect(path) as check:
        for sql in reads:
            plan = [row[3] for row in check.execute(f"EXPLAIN QUERY PLAN {sql}")]
            # A scan of the whole table, or of an index of all of it in the wrong order.
            scans += [(p, sql) for p in plan if re.match(r"SCAN (jobs|j)\b(?! USING COVERING)", p)]
    assert scans == []


@pytest.mark.parametrize("ended", ["root", "root.1"])
def test_it_names_the_jobs_under_a_case_root_or_parent_that_ended(make_sql_store, ended):
    """A final row over an unfinished one: no claim takes its case up again.

    Claims look for unfinished roots, and the engine saves a job that ends with live
    branches waiting (``saved_open``) until its last branch ends; a row edited by hand
    left its case's other jobs unfinished for ever, counted as no more than unfinished.
    """
    store = make_sql_store()
    saved_split(store, 2, build=lambda job_id="root", **kw: record(job_id, **kw))
    nested = record("root.1.0", case_id="root", parent_id="root.1", branch_index=0, step="b")
    store.create(nested)
    make_sql_store.raw("UPDATE jobs SET state = ? WHERE id = ?", (JobState.FAULTED.value, ended))
    facts = store.unfinished_facts(1)
    under = {"root": ["root.0", "root.1", "root.1.0"], "root.1": ["root.1.0"]}[ended]
    assert (facts.stranded, facts.orphaned) == (under, [])
    assert _facts(store, 1).stranded == facts.stranded  # as reading every job finds them
    url = make_sql_store.url or f"sqlite:///{make_sql_store.path}"
    result = CliRunner().invoke(main, ["status", "--store", url])
    assert result.exit_code == 0, result.output
    assert f"{len(under)} (their case ended without them: {', '.join(under)})" in result.output
