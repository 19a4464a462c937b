"""A PostgreSQL store reconnects promptly once its database is back, however long it was gone.

The store's connection pool retries a lost connection with a doubling delay (1, 2, 4 ...
seconds): after an outage of a minute its next try could come a minute after the
database was back, and a worker stood idle that long. The store bounds the pool's
retrying (``RECONNECT`` seconds), after which the next use of the store tries again at
once. Here time is scaled down tenfold (the pool's first delay 0.1 s, the bound 0.5 s):
an outage of 4 s stands for one of 40 s.
"""

from __future__ import annotations

import threading
import time

import psycopg_pool
import pytest
from pg_outage import database_accepts

from actors import StoreError
from actors.stores import _pg_open
from actors.stores._postgres import PostgresStore

pytestmark = pytest.mark.postgres

NAME = "actors_reconnect"
SCALE = 0.1  # the pool's first retry after 0.1 s instead of 1 s


@pytest.fixture
def url(pg_server, pg_database):
    yield pg_database(NAME)
    database_accepts(pg_server, NAME, accepts=True)


def test_the_store_reads_again_soon_after_a_long_outage_ends(pg_server, url, monkeypatch):
    monkeypatch.setattr(psycopg_pool.base.AttemptWithBackoff, "INITIAL_DELAY", SCALE)
    monkeypatch.setattr(_pg_open, "RECONNECT", _pg_open.RECONNECT * SCALE)
    store = PostgresStore(url, timeout=1.0)
    try:
        assert store.get("nothing") is None
        database_accepts(pg_server, NAME, accepts=False)
        down = time.monotonic()
        stop = threading.Event()
        # A worker's polls: the store is used every 0.2 s throughout the outage.
        while time.monotonic() - down < 40 * SCALE:
            with pytest.raises(StoreError):
                store.get("nothing")
            stop.wait(0.2)
        database_accepts(pg_server, NAME, accepts=True)
        back = time.monotonic()
        while True:
            try:
                store.get("nothing")
                break
            except StoreError:  # not yet: the pool has not reconnected
                assert time.monotonic() - back < 60 * SCALE, "no reconnection yet"
                stop.wait(0.05)
        # At the pool's own pace (its retrying not bounded) the store read again 1.4 to
        # 1.6 s after the database was back, here; bounded, within milliseconds.
        assert time.monotonic() - back < 0.8
    finally:
        store.close()
