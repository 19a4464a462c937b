"""Migration 7: ``jobs_due`` and ``jobs_finished`` hold only rows with a due time / finished.

A store made before it (schema version 6) upgrades through it with its rows in place, and
the queries those indexes serve (timers due, retention's oldest finished cases) give the
same answers and still use them.
"""

import sqlite3

import psycopg
import pytest
from records import record

from actors import JobState
from actors.stores import open_store
from actors.stores._schema import MIGRATIONS, POSTGRES, SQLITE, _apply

# (id, state, due, finished_at): a timer waiting, one due later, a finished case, a live one.
ROWS = [
    ("t1", "waiting", 5.0, None),
    ("t2", "waiting", 50.0, None),
    ("f1", "done", None, 100.0),
    ("r1", "ready", None, None),
]
INSERT = (
    "INSERT INTO jobs (id, case_id, workflow, version, data, state, due, finished_at, "
    "created_at, updated_at) VALUES (?, ?, 'w', 1, '{}', ?, ?, ?, 1.0, 1.0)"
)


def _check_upgraded(store) -> None:
    assert store.due_timers(10.0) == ["t1"]
    assert store.due_timers(60.0) == ["t1", "t2"]
    later = record("f2", state=JobState.DONE)
    store.create(later)
    assert store.prune(1) == 1  # the oldest finished case goes, its row found by the index
    assert store.get("f1") is None
    assert store.get("f2") is not None
    assert {job.id for job in store.unfinished()} == {"t1", "t2", "r1"}


def test_a_version_6_sqlite_store_upgrades_with_its_rows(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:6]:
        conn.execute("BEGIN IMMEDIATE")
        _apply(conn.execute, migration, SQLITE, "?")
        conn.execute("COMMIT")
    for job_id, state, due, finished in ROWS:
        conn.execute(INSERT, (job_id, job_id, state, due, finished))
    conn.close()
    store = open_store(f"sqlite:///{path}")
    try:
        check = sqlite3.connect(path)
        found = dict(check.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"))
        assert found["jobs_due"].endswith("WHERE due IS NOT NULL")
        assert found["jobs_finished"].endswith("WHERE finished_at IS NOT NULL")
        for query, index in (
            ("SELECT id FROM jobs WHERE due <= 1 ORDER BY due", "jobs_due"),
            (
                "SELECT id FROM jobs WHERE finished_at IS NOT NULL "
                "ORDER BY finished_at DESC, id DESC LIMIT -1 OFFSET 1",
                "jobs_finished",
            ),
        ):
            plan = " ".join(str(row) for row in check.execute(f"EXPLAIN QUERY PLAN {query}"))
            assert index in plan, plan
        check.close()
        _check_upgraded(store)
    finally:
        store.close()


@pytest.mark.postgres
def test_a_version_6_postgres_store_upgrades_with_its_rows(fresh_pg_url):
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        for migration in MIGRATIONS[:6]:
            with conn.transaction():
                _apply(conn.execute, migration, POSTGRES, "%s")
        for job_id, state, due, finished in ROWS:
            conn.execute(INSERT.replace("?", "%s"), (job_id, job_id, state, due, finished))
    store = open_store(fresh_pg_url, max_size=2)
    try:
        with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
            found = dict(
                conn.execute(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'jobs'"
                ).fetchall()
            )
        assert found["jobs_due"].endswith("WHERE (due IS NOT NULL)")
        assert found["jobs_finished"].endswith("WHERE (finished_at IS NOT NULL)")
        _check_upgraded(store)
    finally:
        store.close()
