"""A PostgreSQL migration bounded by its server's answers, not by a time of its own.

A migration may rightly take long (an index built over a big table, a lock another
migrator holds), so its statements have no ``statement_timeout``. A server that stops
answering altogether (frozen with SIGSTOP, a paused machine) left it waiting for ever:
over a Unix socket nothing ever ends the wait, and a store being opened, or ``actors db
upgrade``, hung with it.

While the migration runs, its server is asked ``SELECT 1`` on a connection of its own,
once every ``bound`` seconds. A server that answers is alive and the migration runs on,
however long it takes. One that gives no answer within ``bound`` (to that connection's
opening or its statement) is not answering: the migration's connection is cut, its
transaction rolls back on the server once it runs again, and the caller learns which
migration it was on.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import psycopg

from actors._errors import StoreError
from actors.stores._migrations import Progress
from actors.stores._pg_deadlines import Deadlines
from actors.stores._pg_session import connect_params

__all__ = ["COMMAND_BOUND", "Progress", "ServerSilentError", "watched"]

COMMAND_BOUND = 10.0
"""Seconds ``actors db upgrade`` waits for its server's answer (a store being opened
waits its statements' bound, a third of the lease): as long as its connect timeout."""


class ServerSilentError(StoreError):
    """The server gave no answer within ``seconds`` while ``step`` ran."""

    def __init__(self, seconds: float, step: str) -> None:
        self.seconds = seconds
        self.step = step
        super().__init__(f"the server gave no answer within {seconds:.1f}s while {step}")


class _Watch:
    """A thread that asks the server for an answer every ``bound`` seconds."""

    def __init__(self, url: str, conn: Any, deadlines: Deadlines, bound: float) -> None:
        self._url = url
        self._conn = conn
        self._deadlines = deadlines
        self._bound = bound
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stopped = False
        self.silent = False
        self._probe: Any = None
        self._thread = threading.Thread(target=self._run, name="actors-pg-migrate", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._stop.set()
        self._thread.join()
        if self._probe is not None:
            self._probe.close()

    def _run(self) -> None:
        while not self._stop.wait(self._bound):
            if self._answers():
                continue
            with self._lock:
                if not self._stopped:  # the migration has not ended meanwhile: end it
                    self.silent = True
                    self._deadlines.arm(self._conn, 0.0)
            return

    def _answers(self) -> bool:
        """Whether the server answered within the bound (an error is an answer too)."""
        if self._probe is None or self._probe.closed:
            params = connect_params(self._url, self._bound)
            try:
                self._probe = psycopg.connect(self._url, autocommit=True, **params)
            except psycopg.errors.ConnectionTimeout:
                return False
            except psycopg.Error:
                return True  # refused (too many connections, say): the server is there
        self._deadlines.arm(self._probe, self._bound)
        with contextlib.suppress(psycopg.Error):  # one the server ended: reopened next time
            self._probe.execute("SELECT 1")
        cut = self._deadlines.disarm(self._probe)
        if cut:
            self._probe.close()
        return not cut


@contextlib.contextmanager
def watched(url: str, conn: Any, deadlines: Deadlines, bound: float) -> Iterator[Progress]:
    """Run the block (a migration on ``conn``) for as long as the server answers.

    The block records its progress in the ``Progress`` yielded (the version it read,
    the migrations it applied). Raises ``ServerSilentError`` naming the step under way
    when the server gave no answer within ``bound`` seconds; ``conn`` is then cut.
    """
    progress = Progress()
    watch = _Watch(url, conn, deadlines, bound)
    watch.start()
    failed: BaseException | None = None
    try:
        yield progress
    except BaseException as exc:
        failed = exc
    finally:
        watch.stop()
        deadlines.disarm(conn)
    if watch.silent:
        raise ServerSilentError(bound, progress.step()) from None
    if failed is not None:
        raise failed
