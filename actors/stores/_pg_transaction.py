"""A transaction on a pooled PostgreSQL connection, past connections the server closed.

A connection the server ended while it sat in the pool (a restart, a failover, an
operator's ``pg_terminate_backend``) fails at its first use, the ``BEGIN``. Nothing of
the transaction ran then, so it is safe to begin again on another connection (the pool
drops the broken one): a database that is back is not reported as failing, and a group
of slices is not lost to it (their steps ran again). A failure once the transaction has
begun is the caller's: its statements may have run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import psycopg_pool

__all__ = ["transaction"]


@contextlib.contextmanager
def transaction(pool: psycopg_pool.ConnectionPool) -> Iterator[psycopg.Connection]:
    """A connection from ``pool`` inside a transaction (committed when the block ends).

    Each connection found closed at ``BEGIN`` is dropped for another, at most as many
    times as the pool holds connections (then the error is raised).
    """
    tries = pool.max_size + 1
    for attempt in range(tries):
        with pool.connection() as conn:
            begun = contextlib.ExitStack()
            try:
                begun.enter_context(conn.transaction())
            except psycopg.OperationalError:
                if conn.broken and attempt < tries - 1:
                    continue  # nothing ran on it; leaving the block gives it back to be dropped
                raise
            with begun:
                yield conn
            return
