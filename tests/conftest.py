"""Shared fixtures: a manual clock for threaded timer tests, leak checks, Hypothesis profiles."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest
from hypothesis import HealthCheck, settings

pytest.register_assert_rewrite("records")  # its helpers assert, with pytest's messages

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


class ManualClock:
    """A thread-safe clock that only moves when a test calls ``advance``.

    Alarms ring synchronously inside ``advance`` (or at once when set in the past), and
    ``wait_armed`` lets a test block until the engine has armed an alarm: an event to
    wait on instead of sleeping.
    """

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = start
        self._cond = threading.Condition()
        self._alarms: list[_ManualAlarm] = []

    def now(self) -> float:
        return self._now

    def alarm(self, callback: Callable[[], None]) -> _ManualAlarm:
        alarm = _ManualAlarm(self, callback)
        with self._cond:
            self._alarms.append(alarm)
        return alarm

    def advance(self, seconds: float) -> None:
        with self._cond:
            self._now += seconds
            due = [a for a in self._alarms if a.when is not None and a.when <= self._now]
            for a in due:
                a.when = None
        for a in due:
            a.callback()

    def wait_armed(self, at_least: float | None = None, timeout: float = 5.0) -> float:
        """Block until some alarm is armed (for a time >= ``at_least``); return that time."""

        def armed() -> float | None:
            times = [a.when for a in self._alarms if a.when is not None]
            times = [t for t in times if at_least is None or t >= at_least]
            return min(times) if times else None

        with self._cond:
            if not self._cond.wait_for(lambda: armed() is not None, timeout):
                msg = f"no alarm armed within {timeout}s"
                raise TimeoutError(msg)
            result = armed()
            assert result is not None
            return result


class _ManualAlarm:
    def __init__(self, clock: ManualClock, callback: Callable[[], None]) -> None:
        self.clock = clock
        self.callback = callback
        self.when: float | None = None

    def set(self, when: float | None) -> None:
        ring = False
        with self.clock._cond:
            if when is not None and when <= self.clock._now:
                self.when, ring = None, True
            else:
                self.when = when
            self.clock._cond.notify_all()
        if ring:
            self.callback()

    def close(self) -> None:
        with self.clock._cond:
            self.when = None
            if self in self.clock._alarms:
                self.clock._alarms.remove(self)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    import pgserver

    # Not under pytest's basetemp: as root, pgserver runs PostgreSQL as its own system
    # user, which must traverse every parent directory, and pytest keeps its
    # pytest-of-<user> directory private (mode 0700) at the start of every session.
    where = Path(tempfile.mkdtemp(prefix="actors-pgdata-"))
    try:
        server = pgserver.get_server(where, cleanup_mode="delete")
    except Exception as exc:
        pytest.fail(f"pgserver could not start a throwaway PostgreSQL server in {where}: {exc!r}")
    yield server
    server.cleanup()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(autouse=True)
def _no_leaked_actors() -> Iterator[None]:
    """Every test must stop the actors it started (a leak would slow or hang the suite)."""
    yield
    leaked = pykka.ActorRegistry.get_all()
    if leaked:
        pykka.ActorRegistry.stop_all(block=True, timeout=10)
        pytest.fail(f"test leaked running actors: {leaked}")
