"""Shared fixtures: a virtual clock for threaded timer tests, leak checks, Hypothesis profiles."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest
from hypothesis import HealthCheck, settings

from actors.testing import VirtualClock

pytest.register_assert_rewrite("records")  # its helpers assert, with pytest's messages

# "ci" (the default) draws the same examples on every run, so a run's result depends on
# the code alone; "explore" draws new ones each run, and many more, to look for bugs.
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile(
    "explore",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _draw_no_local_constants() -> None:
    """Hypothesis draws nothing from the constants of the project's modules imported so far.

    It draws about one value in twenty from a pool of the constants (integers from 100,
    floats, strings) in every module of actors/ and examples/ in ``sys.modules``, and
    the pool grows with each test that imports one: a derandomized search drew other
    examples after other tests, and an edit to any module's constants changed every
    search. With the pool empty a search depends on its own test's code alone
    (tests/test_hypothesis_draws.py checks it).
    """
    from hypothesis.internal.conjecture import providers

    # A private hook: fail loudly if Hypothesis renames it, never patch in vain.
    assert callable(providers._get_local_constants), "Hypothesis moved _get_local_constants"
    empty = providers.Constants()
    providers._get_local_constants = lambda: empty
    providers.CONSTANTS_CACHE.cache.clear()  # what was cached with the old pool


_draw_no_local_constants()


def _throwaway_pg_server(prefix: str) -> Any:
    """A PostgreSQL server of pgserver's in a new temporary directory, commits unflushed."""
    import pgserver

    # Not under pytest's basetemp: as root, pgserver runs PostgreSQL as its own system
    # user, which must traverse every parent directory, and pytest keeps its
    # pytest-of-<user> directory private (mode 0700) at the start of every session.
    where = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        server = pgserver.get_server(where, cleanup_mode="delete")
    except Exception as exc:
        pytest.fail(f"pgserver could not start a throwaway PostgreSQL server in {where}: {exc!r}")
    # A throwaway server need not survive the machine's crash: with no fsync a commit
    # costs microseconds instead of a disk flush. Tests kill workers and stop or kill
    # the server's processes, never the machine, so what they check is unchanged.
    # Each CREATE DATABASE logs its template (8 MiB) to the WAL, which PostgreSQL keeps
    # up to max_wal_size (1 GiB) between checkpoints: a small bound recycles it sooner
    # (checkpoints flush nothing to disk with fsync off).
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        for setting in ("fsync", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("ALTER SYSTEM SET max_wal_size = '64MB'")
        conn.execute("ALTER SYSTEM SET min_wal_size = '32MB'")
        conn.execute("SELECT pg_reload_conf()")
    return server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    server = _throwaway_pg_server("actors-pgdata-")
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def freezable_pg_server() -> Iterator[Any]:
    """A server for the tests that freeze one (SIGSTOP), apart from ``pg_server``.

    ``pg_server``'s users (a pooled connection, a store left open) never wait on it. One
    for the session: each test makes a database of its own, and thaws the server before
    it ends.
    """
    server = _throwaway_pg_server("actors-pgfrozen-")
    yield server
    server.cleanup()


@pytest.fixture
def pg_database(request: pytest.FixtureRequest) -> Callable[..., str]:
    """Makes an empty database of this test's own; each one is dropped when the test ends.

    ``pg_database(name)`` on ``pg_server``, ``pg_database(name, server)`` on another
    (``freezable_pg_server``); its URL is returned. A server the test froze is thawed
    by then (``pg_outage.frozen`` thaws it as its block ends).
    """
    from pg_throwaway import drop_database, fresh_database

    def make(name: str, server: Any = None) -> str:
        if server is None:
            server = request.getfixturevalue("pg_server")
        url = fresh_database(server, name)
        request.addfinalizer(lambda: drop_database(server, name))
        return url

    return make


@pytest.fixture
def clock() -> VirtualClock:
    """A ``VirtualClock`` for a threaded ``Mediator``: ``advance`` rings its due alarms.

    An alarm the engine sets for a time already reached rings at once (as on the
    ``SystemClock``), and ``wait_for_alarm`` lets a test block until the engine has armed
    one: an event to wait on instead of sleeping.
    """
    return VirtualClock(start=1_000_000.0)


@pytest.fixture(autouse=True)
def _no_leaked_actors() -> Iterator[None]:
    """Every test must stop the actors it started (a leak would slow or hang the suite)."""
    yield
    leaked = pykka.ActorRegistry.get_all()
    if leaked:
        pykka.ActorRegistry.stop_all(block=True, timeout=10)
        pytest.fail(f"test leaked running actors: {leaked}")
