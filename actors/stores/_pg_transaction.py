"""A transaction or a read on a pooled PostgreSQL connection, past ones the server closed.

``write`` and ``write_group`` run a store's write in such a transaction, and turn the
driver's and the pool's errors into the store's; a group deadlocked with another
transaction is tried again (see ``write_group``).

A connection the server ended while it sat in the pool (a restart, a failover, an
operator's ``pg_terminate_backend``) fails at its first use, the ``BEGIN``. Nothing of
the transaction ran then, so it is safe to begin again on another connection (the pool
drops the broken one): a database that is back is not reported as failing, and a group
of slices is not lost to it (their steps ran again). A failure once the transaction has
begun is the caller's: its statements may have run. A connection cut because the server
did not answer in time (see ``_pg_deadlines``) is not tried again: the next would wait as
long.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
import psycopg_pool

from actors._errors import StoreError
from actors.stores._pg_deadlines import BoundedPool
from actors.stores._pg_group import as_one_statement
from actors.stores._statements import Execute, ExecuteMany

__all__ = ["read_rows", "transaction", "write", "write_group"]

T = TypeVar("T")

_GROUP_ATTEMPTS = 3


@contextlib.contextmanager
def transaction(pool: BoundedPool) -> Iterator[psycopg.Connection]:
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
                if conn.broken and not pool.cut(conn) and attempt < tries - 1:
                    continue  # nothing ran on it; leaving the block gives it back to be dropped
                raise
            with begun:
                yield conn
            return


def read_rows(pool: BoundedPool, sql: str, params: Sequence[Any], wait: float) -> list[Any]:
    """The rows of one read, made again on another connection if the server closed this one.

    A read is safe to repeat, on each of the pool's connections (each may have been ended
    while pooled), rather than report a database that is back. The attempts after the
    first wait ``wait`` at most for a connection: a database still away (refusing new
    ones) is reported as at the first, not after the pool's wait.
    """
    tries = pool.max_size + 1
    for attempt in range(tries):
        with pool.connection(timeout=None if attempt == 0 else wait) as conn:
            try:
                return conn.execute(sql, params).fetchall()
            except psycopg.OperationalError:
                if attempt < tries - 1 and conn.broken and not pool.cut(conn):
                    continue
                raise
    raise AssertionError  # unreachable: the last attempt returns or raises


def write(
    pool: BoundedPool,
    pg: Callable[[str], str],
    fn: Callable[[Execute], T],
    fail: Callable[[Exception], StoreError],
) -> T:
    """``fn`` in one transaction, its statements made by ``pg``; ``fail`` names an error."""
    try:
        with transaction(pool) as conn:

            def execute(sql: str, params: Sequence[Any]) -> Any:
                return conn.execute(pg(sql), params)

            return fn(execute)
    except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
        raise fail(exc) from exc


def write_group(
    pool: BoundedPool,
    pg: Callable[[str], str],
    fn: Callable[[Execute, ExecuteMany], T],
    fail: Callable[[Exception], StoreError],
) -> T:
    """A group's ``fn`` in one transaction, as ``write``; tried again if it deadlocked."""
    # A group locks its rows in insertion order, as claims do, but a heartbeat or a
    # Scheduler's save may still lock two of them the other way round: PostgreSQL
    # then aborts one transaction, and a group is simply tried again.
    for attempt in range(_GROUP_ATTEMPTS):
        try:
            with transaction(pool) as conn, conn.cursor() as cur:

                def execute(sql: str, params: Sequence[Any]) -> Any:
                    return conn.execute(pg(sql), params)

                def executemany(sql: str, params: Sequence[Sequence[Any]]) -> Any:
                    one = as_one_statement(sql, params)
                    if one is not None:
                        return conn.execute(pg(one[0]), one[1])
                    cur.executemany(pg(sql), params)  # pipelined by psycopg
                    return cur

                return fn(execute, executemany)
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as exc:
            if attempt == _GROUP_ATTEMPTS - 1:
                raise fail(exc) from exc
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise fail(exc) from exc
    raise AssertionError("unreachable")  # pragma: no cover
