"""A prune deletes a few hundred cases per transaction, never all of them in one.

It deleted every case it found in one transaction: on SQLite a prune of 600,000 cases
held the database's write lock for 10 s, and every worker on the store waited for it.
"""

import sqlite3

import pytest
from records import record

from actors import JobState
from actors.stores import _sql_prune


def _case(store, case_id: str, *, state: JobState = JobState.DONE, branches: int = 1) -> None:
    store.create(record(case_id, state=JobState.RUNNING))
    kids = [
        record(f"{case_id}.{i}", case_id=case_id, parent_id=case_id, branch_index=i)
        for i in range(branches)
    ]
    store.create_many(kids)
    for job in kids:
        job.state = JobState.DONE
        store.save(job)
    root = store.get(case_id)
    assert root is not None
    stored = record(case_id, state=state)
    stored.attempt = root.attempt
    store.save(stored)


def test_a_prune_deletes_its_cases_a_batch_per_transaction(
    sql_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sql_prune, "PRUNE_BATCH", 3)
    for n in range(10):
        _case(sql_store, f"case-{n:02}", branches=2)
    _case(sql_store, "case-04b", state=JobState.WAITING)  # unfinished: kept
    write = type(sql_store)._write
    batches: list[tuple[list[str], int]] = []

    def counting(self, fn, what, *args, **kwargs):
        result = write(self, fn, what, *args, **kwargs)
        if what == "prune finished cases":
            batches.append(result)
        return result

    monkeypatch.setattr(type(sql_store), "_write", counting)
    assert sql_store.prune_cases(float("inf")) == (10, 30)
    assert len(batches) == 4  # one transaction held the lock for them all
    assert [len(roots) for roots, _ in batches] == [3, 3, 3, 1]
    assert sql_store.get("case-04b") is not None
    assert sql_store.get("case-04b.0") is not None
    assert all(sql_store.get(f"case-{n:02}") is None for n in range(10))
    assert sql_store.prune_cases(float("inf")) == (0, 0)


def test_a_batch_on_sqlite_walks_the_ids_from_the_last_one(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not every root, sorted, for every batch (SQLite's pick without statistics)."""
    from actors.stores import SqliteStore

    store = SqliteStore(tmp_path / "jobs.db")
    for n in range(4):
        _case(store, f"case-{n}")
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced)
    monkeypatch.setattr(_sql_prune, "PRUNE_BATCH", 3)
    store.close()
    store = SqliteStore(tmp_path / "jobs.db")
    assert store.prune_cases(1e12) == (4, 8)
    store.close()
    picks = [s for s in statements if s.startswith("SELECT r.id FROM jobs r")]
    assert len(picks) == 2
    with connect(tmp_path / "jobs.db") as check:
        for sql in picks:
            plan = [row[3] for row in check.execute(f"EXPLAIN QUERY PLAN {sql}")]
            assert plan[0].startswith("SEARCH r USING INDEX sqlite_autoindex_jobs_1 (id>?)"), plan
            assert not any("TEMP B-TREE" in step for step in plan), plan


@pytest.mark.postgres
def test_a_batch_on_postgresql_looks_each_root_up(pg_url, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a join of the roots with every case's jobs past the cursor (85 ms a batch)."""
    import psycopg

    from actors.stores._postgres import PostgresStore

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("TRUNCATE jobs, step_history, job_requests, join_arrivals, join_counts")
    store = PostgresStore(pg_url)
    _case(store, "case-0")
    write = PostgresStore._write
    picks: list[tuple[str, tuple]] = []

    def recording(self, fn, what, *args, **kwargs):
        def traced(execute):
            def run(sql, params=()):
                if sql.startswith("SELECT r.id FROM jobs r"):
                    picks.append((sql, params))
                return execute(sql, params)

            return fn(run)

        return write(self, traced, what, *args, **kwargs)

    monkeypatch.setattr(PostgresStore, "_write", recording)
    assert store.prune_cases(1e12) == (1, 2)
    store.close()
    [(sql, params)] = picks
    with psycopg.connect(pg_url, autocommit=True) as conn:
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql.replace("?", "%s"), params))
    assert "Anti Join" not in plan, plan
    assert "SubPlan" in plan, plan
