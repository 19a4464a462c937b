"""Writes on a PostgreSQL store pass over connections the server closed in the pool.

A server restart, a failover or an operator's ``pg_terminate_backend`` ends the store's
pooled connections while they sit idle; each failed at its next use, the ``BEGIN`` of a
write. So once the database was back, a worker's next heartbeat reported it out of
reach, and each group commit that met such a connection was lost (its slices' steps ran
again). Nothing of a transaction has run when its ``BEGIN`` fails: it begins again on
another connection.
"""

from __future__ import annotations

import threading
from functools import partial

import psycopg
import pytest
from records import record

from actors import JobState
from actors.stores._postgres import PostgresStore

pytestmark = pytest.mark.postgres

NAME = "actors_stale"
rec = partial(record, workflow="order", step="reserve")


@pytest.fixture
def url(pg_database):
    return pg_database(NAME)


def _end_connections(pg_server) -> int:
    """End every connection to the database, as a server's restart does; how many."""
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
            (NAME,),
        ).fetchone()
    return int(row[0]) if row else 0


def _fill(store: PostgresStore, n: int) -> None:
    """Put ``n`` connections in the store's pool (each opened by a thread of its own)."""
    held, go = threading.Barrier(n), threading.Event()

    def hold() -> None:
        with store._pool.connection():
            held.wait()
            go.wait()

    threads = [threading.Thread(target=hold) for _ in range(n)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join()


def test_writes_after_the_server_ended_every_pooled_connection(pg_server, url):
    store = PostgresStore(url, commit="group", max_size=4)
    try:
        store.owner = "w"
        _fill(store, 4)
        assert _end_connections(pg_server) >= 4
        store.heartbeat("w", now=100.0, lease_seconds=10.0)  # a transaction of its own
        job = rec("a")
        store.create(job)
        assert _end_connections(pg_server) >= 1
        store.begin_slice()
        job.state = JobState.DONE
        store.save(job)
        stored = threading.Event()
        errors: list[BaseException | None] = []
        store.end_slice(lambda error: (errors.append(error), stored.set()))
        assert stored.wait(10)
        assert errors == [None]  # the group was stored
        saved = store.get("a")
        assert saved is not None
        assert saved.state is JobState.DONE
    finally:
        store.close()


def test_a_read_after_the_server_ended_every_pooled_connection(pg_server, url):
    # A worker's start reads the cases it takes back: a read that met two closed
    # connections in a row failed, and the worker exited ("the engine could not start").
    store = PostgresStore(url, max_size=4)
    try:
        store.create(rec("a"))
        _fill(store, 4)
        assert _end_connections(pg_server) >= 4
        job = store.get("a")
        assert job is not None
        assert job.id == "a"
    finally:
        store.close()
