"""``sqlite:///path.db``: the embedded durable store, one SQLite file in WAL mode."""

from __future__ import annotations

import contextlib
import functools
import operator
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from actors._errors import StoreError
from actors.stores._codec import Codec
from actors.stores._schema import migrate
from actors.stores._sql import (
    COLUMNS,
    UPSERT,
    Execute,
    Row,
    SqlStore,
    chunks,
    history_insert,
    upsert,
    values_list,
)

__all__ = ["SqliteStore"]

T = TypeVar("T")

# SQLite rewrites an index entry whenever an UPDATE sets an indexed column, changed or
# not, and each rewritten index page is another page in the WAL at commit. A step's save
# rarely changes the indexed columns, so it sets the others in one statement and the
# indexed ones (state, due, finished_at, the lease) in a second that matches no row when
# none of them changed. That halves the cost of a save. parent_id never changes after a
# job is created, so a save leaves it alone.
_INDEXED = ("id", "state", "parent_id", "due")
_PLAIN_AT = tuple(i for i, c in enumerate(COLUMNS) if c not in _INDEXED)
_STATE_AT, _DUE_AT, _FINISHED_AT = COLUMNS.index("state"), COLUMNS.index("due"), len(COLUMNS) + 2
_plain_of = operator.itemgetter(*_PLAIN_AT)


@functools.lru_cache(maxsize=512)
def _update_plain(count: int) -> str:
    sets = ", ".join(f"{COLUMNS[i]} = v.column{k}" for k, i in enumerate(_PLAIN_AT, 1))
    width = len(_PLAIN_AT) + 2  # the plain columns, updated_at, id
    return (
        f"UPDATE jobs SET {sets}, updated_at = v.column{width - 1} "
        f"FROM (VALUES {values_list(width, count)}) AS v WHERE jobs.id = v.column{width}"
    )


@functools.lru_cache(maxsize=512)
def _update_indexed(count: int) -> str:
    # v: state, due, finished_at, id. Matches only the rows where one of them changed.
    return f"""
UPDATE jobs SET state = v.column1, due = v.column2,
    finished_at = CASE WHEN v.column3 IS NULL THEN NULL
                       ELSE COALESCE(jobs.finished_at, v.column3) END,
    lease_owner = CASE WHEN v.column3 IS NULL THEN jobs.lease_owner END,
    lease_expires = CASE WHEN v.column3 IS NULL THEN jobs.lease_expires END
FROM (VALUES {values_list(4, count)}) AS v
WHERE jobs.id = v.column4
  AND (jobs.state IS NOT v.column1 OR jobs.due IS NOT v.column2
       OR (jobs.finished_at IS NULL) != (v.column3 IS NULL)
       OR (v.column3 IS NOT NULL AND jobs.lease_owner IS NOT NULL))
"""


# Rows per statement: SQLite binds at most 32,766 parameters (since 3.32).
_ROWS_PER_STATEMENT = 500


class _Tx(Execute):
    """Statements on the writer's connection; queued job rows go in a few statements.

    A group's saves of jobs that exist take two ``UPDATE ... FROM (VALUES ...)``
    statements (the plain columns, then the indexed ones where they changed), new jobs
    one multi-row upsert, and the history one multi-row insert: a handful of calls
    into SQLite per commit rather than three per save.
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__()
        self._conn = conn

    def _execute(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> sqlite3.Cursor:
        return self._conn.executemany(sql, rows)

    def _write_rows(self, rows: list[Row], histories: list[Any]) -> None:
        execute = self._conn.execute
        for part in chunks([r for r in rows if r[3]], _ROWS_PER_STATEMENT):
            execute(upsert(len(part)), [v for r in part for v in r[0]])
        for part in chunks([r for r in rows if not r[3]], _ROWS_PER_STATEMENT):
            plain = [v for r in part for v in (*_plain_of(r[0]), r[0][-5], r[2].id)]
            if execute(_update_plain(len(part)), plain).rowcount != len(part):
                for r in part:  # a job saved before it was created: full rows
                    execute(UPSERT, r[0])
                continue
            indexed = [
                v
                for r in part
                for v in (r[0][_STATE_AT], r[0][_DUE_AT], r[0][_FINISHED_AT], r[2].id)
            ]
            execute(_update_indexed(len(part)), indexed)
        for part in chunks(histories, _ROWS_PER_STATEMENT * 4):
            execute(history_insert(len(part)), [v for h in part for v in h])


class _Connection(sqlite3.Connection):
    """A connection ``close()`` can find through a weak reference.

    Each thread holds its own; when the thread ends, its connection is collected (and
    closed) with the thread's locals, so restarted runners do not pile up connections.
    """


class SqliteStore(SqlStore):
    """Jobs in one SQLite file: WAL journal, ``synchronous=NORMAL``, a busy timeout.

    The Scheduler, the runners and producer threads all call the store, so each thread
    gets its own connection (``threading.local``). Every write runs in a
    ``BEGIN IMMEDIATE`` transaction: it takes the file's write lock up front, so two
    writers never deadlock upgrading read locks, and a writer that finds the lock taken
    waits up to ``busy_timeout`` seconds. Several processes may share the file.

    With ``synchronous=NORMAL`` in WAL mode a commit survives a crash of the process;
    the last commits before a power loss may be lost (``synchronous="FULL"`` keeps them,
    at the price of an fsync per save).

    Args:
        path: the database file (created if missing; its directory must exist).
        codec: encodes job data (see ``SqlStore``).
        retain: how many finished jobs to keep (see ``SqlStore``).
        history: whether each save appends a step-history row (see ``SqlStore``).
        commit: ``"step"`` or ``"slice"``: when saves commit (see ``SqlStore``).
        busy_timeout: seconds a writer waits for another writer's lock.
        synchronous: SQLite's ``synchronous`` pragma: ``"NORMAL"`` or ``"FULL"``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        codec: Codec | None = None,
        retain: int | None = None,
        history: bool = True,
        commit: str = "step",
        busy_timeout: float = 10.0,
        synchronous: str = "NORMAL",
    ) -> None:
        super().__init__(codec=codec, retain=retain, history=history, commit=commit)
        self.path = os.fspath(path)
        if self.path in ("", ":memory:") or self.path.startswith("file:"):
            msg = (
                f"SqliteStore needs a file path, got {self.path!r}; each thread has its own "
                "connection, so an in-memory SQLite database would differ per thread "
                "(use memory:// for an in-process store)"
            )
            raise StoreError(msg)
        if synchronous.upper() not in ("NORMAL", "FULL"):
            msg = f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}"
            raise ValueError(msg)
        self.url = f"sqlite:///{self.path}"
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous.upper()
        self._local = threading.local()
        self._conns: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._conns_lock = threading.Lock()
        self._closed = False
        conn = self._conn()
        try:
            migrate(conn)
        except sqlite3.Error as exc:
            self.close()
            msg = f"cannot set up the SQLite store at {self.path!r}: {exc}"
            raise StoreError(msg) from exc

    def _conn(self) -> _Connection:
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not self._closed:
            return conn
        if self._closed:
            msg = f"the store {self.url} is closed"
            raise StoreError(msg)
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,  # autocommit: transactions are explicit BEGINs
                check_same_thread=False,  # only so close() may close it from any thread
                factory=_Connection,
                cached_statements=256,
            )
        except sqlite3.Error as exc:
            msg = f"cannot open the SQLite store at {self.path!r}: {exc}"
            raise StoreError(msg) from exc
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute(f"PRAGMA synchronous={self._synchronous}")  # checked in __init__
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        except sqlite3.Error as exc:
            conn.close()
            msg = f"cannot open the SQLite store at {self.path!r}: {exc}"
            raise StoreError(msg) from exc
        if str(mode).lower() != "wal":
            conn.close()
            msg = f"cannot put the SQLite store at {self.path!r} in WAL mode (got {mode!r})"
            raise StoreError(msg)
        self._local.conn = conn
        with self._conns_lock:
            self._conns.add(conn)
        return conn

    _driver_errors = (sqlite3.Error,)

    def _transaction(self, fns: list[Callable[[Execute], Any]]) -> list[Any]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            tx = _Tx(conn)
            results = [fn(tx) for fn in fns]
            tx.flush()
            conn.execute("COMMIT")
        except BaseException:
            # If the transaction is gone already, the first error is the one to see.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return results

    def _read(self, sql: str, params: Sequence[Any], what: str) -> list[Any]:
        conn = self._conn()
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error(what, exc) from exc

    def _error(self, what: str, exc: Exception) -> StoreError:
        return StoreError(f"{self.url}: cannot {what}: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Commit queued writes, close every thread's connection; the store is then unusable."""
        self._stop_writer()
        self._closed = True
        with self._conns_lock:
            conns = list(self._conns)
            self._conns = weakref.WeakSet()
        for conn in conns:
            # Best effort: the file is consistent after every commit anyway.
            with contextlib.suppress(sqlite3.Error):
                conn.close()
