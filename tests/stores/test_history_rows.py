"""Migration 8: on PostgreSQL a job's saves in one transaction share one ``step_history`` row.

Readers get every save back, in order, as before; the table holds fewer rows there (SQLite
keeps a row per save); a store made before the migration keeps its rows readable; a
packed row edited into nonsense is reported in the history, not raised, and loses no
other entry.
"""

import sqlite3

import pytest
from group_support import ON_GROUP_STORES, Callbacks, rec, submit

from actors import JobState
from actors.admin import Admin
from actors.stores import open_store
from actors.stores._history_rows import pack, unpack
from actors.stores._schema import MIGRATIONS, SQLITE, _apply


def _entry(job, seq, step, worker="w1"):
    return (job, seq, step, 1, "running", float(seq), worker, None, None)


def test_pack_cuts_a_run_where_the_job_or_the_worker_changes():
    entries = [
        _entry("a", 1, "s1"),
        _entry("a", 2, "s2"),
        _entry("b", 3, "t1"),
        _entry("a", 4, "s3"),
        _entry("a", 5, "s4", worker="w2"),
        _entry("a", 6, "s5", worker="w2"),
    ]
    rows = pack(entries)
    assert [(row[0], row[1], row[9] is not None) for row in rows] == [
        ("a", 1, True),
        ("b", 3, False),
        ("a", 4, False),
        ("a", 5, True),
    ]
    # Read back (action NULL for all of them): every entry, ordered by seq.
    read = unpack([(*row[:8], None, *row[8:]) for row in rows])
    assert [(e[0], e[1], e[2], e[6]) for e in read] == [
        (job, seq, step, worker) for job, seq, step, _, _, _, worker, _, _ in entries
    ]


@ON_GROUP_STORES
def test_a_slice_of_many_saves_writes_one_row_and_reads_back_every_save(group, make_sql_store):
    job = rec("j")
    group.create(job)
    done = Callbacks()

    def steps(store):
        for n in range(5):
            job.step, job.state = f"s{n}", JobState.RUNNING
            store.save(job)
        job.state = JobState.DONE
        store.save(job)

    submit(group, done("slice"), steps)
    assert done.wait(1)[0][1] is None
    history = group.step_history("j")
    assert [(row.step, row.state) for row in history] == [
        ("a", "ready"),
        *((f"s{n}", "running") for n in range(5)),
        ("s4", "done"),
    ]
    assert [row.seq for row in history] == sorted(row.seq for row in history)
    assert all(row.worker == history[1].worker and row.action is None for row in history[1:])
    assert [state for _, _, state, _ in group.history("j")][-1] == "done"
    # Seven saves: on PostgreSQL two rows, the admission's and the slice's; SQLite a row each.
    rows = 2 if make_sql_store.kind == "postgres" else 7
    assert make_sql_store.raw("SELECT COUNT(*) FROM step_history WHERE job_id = 'j'") == [(rows,)]


def _spoiled(group, make_sql_store, job_id: str) -> None:
    """Job ``job_id`` saved three times in one slice, its last history row then spoiled.

    The last row is the slice's, packed, on PostgreSQL; s2's on SQLite.
    """
    job = rec(job_id)
    group.create(job)
    done = Callbacks()

    def steps(store):
        for n in range(3):
            job.step, job.state = f"s{n}", JobState.RUNNING
            store.save(job)

    submit(group, done("slice"), steps)
    done.wait(1)
    make_sql_store.raw(
        "UPDATE step_history SET more = '[[1, 2' WHERE job_id = ? AND seq = "
        "(SELECT MAX(seq) FROM step_history WHERE job_id = ?)",
        (job_id, job_id),
    )


@ON_GROUP_STORES
def test_a_packed_row_edited_into_nonsense_is_named_and_the_rest_is_kept(group, make_sql_store):
    _spoiled(group, make_sql_store, "k")
    history = group.step_history("k")
    rows = ["a", "s0"] if make_sql_store.kind == "postgres" else ["a", "s0", "s1", "s2"]
    assert [row.step for row in history] == [*rows, rows[-1]]
    assert "further entries cannot be read" in history[-1].error
    assert len(group.history("k")) == len(rows) + 1


@ON_GROUP_STORES
def test_the_operators_history_shows_a_packed_row_edited_into_nonsense(group, make_sql_store):
    """Admin.history (and so `jobs show --history` and the dashboard) names it too."""
    _spoiled(group, make_sql_store, "u")
    entries = Admin(group).history("u")
    unreadable = [e for e in entries if e.kind == "unreadable"]
    assert len(unreadable) == 1
    assert "further entries cannot be read" in unreadable[0].error
    # Each save read is shown as the step it ended (the step the save before names).
    ran = ["a"] if make_sql_store.kind == "postgres" else ["a", "s0", "s1"]
    assert [e.step for e in entries if e.kind == "step"] == ran


def _packed_row(more):
    return ("j", 10, "s1", 1, "running", 10.0, "w1", None, None, 9.0, more)


_GOOD = [11, "s2", 1, "running", 11.0, None, 10.0]


@pytest.mark.parametrize(
    "bad",
    [
        [1e999, "s2", 1, "running", 11.0, None, 10.0],  # a seq no int holds
        ["11", "s2", 1, "running", 11.0, None, 10.0],  # a seq as text
        [11, "s2", 1e999, "running", 11.0, None, 10.0],  # an attempt no int holds
        [11, "s2", True, "running", 11.0, None, 10.0],  # an attempt that is no number
        [11, ["s2"], 1, "running", 11.0, None, 10.0],  # a step that is no name
        [11, "s2", 1, "bogus", 11.0, None, 10.0],  # a state no job has
        [11, "s2", 1, "running", "soon", None, 10.0],  # a time that is no number
        [11, "s2", 1, "running", 1e999, None, 10.0],  # a time past every clock
        [11, "s2", 1, "running", 11.0, {"e": 1}, 10.0],  # an error that is no text
        [11, "s2", 1, "running", 11.0, None, "soon"],  # a start that is no number
        [11, "s2", 1, "running", 11.0, None],  # an entry of six fields
    ],
)
def test_a_packed_entry_no_save_could_have_written_is_named_and_the_rest_kept(bad):
    import json

    read = unpack([_packed_row(json.dumps([_GOOD, bad, [*_GOOD[:0], 12, *_GOOD[1:]]]))])
    assert [e[1] for e in read if e[7] is None] == [10, 11, 12]  # every readable save
    named = [e for e in read if e[7] is not None]
    assert len(named) == 1
    assert "step history row 10: " in named[0][7]


@pytest.mark.parametrize("text", ["[" * 100_000, "1e999", "null", '{"a": 1}', "[[1, 2"])
def test_a_more_column_json_cannot_read_is_named_not_raised(text):
    read = unpack([_packed_row(text)])
    assert [e[1] for e in read] == [10, 10]
    assert read[0][7] is None
    assert "step history row 10: its further entries cannot be read" in read[1][7]


def test_a_version_7_sqlite_store_upgrades_and_reads_its_old_rows(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:7]:
        conn.execute("BEGIN IMMEDIATE")
        _apply(conn.execute, migration, SQLITE, "?")
        conn.execute("COMMIT")
    conn.execute(
        "INSERT INTO jobs (id, case_id, workflow, version, data, state, created_at, "
        "updated_at) VALUES ('o', 'o', 'w', 1, '{}', 'running', 1.0, 2.0)"
    )
    for seq, step in ((1, "a"), (2, "b")):
        conn.execute(
            "INSERT INTO step_history (job_id, seq, step, attempt, state, at, worker) "
            "VALUES ('o', ?, ?, 1, 'running', ?, 'old')",
            (seq, step, float(seq)),
        )
    conn.close()
    store = open_store(f"sqlite:///{path}", commit="slice")
    try:
        job = store.load("o")
        store.begin_slice()
        for step in ("c", "d"):
            job.step = step
            store.save(job)
        store.end_slice()
        steps = [row.step for row in store.step_history("o")]
        assert steps[:2] == ["a", "b"]
        assert steps[2:] == ["c", "d"]
    finally:
        store.close()


@pytest.mark.parametrize("commit", ["slice", "step"])
def test_the_other_commit_modes_read_back_every_save(make_sql_store, commit):
    store = make_sql_store(commit=commit)
    job = rec("m")
    store.create(job)
    store.begin_slice()
    for n in range(3):
        job.step = f"s{n}"
        store.save(job)
    store.end_slice()
    assert [row.step for row in store.step_history("m")] == ["a", "s0", "s1", "s2"]
    # A slice's saves are stored together (packed on PostgreSQL); each step's on its own.
    rows = 2 if (make_sql_store.kind, commit) == ("postgres", "slice") else 4
    assert make_sql_store.raw("SELECT COUNT(*) FROM step_history WHERE job_id = 'm'") == [(rows,)]


@pytest.mark.parametrize("commit", ["slice", "step"])
def test_several_jobs_histories_read_together_are_each_as_read_alone(make_sql_store, commit):
    """One query for many jobs' histories (the dashboard's case page): packed rows too."""
    store = make_sql_store(commit=commit)
    for name in ("p", "q", "r"):
        store.create(rec(name))
    for name, steps in (("p", 3), ("q", 1), ("p", 2), ("r", 4)):  # p's runs interleave q's
        job = store.load(name)
        store.begin_slice()
        for n in range(steps):
            job.step = f"{name}{n}"
            store.save(job)
        store.end_slice()
    asked = ["r", "nobody", "p", "q", "p"]
    together = store.step_histories(asked)
    assert list(together) == ["r", "nobody", "p", "q"]  # each once, in the order asked
    assert together == {job_id: store.step_history(job_id) for job_id in together}
    assert [len(together[job_id]) for job_id in ("p", "q", "r")] == [6, 2, 5]
    jobs = store.stored_jobs(asked)
    assert sorted(jobs) == ["p", "q", "r"]  # the missing left out
    assert {job_id: repr(job) for job_id, job in jobs.items()} == {
        job_id: repr(store.stored_job(job_id)) for job_id in jobs
    }  # a JobRecord compares by identity


@pytest.mark.parametrize("commit", ["slice", "step"])
def test_each_jobs_last_entries_are_read_alone(make_sql_store, commit):
    """``last``: each job's most recent entries, packed rows cut to them (the dashboard)."""
    store = make_sql_store(commit=commit)
    for name in ("p", "q"):
        store.create(rec(name))
    for name, steps in (("p", 3), ("q", 1), ("p", 2)):
        job = store.load(name)
        store.begin_slice()
        for n in range(steps):
            job.step = f"{name}{n}"
            store.save(job)
        store.end_slice()
    whole = store.step_histories(["p", "q", "nobody"])
    assert [len(rows) for rows in whole.values()] == [6, 2, 0]
    for last in (0, 1, 3, 6, 10):
        assert store.step_histories(["p", "q", "nobody"], last=last) == {
            job_id: rows[-last:] if last else [] for job_id, rows in whole.items()
        }, last
