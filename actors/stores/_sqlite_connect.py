"""Opening a SQLite store's connections: WAL mode, ``synchronous``, the busy timeout.

``SqliteStore`` opens one connection per thread with ``connect`` and keeps them in a
weak set, so that ``close()`` can close every thread's connection.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sqlite3
import time
import urllib.parse
from typing import Any

from actors._errors import StoreError
from actors._seconds import seconds_option
from actors._text import read_sqlite_text
from actors.stores._sql_admin import LOCK_WAIT_MAX_MS
from actors.stores._sqlite_foreign import peek_foreign, refuse_foreign

__all__ = [
    "SqliteConnection",
    "abandon",
    "busy_seconds",
    "cannot_open_hint",
    "companions_replaced",
    "connect",
    "damaged",
    "enter_wal",
    "file_identity",
    "refuse_directory",
    "refused_hint",
]

# SQLite's messages for the refusals ``refused_hint`` explains, by primary result code:
# a writer process's error comes back as its text alone.
_MESSAGES = {
    "database is locked": sqlite3.SQLITE_BUSY,
    "database table is locked": sqlite3.SQLITE_LOCKED,
    "attempt to write a readonly database": sqlite3.SQLITE_READONLY,
    "database or disk is full": sqlite3.SQLITE_FULL,
    "database disk image is malformed": sqlite3.SQLITE_CORRUPT,
    "file is not a database": sqlite3.SQLITE_NOTADB,
    "disk I/O error": sqlite3.SQLITE_IOERR,
}


class SqliteConnection(sqlite3.Connection):
    """A connection ``close()`` can find through a weak reference.

    Each thread holds its own; when the thread ends, its connection is collected (and
    closed) with the thread's locals, so restarted runners do not pile up connections.
    """

    companions: tuple[tuple[int, int] | None, ...] | None = None
    """The ``-wal`` and ``-shm`` files it opened (``file_identity``), for a writer."""
    folder: tuple[int, int, int, int] | None = None
    """Its directory as the last full look at those files found it (``_sqlite_file``)."""


_ABANDONED: list[sqlite3.Connection] = []  # never closed: see abandon


def companions_replaced(conn: SqliteConnection, path: str) -> bool:
    """Whether the ``-wal`` or ``-shm`` file beside ``path`` is no longer the one ``conn`` has.

    Deleted under a running store, SQLite goes on committing to the files it has open,
    where no other process reads, while other processes make new ones; and closing the
    connection checkpoints its old log into the database and deletes the new log, with
    every commit the others made to it. So a store refuses to write once they changed,
    and ``abandon`` keeps its connections from being closed.
    """
    if conn.companions is None:  # read-only: it writes nothing
        return False
    now = _companions(path)
    # A file not there yet when it connected is its own once made (a new database).
    known = zip(conn.companions, now, strict=True)
    conn.companions = tuple(n if k is None else k for k, n in known)
    return now != conn.companions


def abandon(conn: sqlite3.Connection) -> None:
    """Never close ``conn``: its close would undo other processes' work (``companions_replaced``).

    A reference is not enough: the interpreter's exit finalizes what modules hold, and
    closes the connection then. One count more than any reference drops keeps it open
    until the process ends, when the system lets go of its files without a checkpoint.
    """
    if any(kept is conn for kept in _ABANDONED):
        return
    _ABANDONED.append(conn)
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(conn))


def _companions(path: str) -> tuple[tuple[int, int] | None, ...]:
    return (file_identity(f"{path}-wal"), file_identity(f"{path}-shm"))


def file_identity(path: str) -> tuple[int, int] | None:
    """The device and inode of the file at ``path``; None if it is missing or has none.

    SQLite goes on writing to the file it has open after that file is deleted or
    replaced, where nobody will ever read it: a store compares this before it writes.
    """
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_dev, found.st_ino) if found.st_ino else None


def busy_seconds(value: Any) -> float:
    """``busy_timeout`` as a store keeps it; ``ValueError`` for what is no such time.

    SQLite keeps it as an ``int`` of milliseconds, where a longer one reads back as 0
    (no wait at all): it is cut to the longest the database takes (about 24.8 days).
    """
    return min(seconds_option("busy_timeout", value), LOCK_WAIT_MAX_MS / 1000)


def _not_opened(path: str, exc: sqlite3.Error) -> StoreError:
    """The error for a connection to ``path`` that could not be opened.

    It says nothing of a job (``blames_job``): a thread of a worker whose process has no
    file descriptor left (``unable to open database file``) faulted every case it ran as
    one whose saves always fail; they wait for the next poll, as in an outage.
    """
    error = StoreError(
        f"cannot open the SQLite store at {path!r}: {exc}{cannot_open_hint(path, exc)}"
    )
    error.blames_job = False
    return error


def connect(
    path: str, *, read_only: bool, busy_timeout: float, synchronous: str, vet: bool = False
) -> SqliteConnection:
    """A new connection to the store's file, in WAL mode unless ``read_only``.

    ``synchronous`` is ``"NORMAL"`` or ``"FULL"`` (checked by the caller). Raises
    ``StoreError`` when the file cannot be opened or put in WAL mode. With ``vet`` (the
    store's first connection), ``ForeignDatabaseError`` first when the file holds another
    application's tables (``_sqlite_foreign``): WAL mode would be a write.
    """
    # Read-only: SQLite itself refuses every write on the connection, and opening
    # never creates the file.
    # fsencode: a path of bytes that are not UTF-8 (kept as surrogates) quotes as %FF.
    target = f"file:{urllib.parse.quote(os.fsencode(path))}?mode=ro" if read_only else path
    if vet:
        peek_foreign(path)
    try:
        conn = sqlite3.connect(
            target,
            uri=read_only,
            timeout=busy_timeout,
            isolation_level=None,  # autocommit: transactions are explicit BEGINs
            check_same_thread=False,  # only so close() may close it from any thread
            factory=SqliteConnection,
            cached_statements=256,
        )
    except sqlite3.Error as exc:
        raise _not_opened(path, exc) from exc
    # A column another program filled with bytes that are not UTF-8 reads as a NotUtf8
    # its row's reader names, where the default failed every read of the row.
    conn.text_factory = read_sqlite_text
    try:
        if vet:
            refuse_foreign(conn, path)
        if read_only:  # the file's journal mode, as its writers left it
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        else:
            mode = enter_wal(conn, busy_timeout)
        conn.execute(f"PRAGMA synchronous={synchronous}")  # checked by the caller
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    except sqlite3.Error as exc:
        conn.close()
        raise _not_opened(path, exc) from exc
    except StoreError:
        conn.close()
        raise
    if str(mode).lower() != "wal" and not read_only:
        conn.close()
        msg = f"cannot put the SQLite store at {path!r} in WAL mode (got {mode!r})"
        raise StoreError(msg)
    if not read_only:
        conn.companions = _companions(path)
    return conn


def refuse_directory(path: str) -> None:
    """Raise ``StoreError`` if ``path`` is a directory (SQLite says only "unable to open")."""
    if os.path.isdir(path):
        msg = (
            f"cannot open the SQLite store at {path!r}: it is a directory, not a database "
            "file; name a file (in it: sqlite:///dir/jobs.db)"
        )
        raise StoreError(msg)


# SQLITE_READONLY | 6 << 8; the sqlite3 module names it only where its SQLite has it.
_READONLY_DIRECTORY = getattr(sqlite3, "SQLITE_READONLY_DIRECTORY", 1544)


def _descriptors_hint() -> str:
    """Why SQLite could not open a file, if it is that this process has no descriptor left.

    SQLite says only "unable to open database file", which reads as a wrong path.
    """
    try:
        import resource  # POSIX only
    except ImportError:
        return ""
    try:
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        held = len(os.listdir("/proc/self/fd")) - 1  # less the listing's own
    except OSError as exc:  # no /proc here; or the listing met the limit itself
        if exc.errno != errno.EMFILE:
            return ""
        held = limit
    if limit == resource.RLIM_INFINITY or held < limit - 1:
        return ""
    return (
        f" (this process holds {held} open files, at its limit of {limit} (ulimit -n): close"
        " the files it leaks, or raise the limit)"
    )


def cannot_open_hint(path: str, exc: BaseException) -> str:
    """Why SQLite cannot open a database: its directory cannot be written.

    A WAL database is read and written with its ``-wal`` and ``-shm`` files beside it;
    when they are not there (no connection has it open) and the directory is read-only
    to this user, SQLite says only "unable to open database file", which reads as a
    wrong path, or, from SQLite 3.22 on, "attempt to write a readonly database"
    (``SQLITE_READONLY_DIRECTORY``), which reads as a write by a command that only reads.
    So it does when a new database cannot be created there.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    folder = os.path.dirname(path) or "."
    if code is not None and code & 0xFF in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL):
        return _full_hint(folder)
    if code is None or (code & 0xFF != sqlite3.SQLITE_CANTOPEN and code != _READONLY_DIRECTORY):
        return ""
    if code & 0xFF == sqlite3.SQLITE_CANTOPEN and (hint := _descriptors_hint()):
        return hint
    if not os.path.isdir(folder) or os.access(folder, os.W_OK):
        return ""
    if not os.path.isfile(path):  # a new store: its file cannot be made either
        return (
            f" (there is no database there yet, and this user cannot create one in"
            f" {folder!r}: a read-only directory or file system; choose a path in a"
            " directory this user can write)"
        )
    return (
        f" (the file is there, but SQLite opens a WAL database with its -wal and -shm files"
        f" beside it, and this user cannot create them in {folder!r}: open it as a user"
        " who can write that directory, or from a copy in one)"
    )


def _full_hint(folder: str) -> str:
    """Why SQLite said "disk I/O error" at an open, if its file system is full ("" if not).

    With no space left, it cannot make the -shm file it opens a WAL database with, and
    names only an I/O error, which reads as a failing disk.
    """
    try:
        free = os.statvfs(folder).f_bavail
    except OSError:
        return ""
    if free:
        return ""
    return (
        f" (the file system that holds {folder!r} is full: SQLite could not make the -wal"
        " and -shm files it opens the database with; free space there)"
    )


def damaged(exc: BaseException | str) -> bool:
    """Whether SQLite's error ``exc`` (or its message) says the database file is damaged."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if code is not None else _MESSAGES.get(str(exc))
    return primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _file_size_limit() -> int | None:
    """The largest file this process may write, in bytes (``None``: no limit, or unknown)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else soft


def refused_hint(path: str, exc: BaseException | str, busy_timeout: float) -> str:
    """What an open store's file refused, in an operator's words ("" if nothing to add).

    SQLite says "database is locked", "attempt to write a readonly database" or
    "database or disk is full", which name neither the cause nor where to look.
    ``exc``: SQLite's error, or its message (as a writer process reports it).
    """
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if code is not None else _MESSAGES.get(str(exc))
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return (
            f" (another connection held the write lock of {path!r} for longer than the"
            f" store's busy_timeout of {busy_timeout:g} s: a long write of another program,"
            " such as a VACUUM or a transaction left open in a sqlite3 shell)"
        )
    if primary == sqlite3.SQLITE_READONLY:
        return (
            f" (this process may not write {path!r}: the file, or its directory where its"
            " -wal and -shm files are, is read-only to this user, or its file system is"
            " mounted read-only)"
        )
    if primary == sqlite3.SQLITE_FULL:
        folder = os.path.dirname(path) or "."
        return f" (the file system that holds {folder!r} is full; what was stored is kept)"
    if primary == sqlite3.SQLITE_IOERR and (limit := _file_size_limit()) is not None:
        # A write past the limit fails (SIGXFSZ is ignored): SQLite says only "disk I/O
        # error", which has many causes; this one is the process's own setting.
        return (
            f" (this process may write files of at most {limit:,} bytes (ulimit -f): a"
            f" write to {path!r} or its -wal file past that fails; what was stored is kept)"
        )
    if damaged(exc):
        return (
            f" (the file {path!r} is damaged: with no worker running, check it with"
            f" sqlite3 {path} 'PRAGMA integrity_check', and restore it from a backup or"
            " with the sqlite3 shell's .recover)"
        )
    return ""


def enter_wal(conn: sqlite3.Connection, busy_timeout: float) -> Any:
    """Switch to WAL, retrying while another connection briefly holds the file.

    Putting a new file in WAL mode needs an exclusive lock, and SQLite answers
    "database is locked" at once, without its busy handler, when connections
    opening the same new file race for it. So retry, backing off, for up to
    ``busy_timeout`` seconds, as the busy handler would.
    """
    deadline = time.monotonic() + busy_timeout
    delay = 0.001
    while True:
        try:
            return conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
