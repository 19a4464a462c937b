"""Wake-ups across processes on SQLite: a thread that notices cases written by others.

SQLite has no ``NOTIFY``. What it has is ``PRAGMA data_version``: a number that changes
on a connection whenever another connection (of this process or another) committed to
the file, read from the WAL's shared index without touching the tables. A worker's
store watches it on a connection of its own, every ``TICK`` seconds; when it moved, one
indexed query asks whether a case is free (an unfinished root nobody holds: enqueued, or
released by a worker that stopped), and if one is, the process's watchers of the
database are woken (see ``_wake``) and claim it at once instead of at their next poll.

Polling stays the fallback: a watcher that cannot read the file says so once and tries
again a second later, and the workers still poll.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading

from actors._errors import StoreError
from actors._redact import redacted_logger
from actors.stores._sqlite_connect import connect
from actors.stores._statements import FREE_ROOT
from actors.stores._wake import notify

__all__ = ["FREE_CASE", "TICK", "Watcher"]

logger = redacted_logger("actors.stores")

TICK = 0.01
"""Seconds between two looks at ``data_version``: the most a wake-up waits for a look."""

_RETRY = 1.0  # seconds before opening the file again after an error

# A free case that was never held or was released (its workflow; NULL when there is
# none). An expired lease is left to the polls: a dead worker's cases are found within its
# lease's time anyway. The free roots' partial index serves it (its first entry), so it
# reads no row of the cases workers hold: a look costs the same with 100,000 cases parked
# on events as with none. Named: without statistics SQLite's planner would take
# jobs_claimable, every unfinished root.
FREE_CASE = f"SELECT MIN(workflow) FROM jobs INDEXED BY jobs_free_served WHERE {FREE_ROOT}"


class Watcher:
    """A thread that wakes the watchers of ``key`` when a free case appears in ``path``."""

    def __init__(self, path: str, key: str, busy_timeout: float) -> None:
        self._path, self._key, self._busy_timeout = path, key, busy_timeout
        self._stop = threading.Event()
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self._thread = threading.Thread(target=self._run, name="actors-sqlite-watch", daemon=True)

    def start(self) -> None:
        """Start watching, with a first look on the caller's thread (see ``look``)."""
        try:
            if self.look():
                notify(self._key)
        except (sqlite3.Error, StoreError):
            self._forget_connection()  # the thread opens the file again, and says why
        self._thread.start()

    def close(self) -> None:
        """Stop watching and close the connection (within about ``TICK`` seconds)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(1.0)

    def look(self) -> bool:
        """One look: whether a case is free and the file changed since the last look.

        The first look (at the start, and after the file could not be read) counts as a
        change: a case written meanwhile, after the worker's start looked for cases or
        while nobody watched, wakes as well. Opens the connection on first use;
        ``sqlite3.Error`` and ``StoreError`` propagate (the thread logs them and opens the
        file again).
        """
        conn = self._conn
        if conn is None:
            conn = self._conn = connect(
                self._path, read_only=True, busy_timeout=self._busy_timeout, synchronous="NORMAL"
            )
        # fetchall: each statement runs to its end, so no read transaction stays open to
        # hold back the WAL's checkpoints.
        version = conn.execute("PRAGMA data_version").fetchall()[0][0]
        moved = version != self._version  # the first look has no version to compare
        self._version = version
        return moved and conn.execute(FREE_CASE).fetchall()[0][0] is not None

    def _forget_connection(self) -> None:
        conn, self._conn, self._version = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):  # closing a broken handle
                conn.close()

    def _run(self) -> None:
        failing = False
        try:
            while not self._stop.wait(TICK):
                try:
                    if self.look():
                        notify(self._key)
                    failing = False
                except (sqlite3.Error, StoreError) as exc:
                    # Once per outage at WARNING: each retry would say the same.
                    logger.log(
                        logging.DEBUG if failing else logging.WARNING,
                        "watching %s for new cases failed (%s: %s); polling meanwhile",
                        self._path,
                        type(exc).__name__,
                        exc,
                    )
                    failing = True
                    self._forget_connection()
                    self._stop.wait(_RETRY)
        finally:
            self._forget_connection()
