"""A migration whose PostgreSQL server stops answering ends, naming the server and step.

The migration is held inside the server (another session holds the migrations' advisory
lock) and the server is then frozen with SIGSTOP, postmaster and backends: the store's
open, or ``actors db upgrade``, waits on a server that neither answers nor closes
anything. A migration may rightly take long, so it has no time of its own: it runs as
long as the server answers a probe of its own, and fails once the server gives none.
"""

from __future__ import annotations

import threading

import psycopg
import pytest
from bounds import TIMEOUT, wait_until
from click.testing import CliRunner
from pg_outage import frozen

from actors._cli import main
from actors._redact import mask_url
from actors.stores import open_store
from actors.stores._migrations import MIGRATIONS
from actors.stores._schema import _PG_LOCK_KEY

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

BOUND = 1.0  # seconds the server may take to answer
ENDED = 10.0  # seconds within which a migration on a frozen server must end


@pytest.fixture
def db_url(freezable_pg_server, pg_database, tmp_path):
    name = f"migrate_{tmp_path.name[-20:]}".replace("-", "_").lower()
    return pg_database(name, freezable_pg_server)


def _held(url: str) -> psycopg.Connection:
    """A session holding the migrations' lock: a migration waits inside the server."""
    holder = psycopg.connect(url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", (_PG_LOCK_KEY,))
    return holder


def _waited(holder: psycopg.Connection) -> float:
    """Seconds a migration has waited on the lock (0: none waits yet)."""
    row = holder.execute(
        "SELECT COALESCE(MAX(EXTRACT(EPOCH FROM now() - state_change)), -1) "
        "FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
    ).fetchone()
    return float(row[0]) if row else -1.0


def _in_thread(call) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except Exception as exc:  # the test reads it
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_a_store_opened_on_a_server_frozen_in_its_migration_fails_naming_both(
    freezable_pg_server, db_url
):
    holder = _held(db_url)
    thread, outcome = _in_thread(lambda: open_store(db_url, statement_timeout=BOUND))
    try:
        wait_until(lambda: _waited(holder) >= 0, "the migration to wait on its lock")
        with frozen(freezable_pg_server):
            thread.join(ENDED)
            assert not thread.is_alive(), "the migration still waits on a frozen server"
    finally:
        holder.close()
        thread.join(TIMEOUT)
    message = str(outcome.get("error"))
    first = MIGRATIONS[0]
    assert message.startswith(f"cannot open the PostgreSQL store at {mask_url(db_url)}: "), message
    assert f"no answer within {BOUND:.1f}s" in message, message
    assert f"applying schema migration 1 ({first.description})" in message, message
    open_store(db_url).close()  # nothing was half applied: the next open migrates


def test_db_upgrade_on_a_server_frozen_in_its_migration_fails_naming_both(
    freezable_pg_server, db_url, monkeypatch
):
    monkeypatch.setattr("actors.stores._pg_migrate.COMMAND_BOUND", BOUND)
    holder = _held(db_url)
    runner = CliRunner()
    thread, outcome = _in_thread(lambda: runner.invoke(main, ["db", "upgrade", "--store", db_url]))
    try:
        wait_until(lambda: _waited(holder) >= 0, "the migration to wait on its lock")
        with frozen(freezable_pg_server):
            thread.join(ENDED)
            assert not thread.is_alive(), "actors db upgrade still waits on a frozen server"
    finally:
        holder.close()
        thread.join(TIMEOUT)
    result = outcome["value"]
    assert result.exit_code == 1, result.output
    said = f"cannot upgrade the schema of {mask_url(db_url)!r}: the server gave no answer"
    assert said in result.output, result.output
    assert "applying schema migration 1 (" in result.output


def test_a_migration_runs_on_for_as_long_as_its_server_answers(db_url):
    holder = _held(db_url)
    thread, outcome = _in_thread(lambda: open_store(db_url, statement_timeout=BOUND))
    try:  # several of its bounds: a long migration on a live server is not given up
        wait_until(lambda: _waited(holder) >= 4 * BOUND, "the migration to wait its bounds")
        assert thread.is_alive(), outcome
    finally:
        holder.close()
        thread.join(TIMEOUT)
    outcome["value"].close()
    assert "error" not in outcome
