"""Migration 16: a SQLite store keeps no ``jobs_parent`` and no ``jobs_free``.

Every admission wrote an entry into each index of ``jobs``, one WAL page each at its
commit. ``jobs_parent`` served only the statements that ask for roots, and those badly (it
walked every root the store ever held); ``jobs_free`` holds the rows ``jobs_free_served``
holds. Claims for any workflow and the watcher's look read ``jobs_free_served``; a store
of version 15 upgrades with its rows in place and gives the same answers, and releases
that named ``jobs_free`` refuse it.
"""

import sqlite3
import time

import pytest
from records import record

from actors import JobState
from actors._errors import SchemaTooNewError
from actors.stores import open_store
from actors.stores._schema import MIGRATIONS, SQLITE, _apply, check_newer
from actors.stores._sqlite_watch import Watcher

JOBS_INDEXES = {
    "jobs_case",
    "jobs_claim",
    "jobs_claimable",
    "jobs_due",
    "jobs_finished",
    "jobs_free_served",
    "jobs_lease",
    "jobs_listed",
    "jobs_listed_cases",
}


def _indexes(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        found = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' "
            "AND sql IS NOT NULL"  # not the primary key's own
        )
        return {row[0] for row in found}


def test_a_new_sqlite_store_writes_no_parent_or_free_index(tmp_path):
    open_store(f"sqlite:///{tmp_path / 'jobs.db'}").close()
    assert _indexes(tmp_path / "jobs.db") == JOBS_INDEXES


INSERT = (
    "INSERT INTO jobs (id, case_id, workflow, version, data, state, parent_id, "
    "lease_owner, lease_expires, created_at, updated_at) "
    "VALUES (?, ?, ?, 1, '{}', ?, ?, ?, ?, 1.0, 1.0)"
)


def test_a_version_15_store_upgrades_and_claims_the_same_cases(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:15]:
        conn.execute("BEGIN IMMEDIATE")
        _apply(conn.execute, migration, SQLITE, "?")
        conn.execute("COMMIT")
    assert {"jobs_parent", "jobs_free"} <= _indexes(path)
    rows = [  # (id, workflow, state, parent, owner, expiry), oldest first
        ("a1", "a", "ready", None, None, None),
        ("held", "a", "waiting", None, "w", 1e10),  # a live lease of the release before
        ("held.b", "a", "ready", "held", "w", None),
        ("b1", "b", "ready", None, None, None),
        ("done", "a", "done", None, None, None),
        ("a2", "a", "ready", None, None, None),
        ("b2", "b", "ready", None, None, None),
    ]
    for job_id, workflow, state, parent, owner, expiry in rows:
        conn.execute(INSERT, (job_id, parent or job_id, workflow, state, parent, owner, expiry))
    conn.close()
    store = open_store(f"sqlite:///{path}")
    watcher = Watcher(str(path), "sqlite:test-key", busy_timeout=1.0)
    try:
        assert _indexes(path) == JOBS_INDEXES
        with sqlite3.connect(path) as check:
            [(breaks,)] = check.execute(
                "SELECT breaks_older FROM schema_version WHERE version = 16"
            )
        assert breaks == 1
        assert watcher.look()
        # The oldest free cases of every workflow, oldest first; not the held or finished.
        taken = store.claim("v", now=2.0, lease_seconds=5.0, limit=3)
        assert [job.id for job in taken] == ["a1", "b1", "a2"]
        assert [job.id for job in store.claim("v", 2.0, 5.0, limit=5)] == ["b2"]
        assert not watcher.look()  # the file changed, and no case is free
    finally:
        watcher.close()
        store.close()


def test_a_release_that_names_the_free_index_refuses_the_upgraded_store(tmp_path, monkeypatch):
    path = tmp_path / "jobs.db"
    open_store(f"sqlite:///{path}").close()
    # A release of migration 15: it knows migrations 1 to 15 only.
    monkeypatch.setattr("actors.stores._schema.MIGRATIONS", MIGRATIONS[:15])
    with sqlite3.connect(path) as conn, pytest.raises(SchemaTooNewError, match="migration 16"):
        check_newer(conn, MIGRATIONS[-1].version)


def _steps(store, read) -> int:
    """SQLite's virtual-machine steps (in hundreds) of ``read()`` on the store's connection."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    store._conn().set_progress_handler(count, 100)
    try:
        read()
    finally:
        store._conn().set_progress_handler(None, 100)
    return steps[0]


def test_sqlite_the_leases_held_read_no_finished_case(tmp_path):
    """Listing the workers' leases costs the same beside 100 finished cases as 3,000."""
    costs = []
    for finished in (100, 3_000):
        store = open_store(f"sqlite:///{tmp_path / f'done{finished}.db'}")
        for n in range(finished):
            store.create(record(f"old{n}", state=JobState.DONE))
        for n in range(3):
            store.create(record(f"new{n}"))
        now = time.time()
        store.owner = "w"
        assert len(store.claim("w", now=now, lease_seconds=60.0, limit=3)) == 3
        held: list = []
        costs.append(_steps(store, lambda: held.extend(store.leases_held(now))))  # noqa: B023
        assert [(owner, n) for owner, n, _ in held] == [("w", 3)]
        store.close()
    # Through jobs_parent every root the store ever held was read: 30 times as many.
    assert costs[1] <= costs[0] + 2, costs


def test_sqlite_a_claim_for_any_workflow_reads_no_other_free_case(tmp_path):
    """Taking one case for any workflow costs the same with 100 cases waiting as 3,000."""
    costs = []
    for waiting in (100, 3_000):
        store = open_store(f"sqlite:///{tmp_path / f'free{waiting}.db'}")
        for n in range(waiting):
            store.create(record(f"a{n}", workflow="a"))
            store.create(record(f"b{n}", workflow="b"))
        taken: list = []
        now = time.time()
        claim = lambda: taken.extend(store.claim("v", now, 60.0, limit=1))  # noqa: B023, E731
        costs.append(_steps(store, claim))
        assert [job.id for job in taken] == ["a0"]
        store.close()
    assert costs[1] <= costs[0] + 2, costs
