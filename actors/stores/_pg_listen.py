"""``LISTEN``/``NOTIFY``: PostgreSQL wakes the workers of a store when cases are written.

``enqueue`` on a PostgreSQL store sends a ``NOTIFY`` on its store's channel after its
commit; every worker's store listens on one connection of its own, on a thread that wakes
the process's watchers of that store (see ``_wake``). An operator's request left for a
worker is sent on the same channel, its payload naming that worker's topic. Polling
stays: a worker whose listening connection is down still finds new cases and requests
at its next poll, and the thread reconnects.

A database's channels are shared by all its sessions, so each schema holding a store has
a channel of its own (``channel_of``): the workers of one schema are not woken for the
cases of another.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from actors._redact import redacted_logger
from actors.stores._pg_deadlines import GRACE, Deadlines
from actors.stores._wake import notify, topic_key

__all__ = ["CHANNEL", "Listener", "channel_of", "notify_store", "store_channel"]

CHANNEL = "actors_cases"
"""The channel of a store in the schema ``public`` (every store's, before schemas had
their own): workers of an earlier release on such a store are still woken."""

# The schema of the store's tables, as its statements find them (through the search_path).
_SCHEMA = (
    "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.oid = to_regclass('jobs')"
)


def channel_of(schema: str) -> str:
    """The ``NOTIFY`` channel of the store whose tables are in ``schema``.

    A channel is an identifier of at most 63 bytes, where a schema's name may be 63
    bytes of any characters: a schema other than ``public`` gets a digest of its name
    (128 bits), the same in every process, different for every schema.
    """
    if schema == "public":
        return CHANNEL
    digest = hashlib.sha256(schema.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{CHANNEL}_{digest[:32]}"


def store_channel(conn: psycopg.Connection[Any]) -> str:
    """The channel of the store ``conn``'s statements reach (``CHANNEL`` if none yet)."""
    row = conn.execute(_SCHEMA).fetchone()
    return CHANNEL if row is None else channel_of(str(row[0]))


def notify_store(conn: psycopg.Connection[Any], channel: str | None, topic: str = "") -> str:
    """Wake the workers of ``conn``'s store; returns its channel (``channel``, if known).

    ``topic`` is the payload: empty for new cases, else whom it wakes (``_wake``).
    """
    channel = channel or store_channel(conn)
    conn.execute("SELECT pg_notify(%s, %s)", (channel, topic))
    return channel


logger = redacted_logger("actors.stores")

# Seconds: how often the thread checks whether it should stop. Closing the store waits
# for the thread (its connection must be gone when close returns), so this bounds how
# long a worker's shutdown waits on it; a wake-up costs one poll of an idle socket.
_TICK = 0.05
_RETRY = 1.0  # seconds before reconnecting a lost listening connection


class Listener:
    """A thread that listens on its store's channel and wakes the watchers of ``key``.

    Its connection has the store's connect timeout and keepalives (``params``), and its
    ``LISTEN`` the store's bound (``deadlines``, ``bound``): a server that stops answering
    leaves it polling, never stuck. Waiting for a notification is no statement in flight.
    """

    def __init__(
        self,
        url: str,
        key: str,
        masked: str,
        params: dict[str, Any],
        deadlines: Deadlines,
        bound: Callable[[], float],
    ) -> None:
        self._url, self._key, self._masked = url, key, masked
        self._params, self._deadlines, self._bound = params, deadlines, bound
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="actors-listen", daemon=True)

    def start(self, timeout: float) -> None:
        """Start listening; returns once ``LISTEN`` is in place, or after ``timeout``.

        The wait is bounded as a statement is (never past ``timeout``): a Scheduler
        starts listening on its own thread, and a server that stops answering as the
        worker starts must not keep it from its first poll (which reports the outage)
        for as long as a connection may take to fail.
        """
        self._thread.start()
        self._ready.wait(min(timeout, self._bound() * (1 + GRACE)))

    def close(self) -> None:
        """Stop listening and close the connection (within about ``_TICK`` seconds)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5 * _TICK)

    def _run(self) -> None:
        lost = False
        said = logging.INFO  # the level of the line that says listening works again
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, **self._params) as conn:
                    self._deadlines.arm(conn, self._bound() * (1 + GRACE))
                    try:
                        channel = store_channel(conn)
                        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    finally:
                        self._deadlines.disarm(conn)
                    self._ready.set()
                    if lost:  # cases written while nobody listened: look for them now
                        logger.log(said, "listening for new cases on %s again", self._masked)
                        notify(self._key)
                    lost = False
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=_TICK):
                            notify(topic_key(self._key, note.payload))
            except psycopg.Error as exc:
                if not lost:
                    # The server gone (its connection lost, or refused) is the worker's
                    # outage, which its Scheduler tells once at WARNING and once at INFO
                    # when it ends: the listener's own pair would say it twice. A LISTEN
                    # refused by a server that answers is said, and its end too.
                    down = isinstance(exc, psycopg.OperationalError)
                    said = logging.DEBUG if down else logging.INFO
                # Once per outage: a server restarting fails every retry, a second apart,
                # and each would say the same.
                logger.log(
                    logging.DEBUG if lost or said == logging.DEBUG else logging.WARNING,
                    "listening for new cases on %s failed (%s); polling meanwhile",
                    self._masked,
                    type(exc).__name__,
                )
                self._ready.set()
                lost = True
                self._stop.wait(_RETRY)
