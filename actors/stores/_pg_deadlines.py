"""How long the PostgreSQL store waits for its server: a bound on every use of a connection.

A server that stops answering without closing its connections (frozen with SIGSTOP, a
network that drops packets, a machine that vanished) left a statement in flight waiting
for ever: TCP reports a silent peer only after its own timeouts (minutes, hours without
keepalives), and over a Unix socket nothing ever does. The worker then never learned that
its lease was running out, never reported the outage, and SIGTERM waited on the stuck
statement too.

Every connection the store's pool hands out is watched for as long as it is out: past its
bound (``STATEMENT_SHARE`` of the lease, ``statement_timeout`` on the server, and half as
much again here for the server's own cancellation to arrive) the connection is shut down
under the statement, which then fails as a lost connection does, and the caller reports
an outage as for a refused connection. The pool drops the connection.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import weakref
from typing import Any

import psycopg
import psycopg_pool

from actors._redact import redacted_logger
from actors.stores._pg_session import IDLE_IN_TRANSACTION

__all__ = [
    "GRACE",
    "MIN_BOUND",
    "STALL",
    "STALL_NOTED",
    "STATEMENT_SHARE",
    "TICK",
    "BoundedPool",
    "Deadlines",
]

STATEMENT_SHARE = 1 / 3
"""The share of the lease a statement may take (``statement_timeout`` on the server): the
statement fails, and its worker reports the outage, well before the lease expires."""
MIN_BOUND = 1.0
"""Seconds: the least bound, whatever the lease (a busy server may take that long)."""
GRACE = 0.5
"""The client cuts a connection at its bound and this share of it again later: a live
server cancels the statement itself first (cleanly, its connection kept)."""

TICK = 0.25
"""Seconds between the watching thread's looks while a connection is out."""
STALL = 1.0
"""Seconds: two looks this far apart mean that this process did not run in between (frozen
with SIGSTOP, a suspended VM): time the server is not to blame for."""

STALL_NOTED = 30.0
"""Seconds after a stall of this process during which a store error mentions it."""

logger = redacted_logger("actors.stores")


class Deadlines:
    """One thread that shuts down the connections held past their deadlines.

    ``arm`` and ``disarm`` cost a lock and a dictionary entry: the thread is woken only
    when a deadline is earlier than the one it sleeps towards.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        # connection -> (monotonic deadline, its bound in seconds)
        self._due: dict[Any, tuple[float, float]] = {}
        self._wake_at: float | None = None  # when the thread wakes (None: when armed)
        self._thread: threading.Thread | None = None
        self._closed = False
        self._cut: weakref.WeakSet[Any] = weakref.WeakSet()
        self._expired = threading.local()  # the bound the caller's last connection passed
        self._stall: tuple[float, float] | None = None  # the last: (woke at, seconds lost)
        self._ticked: float | None = None  # the last tick while a connection was out

    def arm(self, conn: Any, seconds: float) -> None:
        """Watch ``conn`` for ``seconds`` from now."""
        due = time.monotonic() + seconds
        self._expired.seconds = None
        with self._cond:
            self._due[conn] = (due, seconds)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="actors-pg-deadlines", daemon=True
                )
                self._thread.start()
            elif self._wake_at is None or due < self._wake_at:
                self._cond.notify()

    def disarm(self, conn: Any) -> bool:
        """Stop watching ``conn``; whether it was cut (then it must not be used again)."""
        with self._cond:
            armed = self._due.pop(conn, None)
            cut = conn in self._cut
            self._cut.discard(conn)
        if cut:
            self._expired.seconds = armed[1] if armed else None
        return cut

    def was_cut(self, conn: Any) -> bool:
        """Whether ``conn`` was cut and is not yet given back."""
        with self._cond:
            return conn in self._cut

    def expired(self) -> float | None:
        """The bound this thread's last connection was cut at, if it was (read once)."""
        seconds = getattr(self._expired, "seconds", None)
        self._expired.seconds = None
        return seconds

    def stall_note(self, now: float | None = None) -> str:
        """What to add to an error met within ``STALL_NOTED`` s of a stall of this process.

        A transaction the process left open while it was frozen longer than the server's
        ``idle_in_transaction_session_timeout`` is ended by the server, whose closed
        connection reads as a server that went away: the note says what happened first.
        """
        now = time.monotonic() if now is None else now
        with self._cond:
            stall = self._stall
            if self._ticked is not None and now - self._ticked > STALL:
                # The thread has not looked since it ran again: the caller came first.
                stall = (now, now - self._ticked)
        if stall is None or now - stall[0] > STALL_NOTED:
            return ""
        return (
            f" (this process itself did not run for about {stall[1]:.1f}s just before, "
            "frozen or suspended: the server ends a transaction left idle for "
            f"{IDLE_IN_TRANSACTION:g}s)"
        )

    def close(self) -> None:
        """Stop the thread (the connections are the pool's to close)."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                self.tick(now)
                if self._wake_at is None:
                    self._cond.wait()
                else:  # at least every TICK while a connection is out, to time stalls
                    self._cond.wait(min(self._wake_at - now, TICK))

    def tick(self, now: float) -> None:
        """Cut the connections past their deadlines at ``now``; called with the lock held.

        While a connection is out the thread looks every ``TICK``. A look more than
        ``STALL`` after the one before means that this process did not run meanwhile: a
        statement whose answer came while it was frozen has not read it yet, and one the
        process was about to send (between the statements of a transaction) has not been
        sent. Cut then, it would report an outage of a server that answered at once (and
        lose a group of saves it stored). So every connection out gets its whole wait
        again from ``now``; one still waiting after that is cut as usual.
        """
        if self._ticked is not None and now - self._ticked > STALL:
            self._stall = (now, now - self._ticked)
            for conn, (due, seconds) in list(self._due.items()):
                if due != float("inf"):
                    self._due[conn] = (max(due, now + seconds), seconds)
        self._ticked = now
        for conn, (due, seconds) in list(self._due.items()):
            if due <= now:
                self._due[conn] = (float("inf"), seconds)  # cut once; disarm pops it
                self._shut(conn, seconds)
        pending = [due for due, _ in self._due.values() if due != float("inf")]
        self._wake_at = min(pending) if pending else None
        if self._wake_at is None:
            self._ticked = None  # nothing to watch: the wait that follows is no stall

    def _shut(self, conn: Any, seconds: float) -> None:
        # Under the lock, so that the holder cannot give the connection back (and another
        # take it) in between. Shutting the socket down (not closing its descriptor, which
        # libpq owns) wakes the statement's wait at once: it reads the end of the stream.
        self._cut.add(conn)
        try:
            fd = conn.pgconn.socket
            with socket.socket(fileno=os.dup(fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except (OSError, psycopg.Error):
            return  # closed meanwhile: nothing waits on it
        logger.debug("a statement had no answer within %.1fs; its connection is cut", seconds)


class BoundedPool(psycopg_pool.ConnectionPool):
    """A connection pool whose connections are watched by ``deadlines`` while out.

    Args:
        bound: seconds a connection may stay out, asked at each ``getconn``.
        server_bound: the ``statement_timeout`` (milliseconds) to set on a connection
            whose session does not have it yet, or ``None`` to leave the session's own.
    """

    def __init__(
        self,
        *args: Any,
        deadlines: Deadlines,
        bound: Any,
        server_bound: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._deadlines = deadlines
        self._bound = bound
        self._server_bound = server_bound
        self._session_bound: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

    def getconn(self, timeout: float | None = None) -> Any:
        """As ``ConnectionPool.getconn``; the connection is watched until ``putconn``.

        The wait for a connection is bounded too: by ``timeout``, else by the pool's
        and the statements' bound, whichever is shorter (every connection busy waiting
        on a server that does not answer is the same outage).
        """
        bound = self._bound()
        if timeout is None:
            timeout = min(self.timeout, bound * (1 + GRACE))
        for attempt in range(self.max_size + 1):
            conn = super().getconn(timeout)
            self._deadlines.arm(conn, bound * (1 + GRACE))
            try:
                self._set_server_bound(conn)
            except psycopg.OperationalError:
                cut = self._deadlines.disarm(conn)
                if cut:
                    conn.close()
                super().putconn(conn)  # a broken connection is dropped
                # One the server closed while it was pooled: take another. One that had
                # no answer in time: the server is not answering, as the caller is told.
                if cut or not conn.broken or attempt == self.max_size:
                    raise
                continue
            return conn
        raise AssertionError  # pragma: no cover - the last attempt returns or raises

    def cut(self, conn: Any) -> bool:
        """Whether ``conn`` was cut past its bound (a server not answering: try no other)."""
        return self._deadlines.was_cut(conn)

    def putconn(self, conn: Any) -> None:
        """As ``ConnectionPool.putconn``; a connection cut past its bound is dropped."""
        if self._deadlines.disarm(conn):
            conn.close()  # the pool replaces a closed connection
        super().putconn(conn)

    def _set_server_bound(self, conn: Any) -> None:
        wanted = self._server_bound()
        if wanted is None or self._session_bound.get(conn) == wanted:
            return
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{wanted}ms",))
        self._session_bound[conn] = wanted
