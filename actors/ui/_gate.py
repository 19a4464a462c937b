"""The dashboard's reads of a store that fails: answered at once, tried again in the background.

A PostgreSQL store whose server has gone fails a read only once its pool has waited
``timeout`` for a connection (10 s by default), and every refresh of every open page
reads. So once a read has failed, the pages say so at once, naming the store and since
when, without reading it. The store is checked (a one-row query) by the next page asked
for, and then at most once every ``RETRY`` seconds, by the first page asked for after
that, on a thread of its own: that page waits for the check ``CHECK_WAIT`` seconds at
most, and reads as usual if the store answered; the pages asked for meanwhile do not
wait for it. A check that answers later lets the next page read. The store's failure is
logged once (WARNING), and its return once (INFO).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from actors._errors import StoreError
from actors._redact import redacted_logger

__all__ = ["CHECK_WAIT", "RETRY", "ReadGate", "StoreDownError"]

T = TypeVar("T")

RETRY = 2.0  # seconds between two checks of a store that fails
CHECK_WAIT = 0.5  # how long the page that starts a check waits for it

_log = redacted_logger("actors.ui")


class StoreDownError(StoreError):
    """The store failed the dashboard's last read or check: a page answers this at once."""


@dataclass(frozen=True, slots=True)
class _Failure:
    since: float  # wall clock: the first failure since the store last answered
    reason: str  # the latest failure
    tried: float  # the gate's clock: when the latest check ended


class ReadGate:
    """Lets the dashboard's reads through to the store while it answers them.

    Args:
        url: the store's URL as shown (password masked).
        check: a cheap read of the store; raises ``StoreError`` while the store fails.
        retry: seconds between two checks of a store that fails.
        wait: how long the page that starts a check waits for it.
        clock: monotonic seconds (a test's own clock).
    """

    def __init__(
        self,
        url: str,
        check: Callable[[], object],
        *,
        retry: float = RETRY,
        wait: float = CHECK_WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._check = check
        self._retry = retry
        self._wait = wait
        self._clock = clock
        self._lock = threading.Lock()
        self._failure: _Failure | None = None
        self._checking = False

    def read(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, unless the store failed lately: then ``StoreDownError`` at once."""
        self._admit()
        try:
            return fn(*args)
        except StoreError as exc:
            # Checked by the next page already: a read may fail for a reason of its own
            # (one case's rows), and the other pages need not wait for the next check.
            raise self._failed(str(exc), tried=-float("inf")) from exc

    def _admit(self) -> None:
        with self._lock:
            failure = self._failure
            if failure is None:
                return
            start = not self._checking and self._clock() - failure.tried >= self._retry
            self._checking = self._checking or start
        if not start:
            raise self._error(failure)
        done = threading.Event()
        threading.Thread(
            target=self._run_check, args=(done,), name="actors-ui-check", daemon=True
        ).start()
        done.wait(self._wait)
        with self._lock:
            failure = self._failure
        if failure is not None:
            raise self._error(failure)

    def _run_check(self, done: threading.Event) -> None:
        try:
            self._check()
        except Exception as exc:  # whatever failed is the reason the pages show
            reason = str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
            self._failed(reason, tried=self._clock())
        else:
            with self._lock:
                failure, self._failure = self._failure, None
            if failure is not None:
                _log.info(
                    "the store %s answers again (it failed for %.0f s); the pages read it again",
                    self.url,
                    time.time() - failure.since,
                )
        finally:
            with self._lock:
                self._checking = False
            done.set()

    def _failed(self, reason: str, *, tried: float) -> StoreDownError:
        with self._lock:
            before = self._failure
            since = time.time() if before is None else before.since
            self._failure = failure = _Failure(since, reason, tried)
        if before is None:
            _log.warning(
                "the store %s cannot be read (%s); the pages say so at once, and it is tried "
                "again every %g s",
                self.url,
                reason,
                self._retry,
            )
        return self._error(failure)

    def _error(self, failure: _Failure) -> StoreDownError:
        reason = failure.reason.removeprefix(f"{self.url}: ")
        since = datetime.fromtimestamp(failure.since, tz=UTC).strftime("%H:%M:%S UTC")
        return StoreDownError(
            f"{self.url} has not answered since {since} ({reason}); the dashboard tries it "
            f"again every {self._retry:g} s"
        )
