"""Migration 9: ``jobs_free`` holds the unfinished roots no worker holds (SQLite).

A SQLite worker's watcher asks after every commit to the file whether a case is free.
Read through the unfinished roots' index, that look walked every case the workers hold,
and a worker with many cases parked on events paid for it many times a second. Through
``jobs_free`` it reads only the free roots. A store made before it (schema version 8)
upgrades with its rows in place, and the look gives the same answers. Since migration 16
``jobs_free_served`` (migration 14, the same rows by workflow) serves the look, and
``jobs_free`` is gone.
"""

import sqlite3
import time

from records import record

from actors.stores import open_store
from actors.stores._schema import MIGRATIONS, SQLITE, _apply
from actors.stores._sqlite_watch import FREE_CASE, Watcher
from actors.stores._statements import FREE_ROOT

INSERT = (
    "INSERT INTO jobs (id, case_id, workflow, version, data, state, parent_id, "
    "lease_owner, lease_expires, created_at, updated_at) "
    "VALUES (?, ?, 'w', 1, '{}', ?, ?, ?, ?, 1.0, 1.0)"
)
# (id, state, parent, owner, expiry): a held case with a waiting branch, a released case,
# a finished one, an enqueued one.
HELD = [
    ("h1", "waiting", None, "w", 1e10),  # a lease of the release before, till 2286
    ("h1.b", "waiting", "h1", "w", None),
    ("r1", "ready", None, "w", None),
    ("d1", "done", None, "w", None),
]
ENQUEUED = ("e1", "ready", None, None, None)


def _version_8_file(path, rows) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:8]:
        conn.execute("BEGIN IMMEDIATE")
        _apply(conn.execute, migration, SQLITE, "?")
        conn.execute("COMMIT")
    for job_id, state, parent, owner, expiry in rows:
        case = parent or job_id
        conn.execute(INSERT, (job_id, case, state, parent, owner, expiry))
    conn.close()


def _free_roots(path) -> list[str]:
    with sqlite3.connect(path) as conn:
        query = FREE_CASE.replace("SELECT MIN(workflow)", "SELECT id") + " ORDER BY id"
        return [row[0] for row in conn.execute(query)]


def test_a_version_8_sqlite_store_upgrades_and_its_watcher_reads_the_free_roots_index(tmp_path):
    path = tmp_path / "old.db"
    _version_8_file(path, [*HELD, ENQUEUED])
    store = open_store(f"sqlite:///{path}")
    watcher = Watcher(str(path), "sqlite:test-key", busy_timeout=1.0)
    try:
        check = sqlite3.connect(path)
        found = dict(check.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"))
        assert "WHERE lease_expires IS NULL AND parent_id IS NULL" in found["jobs_free_served"]
        assert "jobs_free" not in found  # migration 16: jobs_free_served holds the same
        plan = " ".join(str(row) for row in check.execute(f"EXPLAIN QUERY PLAN {FREE_CASE}"))
        assert "SEARCH jobs USING INDEX jobs_free_served" in plan, plan
        check.close()
        # The released case and the enqueued one; not the held, the branch or the finished.
        assert _free_roots(path) == ["e1", "r1"]
        assert watcher.look()
        store.claim("v", now=2.0, lease_seconds=5.0, limit=2)
        assert _free_roots(path) == []
        assert not watcher.look()  # the file changed, and no case is free
    finally:
        watcher.close()
        store.close()


def _in_free_index(path) -> list[str]:
    with sqlite3.connect(path) as conn:
        query = f"SELECT id FROM jobs INDEXED BY jobs_free_served WHERE {FREE_ROOT} ORDER BY id"
        return [row[0] for row in conn.execute(query)]


def test_a_workers_own_cases_never_enter_the_free_roots_index(tmp_path):
    path = tmp_path / "jobs.db"
    store = open_store(f"sqlite:///{path}")
    try:
        store.create(record("queued"))  # no owner: as `enqueue` writes it
        store.owner = "w"
        store.create(record("mine"))  # a worker's admission: leased as it is written
        store.create(record("mine.b", case_id="mine", parent_id="mine", branch_index=0))
        assert _in_free_index(path) == ["queued"]
        [taken] = store.claim("w", now=time.time(), lease_seconds=60.0, limit=5)
        assert taken.id == "queued" and _in_free_index(path) == []
        assert store.release("w") == 2  # both free to claim at once
        assert _in_free_index(path) == ["mine", "queued"]
    finally:
        store.close()
