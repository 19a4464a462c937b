"""The workers' leases as an operator reads them: who is live, who stopped, what each holds.

Run against every store. Times are given on the store's clock (``lease_time``), as
``worker_leases`` reads and answers them: PostgreSQL's server clock.
"""

import time
from functools import partial

import pytest
from records import record

from actors import JobState

rec = partial(record, workflow="order", step="reserve")


def _clock(store, at):
    """``at`` (wall clock, as the workers give it) on the store's clock."""
    return store.lease_time(at)


def test_live_and_stopped_workers_with_the_cases_each_holds(store):
    for name in ("a", "b", "c", "d"):
        store.create(rec(name))
    taken = store.claim("w1", now=100.0, lease_seconds=10.0, limit=3)  # a, b, c
    store.claim("w2", now=100.0, lease_seconds=60.0, limit=5)  # d
    store.heartbeat("w3", now=100.0, lease_seconds=30.0)  # live, holds nothing
    store.owner = "w1"
    done = taken[2]
    done.state = JobState.DONE
    store.save(done)  # an ended case is nobody's to hold
    store.owner = None
    got = store.worker_leases(_clock(store, 120.0), 10)
    assert got.total == 3 and got.live == 2  # w1's lease ended at 110
    # The lease that ended first comes first: w1 stopped, its two cases wait.
    assert [(w.owner, w.cases) for w in got.listed] == [("w1", 2), ("w3", 0), ("w2", 1)]
    assert [w.expires for w in got.listed] == [
        _clock(store, 110.0),
        _clock(store, 130.0),
        _clock(store, 160.0),
    ]


def test_at_most_limit_workers_are_listed_and_the_rest_counted(store):
    for i in range(5):
        store.heartbeat(f"w{i}", now=100.0 + i, lease_seconds=10.0)
    got = store.worker_leases(_clock(store, 105.0), 2)
    assert [w.owner for w in got.listed] == ["w0", "w1"]
    assert got.total == 5 and got.live == 5
    none = store.worker_leases(_clock(store, 105.0), 0)
    assert none.listed == [] and none.total == 5


def test_a_store_no_worker_used_lists_none(store):
    store.create(rec("a"))
    got = store.worker_leases(_clock(store, 100.0), 10)
    assert got.listed == [] and got.total == 0 and got.live == 0


def test_a_workers_cases_are_counted_in_an_index_not_read_row_by_row(make_sql_store):
    """The count reads the lease index's entries alone: never a held case's row."""
    store = make_sql_store()
    for i in range(3):
        store.create(rec(f"c{i}"))
    store.claim("w1", now=100.0, lease_seconds=10.0, limit=3)
    leases, asked = _statements(store, lambda: store.worker_leases(_clock(store, 100.0), 10))
    assert leases.listed[0].cases == 3
    ((sql, params),) = asked
    if make_sql_store.kind == "sqlite":
        plan = " ".join(row[-1] for row in make_sql_store.raw(f"EXPLAIN QUERY PLAN {sql}", params))
        assert "SEARCH jobs USING INDEX jobs_lease (lease_owner=?)" in plan, plan
        # The table's cursor is only ever seeked lazily (DeferredSeek): no column of a
        # row of jobs is read, so no row is.
        ((root,),) = make_sql_store.raw("SELECT rootpage FROM sqlite_master WHERE name = 'jobs'")
        ops = make_sql_store.raw(f"EXPLAIN {sql}", params)
        tables = {op[2] for op in ops if op[1] == "OpenRead" and op[3] == root}
        assert tables, ops
        assert not [op for op in ops if op[2] in tables and op[1] in _ROW_READS], ops
    else:
        settings = "SET enable_seqscan = off; SET enable_bitmapscan = off; "
        plan = _pg_plan(make_sql_store.url, settings, sql, params)
        assert "Index Only Scan using jobs_lease on jobs" in plan, plan


def _statements(store, read_them):
    """What ``read_them()`` returns, and the statements (with parameters) it read with."""
    asked = []
    read = store._read

    def kept(sql, params, what):
        asked.append((sql, params))
        return read(sql, params, what)

    store._read = kept
    try:
        return read_them(), asked
    finally:
        del store._read


_ROW_READS = {"Column", "Rowid", "SeekRowid", "NotExists", "RowData", "FinishSeek"}


def _pg_plan(url, settings, sql, params):
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE jobs")  # the visibility map an index-only scan reads
        for setting in settings.split("; "):
            if setting.strip():
                conn.execute(setting)
        rows = conn.execute(f"EXPLAIN {sql.replace('?', '%s')}", params).fetchall()
    return "\n".join(row[0] for row in rows)


def test_admin_workers_says_who_is_live_and_what_each_holds(store):
    from actors.admin import Admin, WorkerInfo

    for name in ("a", "b"):
        store.create(rec(name))
    now = time.time()
    store.claim("gone", now=now - 100, lease_seconds=10.0, limit=1)  # a
    store.claim("here", now=now, lease_seconds=60.0, limit=1, case_id="b")
    with Admin(store, operator="olga") as admin:
        got = admin.workers()
        assert got.total == 2 and got.live == 1 and got.more == 0
        assert got.now == pytest.approx(store.lease_time(time.time()), abs=5)
        assert got.items == [
            WorkerInfo("gone", False, 1, store.lease_time(now - 90)),
            WorkerInfo("here", True, 1, store.lease_time(now + 60)),
        ]
        assert admin.workers(limit=1).more == 1
        with pytest.raises(ValueError, match="limit"):
            admin.workers(limit=-1)


def test_a_stopped_worker_is_listed_until_its_cases_are_taken_and_a_worker_starts(store):
    store.create(rec("a"))
    store.claim("old", now=100.0, lease_seconds=10.0, limit=1)
    store.heartbeat("idle", now=100.0, lease_seconds=10.0)
    # A worker starting (it takes its own cases back first) lets go of "idle" alone:
    # "old" still has a case held in its name, which waits for a takeover.
    start = {"lease_seconds": 60.0, "limit": 1, "reclaim": True, "workflows": [("other", 1)]}
    assert store.claim("new", now=200.0, **start) == []
    listed = store.worker_leases(_clock(store, 200.0), 10).listed
    assert [(w.owner, w.cases) for w in listed] == [("old", 1), ("new", 0)]
    assert [j.id for j in store.claim("new", now=201.0, lease_seconds=60.0, limit=1)] == ["a"]
    assert store.claim("newer", now=300.0, **start) == []
    listed = store.worker_leases(_clock(store, 300.0), 10).listed
    assert [(w.owner, w.cases) for w in listed] == [("new", 1), ("newer", 0)]


# -- what a starting worker reads (leases_held) ------------------------------------------------
# It read every held root for its expiry (145 ms on SQLite, 245 ms on PostgreSQL at
# 100,000 cases held) at every worker's start. It counts them in the lease index, as
# worker_leases does, and reads rows only of the leases of the release before (few or
# none) through jobs_claim, whose range leaves the held roots out.


def _reads_rows_of_jobs(make_sql_store, sql, params) -> bool:
    ((root,),) = make_sql_store.raw("SELECT rootpage FROM sqlite_master WHERE name = 'jobs'")
    ops = make_sql_store.raw(f"EXPLAIN {sql}", params)
    tables = {op[2] for op in ops if op[1] == "OpenRead" and op[3] == root}
    return any(op[2] in tables and op[1] in _ROW_READS for op in ops)


def test_the_leases_held_are_counted_in_the_lease_index_never_read_row_by_row(make_sql_store):
    store = make_sql_store()
    for i in range(4):
        store.create(rec(f"c{i}"))
    store.claim("w1", now=100.0, lease_seconds=10.0, limit=3)
    # A lease of the release before, on the fourth case: its row is read, for its expiry.
    make_sql_store.raw("UPDATE jobs SET lease_owner = 'was', lease_expires = 130.0 WHERE id = 'c3'")
    now = store.lease_time(100.0)
    held, asked = _statements(store, lambda: store.leases_held(now))
    assert held == [("w1", 3, 110.0), ("was", 1, 130.0)]
    counts = [(sql, params) for sql, params in asked if "COUNT(*)" in sql]
    assert len(counts) == 1
    ((sql, params),) = counts
    rest = [sql for sql, _ in asked if "COUNT(*)" not in sql]
    assert rest and all("lease_expires <" in s or "lease_expires >" in s for s in rest)
    if make_sql_store.kind == "sqlite":
        plan = " ".join(row[-1] for row in make_sql_store.raw(f"EXPLAIN QUERY PLAN {sql}", params))
        assert "SEARCH jobs USING INDEX jobs_lease (lease_owner=?)" in plan, plan
        assert not _reads_rows_of_jobs(make_sql_store, sql, params)
        for other in rest:  # the range of each state leaves out every HELD root
            plan = " ".join(row[-1] for row in make_sql_store.raw(f"EXPLAIN QUERY PLAN {other}"))
            assert "SEARCH jobs USING INDEX jobs_claim (state=? AND lease_expires" in plan, plan
    else:
        settings = "SET enable_seqscan = off; SET enable_bitmapscan = off; "
        plan = _pg_plan(make_sql_store.url, settings, sql, params)
        assert "Index Only Scan using jobs_lease on jobs" in plan, plan
        for other in rest:
            plan = _pg_plan(make_sql_store.url, settings, other, ())
            assert "jobs_claim" in plan, plan


def test_the_leases_held_beside_leases_of_the_release_before_under_the_same_name(
    make_sql_store,
):
    """A live worker's name on roots leased by the release before: each counted once."""
    store = make_sql_store()
    for i in range(5):
        store.create(rec(f"c{i}"))
    store.claim("w1", now=100.0, lease_seconds=10.0, limit=2)
    make_sql_store.raw("UPDATE jobs SET lease_owner = 'w1', lease_expires = 150.0 WHERE id = 'c2'")
    make_sql_store.raw("UPDATE jobs SET lease_owner = 'w1', lease_expires = 50.0 WHERE id = 'c3'")
    make_sql_store.raw("UPDATE jobs SET lease_owner = 'w2', lease_expires = 50.0 WHERE id = 'c4'")
    now = store.lease_time(100.0)
    # c0 and c1 (HELD, w1's row until 110) and c2 (its own expiry); not the lapsed c3, c4.
    assert store.leases_held(now) == [("w1", 3, 150.0)]
