"""``sqlite:///path.db``: the embedded durable store, one SQLite file in WAL mode."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from actors._errors import JobExistsError, StoreError
from actors._job import JobRecord
from actors._text import printable
from actors.stores._codec import Codec
from actors.stores._group import Slice
from actors.stores._schema import check_current, migrate
from actors.stores._sql import GROUP_WAIT, SqlStore
from actors.stores._sql_admin import wait_ms
from actors.stores._sqlite_admit import admit_row
from actors.stores._sqlite_connect import (
    SqliteConnection,
    abandon,
    busy_seconds,
    companions_replaced,
    connect,
    damaged,
    refuse_directory,
    refused_hint,
)
from actors.stores._sqlite_file import FileCheck
from actors.stores._sqlite_fork import hold_across_forks
from actors.stores._sqlite_process import RemoteError, WriterProcess, decode_results, encode_group
from actors.stores._sqlite_saves import group_read, put_group, put_rows
from actors.stores._sqlite_watch import Watching
from actors.stores._statements import (
    Execute,
    ExecuteMany,
    SaveRow,
)

__all__ = ["SqliteStore"]

T = TypeVar("T")


def _shown_url(path: str) -> str:
    r"""The store's URL as messages show it (never reopened).

    A name's bytes that are not UTF-8 (surrogates in ``path``) are written ``\xff``, where
    printing them raised UnicodeEncodeError; its control characters ``\x1b``, where a
    header printing them drove the terminal.
    """
    return printable(f"sqlite:///{os.fsencode(path).decode('utf-8', 'backslashreplace')}")


class SqliteStore(SqlStore):
    """Jobs in one SQLite file: WAL journal, ``synchronous=NORMAL``, a busy timeout.

    The Scheduler, the runners and producer threads all call the store, so each thread
    gets its own connection (``threading.local``). A write takes the file's write lock up
    front (``BEGIN IMMEDIATE``, or an admission's one statement), so two writers never
    deadlock upgrading read locks, and one that finds the lock taken waits up to
    ``busy_timeout`` seconds. Several processes may share the file.

    With ``synchronous=NORMAL`` in WAL mode a commit survives a crash of the process;
    the last commits before a power loss may be lost (``synchronous="FULL"`` keeps them,
    at the price of an fsync per save).

    Args:
        path: the database file (created if missing; its directory must exist).
        codec: encodes job data (see ``SqlStore``).
        retain: how many finished jobs to keep (see ``SqlStore``).
        history: whether each save appends a step-history row (see ``SqlStore``).
        commit: ``"step"``, ``"slice"`` or ``"group"``: when saves commit (see ``SqlStore``).
        busy_timeout: seconds a writer waits for another writer's lock.
        synchronous: SQLite's ``synchronous`` pragma: ``"NORMAL"`` or ``"FULL"``.
        writer: with ``commit="group"``, where groups are stored: ``"thread"`` (on the
            writer thread's own connection) or ``"process"`` (by a child process the
            writer thread hands each group to, so that SQLite runs beside the worker's
            threads instead of taking turns with them for the GIL).
        read_only: open the existing file read-only (see ``SqlStore``).
        group_wait: how long a group may wait for more slices (see ``SqlStore``).
    """

    def __init__(  # noqa: PLR0913, PLR0915 - the store's options and parts
        self,
        path: str | os.PathLike[str],
        *,
        codec: Codec | None = None,
        retain: int | None = None,
        history: bool = True,
        commit: str | None = None,
        busy_timeout: float = 10.0,
        synchronous: str = "NORMAL",
        writer: str = "thread",
        read_only: bool = False,
        group_wait: float = GROUP_WAIT,
    ) -> None:
        if writer not in ("thread", "process"):
            msg = f"writer must be 'thread' or 'process', got {writer!r}"
            raise ValueError(msg)
        if commit is None:  # group commit, unless there is nothing to commit
            commit = "step" if read_only else "group"
        if writer == "process" and commit != "group":
            msg = (
                f"writer='process' runs group transactions; it needs commit='group', not {commit!r}"
            )
            raise ValueError(msg)
        super().__init__(
            codec=codec,
            retain=retain,
            history=history,
            commit=commit,
            read_only=read_only,
            group_wait=group_wait,
        )
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
        self._busy_timeout = busy_seconds(busy_timeout)
        self.url = _shown_url(self.path)
        self.wake_key = f"sqlite:{os.path.realpath(self.path)}"
        # Other processes' cases and requests, while anything watches.
        self._watching = Watching(self.path, self.wake_key, self._busy_timeout)
        self._synchronous = synchronous.upper()
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._conns: weakref.WeakSet[SqliteConnection] = weakref.WeakSet()
        self._conns_lock = threading.Lock()
        self._closed = False
        self.writer = writer
        # Saves outside a runner's slice (admissions, the Scheduler's) commit on their own,
        # between the writer thread's groups, on the process's write lock: a producer
        # then waits for its own commit, not for a whole group of runners' slices (one
        # producer admits 1.4 to 3 times as many cases so). A writer process holds no
        # lock of this process, so there they go through its groups instead.
        self._group_all = writer == "process"
        self._process: WriterProcess | None = None
        self._file = FileCheck(self.path, self.url)
        hold_across_forks(self)  # a fork copies no write transaction half-way
        if writer == "process" and self._writer is not None:
            # Looked up at each call, so that a test can stand in for either half.
            self._writer.pipeline(
                lambda slices: self._send_group(slices),  # noqa: PLW0108
                lambda slices, ticket: self._receive_group(slices, ticket),  # noqa: PLW0108
            )
        try:
            self._check_schema()
        except StoreError:
            self.close()
            raise
        except sqlite3.Error as exc:
            self.close()
            # A schema to bring up to date in a file this user may only read, say.
            hint = refused_hint(self.path, exc, self._busy_timeout)
            msg = f"cannot set up the SQLite store at {self.path!r}: {exc}{hint}"
            raise StoreError(msg) from exc
        self._file.opened()
        if writer == "process":
            # Started now: it imports while this process goes on, and is ready for the
            # first group. A child that cannot start is an error of opening the store.
            self._process = WriterProcess(self.path, self._busy_timeout, self._synchronous)
            try:
                self._process.start()
            except OSError as exc:
                self.close()
                msg = f"cannot start the writer process of the SQLite store at {self.path!r}: {exc}"
                raise StoreError(msg) from exc

    def _check_schema(self) -> None:
        """Bring the schema up to date; read-only, only check that it is (and the file is there)."""
        refuse_directory(self.path)
        if not self.read_only:
            migrate(self._conn(vet=True))
            return
        if not os.path.isfile(self.path):
            msg = f"no SQLite database at {self.path!r} (a read-only open creates none)"
            raise StoreError(msg)
        check_current(self._conn(vet=True), f"the SQLite database {self.path!r}")

    def _conn(self, *, vet: bool = False) -> SqliteConnection:
        """This thread's connection; ``vet``: refuse another application's file first."""
        conn: SqliteConnection | None = getattr(self._local, "conn", None)
        if conn is not None and not self._closed:
            return conn
        if self._closed:
            msg = f"the store {self.url} is closed"
            raise StoreError(msg)
        conn = connect(
            self.path,
            read_only=self.read_only,
            busy_timeout=self._busy_timeout,
            synchronous=self._synchronous,  # checked in __init__
            vet=vet,
        )
        self._local.conn = conn
        with self._conns_lock:
            self._conns.add(conn)
        return conn

    def _check_file(self, what: str) -> None:
        """Raise ``StoreError`` if the store's path no longer names the files it opened."""
        self._file.check(self._conn(), what, self._abandon_all)

    def _abandon_all(self) -> None:
        with self._conns_lock:
            for conn in list(self._conns):
                abandon(conn)  # now: a process may end without closing the store

    def _write(self, fn: Callable[[Execute], T], what: str) -> T:
        self._check_file(what)
        # One writer at a time within this process: threads queue on a Python lock and
        # hand over at once, where SQLite's own busy handler would make them sleep in
        # millisecond steps. Other processes still wait through busy_timeout.
        with self._write_lock:
            return self._write_locked(fn, what)

    def _write_locked(self, fn: Callable[[Execute], T], what: str) -> T:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(what, exc) from exc
        try:
            result = fn(conn.execute)
        except BaseException as exc:
            # If the transaction is gone already, the first error is the one to see.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._error(what, exc) from exc
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise self._error(what, exc) from exc
        return result

    def _write_waiting(self, fn: Any, what: str, lock_wait: float | None) -> Any:
        # A frozen writer of another process holds the file's write lock: the wait for it
        # is this connection's busy_timeout, shortened for this transaction only.
        if lock_wait is None:
            return self._write(fn, what)
        self._check_file(what)
        with self._write_lock:  # no other thread of this store writes under the short bound
            conn = self._conn()
            conn.execute(f"PRAGMA busy_timeout = {wait_ms(lock_wait)}")  # an int: no parameter
            try:
                return self._write_locked(fn, what)
            finally:
                conn.execute(f"PRAGMA busy_timeout = {wait_ms(self._busy_timeout)}")

    def _lock_timed_out(self, exc: BaseException | None) -> bool:
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY

    def _admit_one(self, row: SaveRow, what: str) -> None:
        # One autocommit statement (see _sqlite_admit), where a transaction took four.
        params, history, job = row
        self._check_file(what)
        with self._write_lock:
            try:
                stored = admit_row(self._conn(), params, history)
            except sqlite3.Error as exc:
                raise self._error(what, exc) from exc
        if not stored:
            raise JobExistsError(f"a job with id {job.id!r} already exists in {self.url}")

    def _save_one(self, job: JobRecord) -> None:
        rows = [self._row(job, time.time())]
        self._write(lambda execute: self._commit_rows(execute, rows), f"save job {job.id}")
        self._after_save([job])

    _put_rows = put_rows

    def _write_group(self, fn: Callable[[Execute, ExecuteMany], T], what: str) -> T:
        # _write runs on this thread's connection, so its executemany joins the transaction.
        return self._write(lambda execute: fn(execute, self._conn().executemany), what)

    # -- the writer process (writer="process"), on the writer thread --------------------------

    def _send_group(self, slices: list[Slice]) -> Any:
        """Hand a group to the writer process; what ``_receive_group`` needs for its answer."""
        process = self._process  # None once the store is closed
        if process is None:
            msg = f"the store {self.url} is closed"
            raise StoreError(msg)
        self._check_file(f"store a group of {len(slices)} slice(s)")
        try:  # a child that died is replaced here, by a new one
            return process.send(encode_group(self.owner, slices))
        except RemoteError as exc:
            return exc

    def _receive_group(self, slices: list[Slice], ticket: Any) -> list[BaseException | None]:
        """The writer process's answer for a group ``_send_group`` sent (in sending order)."""
        what = f"store a group of {len(slices)} slice(s)"
        process = self._process
        try:
            if isinstance(ticket, RemoteError):
                raise ticket
            if process is None:
                raise RemoteError("WriterProcessExited", "the SQLite writer process was stopped")
            results = decode_results(process.receive(ticket))
        except RemoteError as exc:
            hint = refused_hint(self.path, str(exc).partition(": ")[2], self._busy_timeout)
            error = StoreError(f"{self.url}: cannot {what}: {exc}{hint}")
            error.blames_job = exc.kind != "OperationalError"  # as _error judges it
            if damaged(str(exc).partition(": ")[2]):
                error.blames_job, error.stops_worker = False, True
            raise error from None
        stored = [part for part, error in zip(slices, results, strict=True) if error is None]
        self._after_save([job for part in stored for _, _, job in part.rows])
        return results

    def _group_rows(self, execute: Execute, ids: list[str]) -> dict[str, Sequence[Any]]:
        """The rows ``ids`` as ``put_group`` needs them read (``group_read``)."""
        return group_read(execute, ids)

    def _put_group(
        self,
        execute: Execute,
        executemany: ExecuteMany,
        rows: list[SaveRow],
        stored: dict[str, Sequence[Any]],
    ) -> None:
        put_group(executemany, rows, stored)

    def _read(self, sql: str, params: Sequence[Any], what: str) -> list[Any]:
        conn = self._conn()
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error(what, exc) from exc

    def _error(self, what: str, exc: sqlite3.Error) -> StoreError:
        hint = refused_hint(self.path, exc, self._busy_timeout)
        error = StoreError(f"{self.url}: cannot {what}: {type(exc).__name__}: {exc}{hint}")
        # A file locked too long, unreadable or gone says nothing of the job; a damaged
        # one neither, and no wait mends it.
        error.blames_job = not isinstance(exc, sqlite3.OperationalError) and not damaged(exc)
        error.stops_worker = damaged(exc)
        return error

    def watch(self, wake: Callable[[], None]) -> Callable[[], None]:
        """As ``Store.watch``; also notices cases written by other processes.

        While anything watches, a thread of the store looks at the file's
        ``data_version`` every 10 ms; the last stop ends it.
        """
        return self._watching.hold(None, super().watch(wake))

    def watch_requests(self, owner: str, wake: Callable[[], None]) -> Callable[[], None]:
        """As ``Store.watch_requests``; also notices requests written by other processes.

        By the same thread as ``watch``: requests for the cases ``owner`` holds.
        """
        return self._watching.hold(owner, super().watch_requests(owner, wake))

    def close(self) -> None:
        """Close every thread's connection; the store cannot be used afterwards."""
        self._watching.close()
        self._close_writer()
        self._closed = True
        process, self._process = self._process, None  # the writer thread has stopped
        if process is not None:
            process.close()
        # Under the write lock: a thread of this process inside a write transaction (a
        # runner storing its own slice once the writer thread stopped) commits first, and
        # later writes find the store closed. Closing a connection another thread is
        # executing on crashed the interpreter.
        with self._write_lock, self._conns_lock:
            conns = list(self._conns)
            self._conns = weakref.WeakSet()
            for conn in conns:
                if companions_replaced(conn, self.path):
                    abandon(conn)  # its close would delete the log other processes use
                    continue
                # Best effort: the file is consistent after every commit anyway.
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
