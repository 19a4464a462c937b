"""Wake-ups across processes on SQLite: a thread that notices what others wrote.

SQLite has no ``NOTIFY``. What it has is ``PRAGMA data_version``: a number that changes
on a connection whenever another connection (of this process or another) committed to
the file, read from the WAL's shared index without touching the tables. A worker's
store watches it on a connection of its own, every ``TICK`` seconds; when it moved, one
indexed query asks whether a case is free (an unfinished root nobody holds: enqueued, or
released by a worker that stopped), and if one is, the process's watchers of the
database are woken (see ``_wake``) and claim it at once instead of at their next poll.
Then, for the workers of this process that watch for operators' requests, it reads the
requests written since its last look (by id, through the table's key) and wakes each
worker that holds the case of one still untaken: an event or a cancel sent by
``actors events send`` in another process is carried out at once too.

Polling stays the fallback: a watcher that cannot read the file says so once and tries
again a second later, and the workers still poll.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable

from actors._errors import StoreError
from actors._redact import redacted_logger
from actors.stores._sqlite_connect import connect
from actors.stores._statements import FREE_ROOT
from actors.stores._wake import notify, requests_topic, topic_key

__all__ = ["FREE_CASE", "NEW_REQUESTS", "TICK", "Watcher", "Watching"]

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

# The requests written after a given id and not taken yet, each with the worker holding
# its case (NULL if none does). A range of the table's key: a look reads the new rows
# alone, however many requests the store kept.
NEW_REQUESTS = (
    "SELECT r.id, (SELECT j.lease_owner FROM jobs j WHERE j.id = r.case_id "
    "AND j.lease_expires IS NOT NULL) FROM job_requests r "
    "WHERE r.id > ? AND r.taken_by IS NULL"
)
_LAST_REQUEST = "SELECT MAX(id) FROM job_requests"


class Watcher:
    """A thread that wakes the watchers of ``key`` for what others wrote to ``path``.

    Those of new cases (``key``) when a free case appears; those of the requests for a
    worker named in ``owners`` when a request for a case it holds appears.
    """

    def __init__(self, path: str, key: str, busy_timeout: float) -> None:
        self._path, self._key, self._busy_timeout = path, key, busy_timeout
        self._stop = threading.Event()
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self._owners: frozenset[str] = frozenset()
        self._served = self._looked = 0  # serve() calls, and those a look has seen
        self._seen = 0  # the id of the last request looked at (ids only grow, but see below)
        self._thread = threading.Thread(target=self._run, name="actors-sqlite-watch", daemon=True)

    def serve(self, owners: frozenset[str]) -> None:
        """Look for the requests of ``owners`` from now on (replacing the workers before).

        The next look counts as a change, so that a request written before a worker
        named here watched (and after its start looked for requests) is not left to its
        next poll.
        """
        self._owners = owners
        self._served += 1  # on the caller's thread alone (the store's lock): no race

    def start(self) -> None:
        """Start watching, with a first look on the caller's thread (see ``wakes``)."""
        try:
            self._wake(self.wakes())
        except (sqlite3.Error, StoreError):
            self._forget_connection()  # the thread opens the file again, and says why
        self._thread.start()

    def close(self) -> None:
        """Stop watching and close the connection (within about ``TICK`` seconds)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(1.0)

    def look(self) -> bool:
        """One look: whether a case is free and the file changed since the last look."""
        return "" in self.wakes()

    def wakes(self) -> list[str]:
        """One look: the topics to wake (``""``: a case is free; see ``requests_topic``).

        Nothing unless the file changed since the last look. The first look (at the
        start, and after the file could not be read) counts as a change: a case written
        meanwhile, after the worker's start looked for cases or while nobody watched,
        wakes as well. Opens the connection on first use; ``sqlite3.Error`` and
        ``StoreError`` propagate (the thread logs them and opens the file again).
        """
        conn = self._conn
        if conn is None:
            conn = self._conn = connect(
                self._path, read_only=True, busy_timeout=self._busy_timeout, synchronous="NORMAL"
            )
        # fetchall: each statement runs to its end, so no read transaction stays open to
        # hold back the WAL's checkpoints.
        served = self._served  # read once: a serve() from now on is seen by the next look
        version = conn.execute("PRAGMA data_version").fetchall()[0][0]
        # The first look has no version to compare.
        moved = version != self._version or served != self._looked
        self._version, self._looked = version, served
        if not moved:
            return []
        topics = [""] if conn.execute(FREE_CASE).fetchall()[0][0] is not None else []
        owners = self._owners
        if owners:
            topics.extend(requests_topic(owner) for owner in self._asked(conn, owners))
        return topics

    def _asked(self, conn: sqlite3.Connection, owners: frozenset[str]) -> set[str]:
        """The workers in ``owners`` holding the case of a request written since the last look."""
        last = conn.execute(_LAST_REQUEST).fetchall()[0][0] or 0
        # A prune that deleted the newest requests lets their ids be given again: look
        # from the start then (the rows not taken yet are few).
        seen = 0 if last < self._seen else self._seen
        if last == seen:
            return set()
        rows = conn.execute(NEW_REQUESTS, (seen,)).fetchall()
        # A request written after _LAST_REQUEST was read is in rows now and looked at
        # again next time: a second wake-up finds it taken, or takes it.
        self._seen = last
        return {owner for _, owner in rows if owner in owners}

    def _wake(self, topics: list[str]) -> None:
        for topic in topics:
            notify(topic_key(self._key, topic))

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
                    self._wake(self.wakes())
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


class Watching:
    """A store's watcher thread, shared by its watches of new cases and of requests.

    The thread runs while anything watches; the last stop ends it.
    """

    def __init__(self, path: str, key: str, busy_timeout: float) -> None:
        self._path, self._key, self._busy_timeout = path, key, busy_timeout
        self._lock = threading.Lock()
        self._watcher: Watcher | None = None
        self._count = 0
        self._owners: Counter[str] = Counter()
        self._closed = False

    def hold(self, owner: str | None, unwatch: Callable[[], None]) -> Callable[[], None]:
        """Watch (for worker ``owner``'s requests too, if named) until the returned stop.

        The stop calls ``unwatch`` first; a second call changes nothing.
        """
        with self._lock:
            if not self._closed:
                self._count += 1
                if owner is not None:
                    self._owners[owner] += 1
                if self._watcher is None:
                    self._watcher = Watcher(self._path, self._key, self._busy_timeout)
                    self._watcher.serve(frozenset(self._owners))  # in its first look
                    self._watcher.start()
                elif owner is not None:
                    self._watcher.serve(frozenset(self._owners))
        stopped = False

        def stop() -> None:
            nonlocal stopped
            unwatch()
            with self._lock:
                if stopped or self._closed:
                    stopped = True
                    return
                stopped = True
                self._count -= 1
                if owner is not None:
                    self._owners[owner] -= 1
                    if self._owners[owner] <= 0:
                        del self._owners[owner]
                watcher = self._watcher
                if watcher is not None and self._count > 0:
                    watcher.serve(frozenset(self._owners))
                    watcher = None
                elif watcher is not None:
                    self._watcher = None
            if watcher is not None:
                watcher.close()

        return stop

    def close(self) -> None:
        """Stop watching for good (the store closes)."""
        with self._lock:
            self._closed = True
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()
