"""The workers' leases as an operator reads them: who is live, who stopped, what each holds.

Run against every store. Times are given on the store's clock (``lease_time``), as
``worker_leases`` reads and answers them: PostgreSQL's server clock.
"""

from functools import partial

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
    asked = []
    read = store._read

    def kept(sql, params, what):
        asked.append((sql, params))
        return read(sql, params, what)

    store._read = kept
    assert store.worker_leases(_clock(store, 100.0), 10).listed[0].cases == 3
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
