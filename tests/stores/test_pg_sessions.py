"""PostgreSQL sessions the server ends: a frozen worker's, and the pool's after a restart.

A worker frozen inside a transaction lets go of its locks before its lease runs out.

A worker stopped (SIGSTOP, a paused VM) between two statements of a write kept its
session's row locks for as long as its connection lived: once its lease ran out no other
worker could take its cases (claims pass over locked rows), and an operator's cancel
waited on them. The store's sessions end after ``IDLE_IN_TRANSACTION`` seconds idle in a
transaction, which the server enforces, frozen client or not. And a read on a
connection the server ended while it sat in the pool is made again on another.
"""

import time

import psycopg
import pytest
from bounds import wait_until
from records import record

from actors.stores import _pg_session, open_store

pytestmark = pytest.mark.postgres


def test_the_stores_sessions_end_an_idle_transaction_after_the_set_time(fresh_pg_url):
    store = open_store(fresh_pg_url)
    with store._pool.connection() as conn:
        shown = conn.execute("SHOW idle_in_transaction_session_timeout").fetchone()[0]
    store.close()
    assert shown == f"{int(_pg_session.IDLE_IN_TRANSACTION)}s"


def test_a_case_locked_by_a_frozen_transaction_is_taken_once_the_server_ends_it(
    fresh_pg_url, monkeypatch
):
    monkeypatch.setattr(_pg_session, "IDLE_IN_TRANSACTION", 0.5)
    other = open_store(fresh_pg_url)
    other.create(record("c"))
    frozen = open_store(fresh_pg_url)
    frozen.owner = "frozen"
    now = time.time()  # its lease, taken a minute ago for a second, has run out
    assert [job.id for job in frozen.claim("frozen", now - 60, 1.0, limit=1)] == ["c"]
    conn = frozen._pool.getconn()
    conn.autocommit = False
    conn.execute("SELECT id FROM jobs WHERE id = 'c' FOR UPDATE")  # then nothing: frozen
    taken: list[str] = []

    def takes() -> bool:
        taken.extend(job.id for job in other.claim("other", time.time(), 60.0, limit=1))
        return bool(taken)

    wait_until(takes, "the other worker to take the case")  # it skipped the locked row before
    assert taken == ["c"]
    with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):  # the server ended it
        conn.execute("SELECT 1")
    frozen._pool.putconn(conn)
    other.close()
    frozen.close()


def test_a_read_after_the_server_ended_the_pools_connections_is_answered(fresh_pg_url):
    """A database restart ends the pool's idle connections: the next read is not an error."""
    store = open_store(fresh_pg_url)
    store.create(record("c"))
    assert store.get("c") is not None
    with psycopg.connect(fresh_pg_url, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        ).fetchall()
    assert ended and all(row[0] for row in ended)
    assert store.get("c") is not None  # read again on a new connection
    store.close()
