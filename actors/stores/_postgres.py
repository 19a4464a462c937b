"""``postgresql://...``: a PostgreSQL store shared by many worker processes (psycopg 3).

This module imports psycopg and psycopg_pool at import time; ``actors.stores`` imports
it only when a PostgreSQL URL is opened, so the engine runs without them installed
(``pip install 'actors-mediator[postgres]'`` adds them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
import psycopg_pool

from actors._errors import StoreError
from actors.stores._codec import Codec
from actors.stores._schema import migrate
from actors.stores._sql import (
    Execute,
    Row,
    SqlStore,
    chunks,
    history_insert,
    mask_url,
    upsert,
)

__all__ = ["PostgresStore"]

T = TypeVar("T")

# Rows per statement: PostgreSQL binds at most 65,535 parameters.
_ROWS_PER_STATEMENT = 500


class _Tx(Execute):
    """Statements on the writer's connection; queued job rows go in a few statements.

    A group's saves take one multi-row upsert (each job's last version) and one
    multi-row history insert: two round trips per commit rather than one per save.
    """

    __slots__ = ("_conn", "_pg")

    def __init__(self, conn: psycopg.Connection[Any], pg: Callable[[str], str]) -> None:
        super().__init__()
        self._conn = conn
        self._pg = pg

    def _execute(self, sql: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
        return self._conn.execute(self._pg(sql), params)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> psycopg.Cursor[Any]:
        cur = self._conn.cursor()
        cur.executemany(self._pg(sql), rows)
        return cur

    def _write_rows(self, rows: list[Row], histories: list[Any]) -> None:
        execute = self._execute
        for part in chunks(rows, _ROWS_PER_STATEMENT):
            execute(upsert(len(part)), [v for r in part for v in r[0]])
        for part in chunks(histories, _ROWS_PER_STATEMENT * 4):
            execute(history_insert(len(part)), [v for h in part for v in h])


class PostgresStore(SqlStore):
    """Jobs in PostgreSQL, through a ``psycopg_pool.ConnectionPool``.

    Writes go through one writer thread that commits every write waiting at the time
    in one transaction (group commit, see ``SqlStore._write``): with PostgreSQL
    flushing its log at each commit, this is what lets many runners save after every
    step. Claims use ``SELECT ... FOR UPDATE SKIP LOCKED``; joins count arrivals
    under the parent row's lock (``SELECT ... FOR UPDATE``).

    Job data, events and arrivals are stored as JSON *text* made by the codec, not
    JSONB: text round-trips exactly (dict key order, NaN, the codec's tags as written)
    and the store never queries inside job data. A later migration can add a JSONB
    column if querying data in SQL is wanted.

    Args:
        url: a libpq URL (``postgresql://user:pass@host:5432/db`` or ``postgres://...``).
        codec: encodes job data (see ``SqlStore``).
        retain: how many finished jobs to keep (see ``SqlStore``).
        history: whether each save appends a step-history row (see ``SqlStore``).
        commit: ``"step"`` or ``"slice"``: when saves commit (see ``SqlStore``).
        min_size: connections the pool keeps open.
        max_size: most connections the pool opens (threads beyond it wait ``timeout``).
        timeout: seconds to wait for a connection (also bounds the first connect).
    """

    _limit_all = "LIMIT ALL"
    _for_update = " FOR UPDATE"
    _skip_locked = " FOR UPDATE SKIP LOCKED"
    _order = "seq"

    def __init__(
        self,
        url: str,
        *,
        codec: Codec | None = None,
        retain: int | None = None,
        history: bool = True,
        commit: str = "step",
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(codec=codec, retain=retain, history=history, commit=commit)
        self.url = mask_url(url)
        self._timeout = timeout
        self._statements: dict[str, str] = {}
        self._statements_lock = threading.Lock()
        try:
            # One plain connection first: a wrong URL fails here with libpq's reason
            # (a pool would only time out), and the schema is ready before the pool.
            with psycopg.connect(
                url, autocommit=True, connect_timeout=max(1, int(timeout))
            ) as conn:
                migrate(conn)
        except psycopg.Error as exc:
            msg = f"cannot open the PostgreSQL store at {self.url}: {_describe(exc)}"
            raise StoreError(msg) from exc
        self._pool = psycopg_pool.ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True},
            timeout=timeout,
            open=False,
            name="actors-store",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except psycopg_pool.PoolTimeout as exc:
            self._pool.close()
            msg = f"cannot open a connection pool to {self.url} within {timeout}s"
            raise StoreError(msg) from exc

    def _pg(self, sql: str) -> str:
        """``sql`` with ``%s`` placeholders (statements are written with ``?``)."""
        converted = self._statements.get(sql)
        if converted is None:
            converted = sql.replace("?", "%s")
            with self._statements_lock:
                self._statements[sql] = converted
        return converted

    _driver_errors = (psycopg.Error, psycopg_pool.PoolTimeout)

    def _transaction(self, fns: list[Callable[[Execute], Any]]) -> list[Any]:
        with self._pool.connection() as conn, conn.transaction():
            tx = _Tx(conn, self._pg)
            results = [fn(tx) for fn in fns]
            tx.flush()
            return results

    def _read(self, sql: str, params: Sequence[Any], what: str) -> list[Any]:
        try:
            with self._pool.connection() as conn:
                return conn.execute(self._pg(sql), params).fetchall()
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise self._error(what, exc) from exc

    def _error(self, what: str, exc: Exception) -> StoreError:
        return StoreError(f"{self.url}: cannot {what}: {_describe(exc)}")

    def close(self) -> None:
        """Commit queued writes, then close the connection pool."""
        self._stop_writer()
        self._pool.close()


def _describe(exc: BaseException) -> str:
    text = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return mask_url(text or type(exc).__name__)
