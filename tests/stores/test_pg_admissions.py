"""PostgreSQL's batch of admissions (``create_many``): one statement, all of it or nothing."""

import psycopg
import pytest
from records import record, same

from actors import JobExistsError
from actors.stores._postgres import PostgresStore

pytestmark = pytest.mark.postgres


def _empty(url):
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE jobs, step_history, job_requests, join_arrivals, join_counts, workers"
        )


@pytest.fixture
def statements(monkeypatch):
    """The statements every cursor runs (one entry per statement, executemany's each)."""
    ran = []
    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def spied(cur, query, params=None, **kw):
        ran.append(str(query))
        return execute(cur, query, params, **kw)

    def spied_many(cur, query, params_seq, **kw):
        params_seq = list(params_seq)
        ran.extend(str(query) for _ in params_seq)
        return executemany(cur, query, params_seq, **kw)

    monkeypatch.setattr(psycopg.Cursor, "execute", spied)
    monkeypatch.setattr(psycopg.Cursor, "executemany", spied_many)
    return ran


def _inserts(ran):
    return [sql for sql in ran if "INSERT INTO jobs" in sql]


@pytest.mark.parametrize("history", [True, False])
def test_a_batch_of_admissions_is_one_statement(pg_url, statements, history):
    _empty(pg_url)
    store = PostgresStore(pg_url, max_size=2, history=history)
    try:
        jobs = [record(data={"n": i, "s": "é\x01\"'"}) for i in range(5)]
        statements.clear()
        store.create_many(jobs)
        assert len(_inserts(statements)) == 1
        for job in jobs:
            same(store.load(job.id), job)
        assert [job.id for job in store.unfinished()] == [job.id for job in jobs]  # in order
        expected = [("a", 1, "ready")] if history else []
        for job in jobs:
            assert [h[:3] for h in store.history(job.id)] == expected
    finally:
        store.close()


def test_a_refused_batch_leaves_no_row_and_no_history(pg_url, statements):
    _empty(pg_url)
    store = PostgresStore(pg_url, max_size=2)
    try:
        store.create(record("order-17", data={"n": 1}))
        with pytest.raises(JobExistsError, match="'order-17' already exists"):
            store.create_many([record("order-16"), record("order-17"), record("order-18")])
        assert store.existing(["order-16", "order-18"]) == set()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            rows = conn.execute("SELECT job_id FROM step_history ORDER BY job_id").fetchall()
        assert rows == [("order-17",)]
    finally:
        store.close()


def test_a_batch_json_cannot_carry_goes_as_a_statement_a_row(pg_url, statements, monkeypatch):
    # No admission's row holds a value JSON cannot carry today (its floats are times, a
    # due time is finite); a batch with one would go as one statement a row, as before.
    _empty(pg_url)
    monkeypatch.setattr("actors.stores._postgres.json_rows", lambda rows: None)
    store = PostgresStore(pg_url, max_size=2)
    try:
        jobs = [record(due=2.5), record()]
        store.create_many(jobs)
        assert len(_inserts(statements)) == 2
        for job in jobs:
            same(store.load(job.id), job)
            assert [h[:3] for h in store.history(job.id)] == [("a", 1, "ready")]
    finally:
        store.close()
