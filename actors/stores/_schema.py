"""The SQL stores' schema, as numbered migrations shared by SQLite and PostgreSQL.

``migrate(conn)`` applies, in order, every migration the database has not recorded in its
``schema_version`` table, each in its own transaction together with its version row, so
running it again (or from several processes at once) is harmless. Never edit a released
migration: add the next number.

Columns hold what a ``JobRecord`` holds. ``data``, ``event`` and ``arrivals`` are JSON
*text* made by the codec in both dialects (not JSONB): text keeps the exact round trip
(dict key order, floats, NaN) and the store never queries inside job data. Times are
seconds since the epoch as floating point; ``due`` and ``lease_expires`` are on the
engine's clock, ``created_at``/``updated_at``/``finished_at`` on the wall clock.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from actors._errors import SchemaTooNewError, StoreError
from actors._redact import redacted_logger
from actors.stores._migrations import BREAKS_OLDER_FROM, MIGRATIONS, Migration
from actors.stores._schema_ddl import LISTING_ID, POSTGRES, SQLITE

logger = redacted_logger("actors.stores")

__all__ = [
    "LISTING_ID",
    "MIGRATIONS",
    "POSTGRES",
    "SQLITE",
    "Migration",
    "check_newer",
    "current_version",
    "dialect_of",
    "migrate",
    "too_new",
]


# Arbitrary constant naming the advisory lock PostgreSQL migrations run under.
_PG_LOCK_KEY = 0x6163746F7273  # "actors"


_VERSION_TABLE = {
    SQLITE: "CREATE TABLE IF NOT EXISTS schema_version "
    "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at REAL NOT NULL)",
    POSTGRES: "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
    "description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)",
}


def dialect_of(conn: Any) -> str:
    """``"sqlite"`` for a ``sqlite3`` connection, ``"postgres"`` for a psycopg one."""
    if isinstance(conn, sqlite3.Connection):
        return SQLITE
    if type(conn).__module__.startswith("psycopg"):
        return POSTGRES
    msg = f"migrate() needs a sqlite3 or psycopg connection, got {type(conn).__name__}"
    raise TypeError(msg)


def current_version(conn: Any) -> int:
    """The highest migration applied to the database (0 for an empty database)."""
    dialect = dialect_of(conn)
    if dialect == SQLITE:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
    else:
        found = conn.execute("SELECT to_regclass('schema_version')").fetchone()
        found = found if found and found[0] is not None else None
    if not found:
        return 0
    return _recorded(conn.execute, dialect)


EMPTY_VERSIONS = (
    "the store's schema_version table is empty, though its jobs table is there: its rows "
    "were deleted (by hand?), so the migrations its tables have are unknown; nothing was "
    "changed. Restore the database from a backup, or put its version rows back"
)


def _recorded(execute: Any, dialect: str) -> int:
    """The highest migration ``schema_version`` records (0: none, in an empty database).

    An empty table beside a ``jobs`` table is refused: read as 0, every migration would
    run again, and the first fail on a table that is there already.
    """
    top = execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    if top is not None:
        return int(top)
    if dialect == SQLITE:
        jobs = execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'")
    else:
        jobs = execute("SELECT 1 WHERE to_regclass('jobs') IS NOT NULL")
    if jobs.fetchone():
        raise StoreError(EMPTY_VERSIONS)
    return 0


def check_current(conn: Any, where: str) -> None:
    """Raise ``StoreError`` unless the database holds this version's schema (read-only use).

    A reader never creates or upgrades a schema: ``where`` names the database in the error.
    """
    version = current_version(conn)
    latest = MIGRATIONS[-1].version
    if version == 0:
        msg = f"{where} holds no actors store (no schema); nothing was created"
        raise StoreError(msg)
    if version < latest:
        msg = (
            f"{where} has schema version {version}, this version of actors reads {latest}: "
            "run `actors db upgrade` first"
        )
        raise StoreError(msg)
    check_newer(conn, version, where)


def check_newer(conn: Any, version: int, where: str = "the store") -> None:
    """Refuse a schema past this release's that older releases must not write; else warn.

    A migration this release does not know, marked ``Migration.breaks_older``, raises
    ``StoreError`` naming it; any other newer schema logs a WARNING, and the caller runs on.
    """
    latest = MIGRATIONS[-1].version
    if version <= latest:
        return
    mark = "?" if dialect_of(conn) == SQLITE else "%s"
    breaking = conn.execute(
        "SELECT version, description FROM schema_version "
        f"WHERE version > {mark} AND breaks_older <> 0 ORDER BY version LIMIT 1",
        (latest,),
    ).fetchone()
    if dialect_of(conn) == POSTGRES and not conn.autocommit:
        conn.commit()  # the read's transaction: the caller's next one starts clean
    if breaking is not None:
        raise SchemaTooNewError(too_new(where, version, breaking[0], breaking[1]))
    # Its migrations keep what older releases write: run on.
    logger.warning(
        "the store's schema is version %d, newer than this release of actors knows "
        "(%d): upgrade this worker or command to the release that upgraded it",
        version,
        latest,
    )


def too_new(where: str, version: int, migration: int, description: str) -> str:
    """What ``SchemaTooNewError`` says: the store's version and the migration that breaks."""
    return (
        f"{where} has schema version {version}, and its migration {migration} "
        f"({description}) changed the tables in a way releases before it must not "
        f"write: this release of actors knows schema {MIGRATIONS[-1].version}. Nothing "
        "was written; upgrade this worker or command to the release that upgraded the store"
    )


def migrate(conn: Any, applied: list[Migration] | None = None) -> int:
    """Apply every pending migration, in order, idempotently; return the schema version.

    ``conn`` is a ``sqlite3`` connection in autocommit mode (``isolation_level=None``) or
    a psycopg connection (autocommit or not: each migration commits on its own). Several
    processes may call this at once: SQLite serialises them with ``BEGIN IMMEDIATE``,
    PostgreSQL with a transaction-scoped advisory lock.
    """
    dialect = dialect_of(conn)
    done = [] if applied is None else applied  # what this call applied (another may too)
    # Read first: a database already up to date (or newer) is not written at all, so a
    # role that may read and write the tables but not create any (the migrations run
    # by another, `actors db upgrade`) opens it; PostgreSQL checks the right to create
    # before it finds that a `CREATE TABLE IF NOT EXISTS` has nothing to do.
    version = current_version(conn)
    if dialect == POSTGRES and not conn.autocommit:
        conn.commit()  # the read's transaction: each migration runs in one of its own
    check_newer(conn, version)
    if version >= MIGRATIONS[-1].version:
        return version
    start = len(done)
    try:
        if dialect == SQLITE:
            return _migrate_sqlite(conn, done)
        return _migrate_postgres(conn, done)
    finally:
        # Even when a later one fails (those before are committed): some hold off writes.
        _say_applied(done[start:], dialect, new=version == 0)


def _say_applied(applied: list[Migration], dialect: str, *, new: bool) -> None:
    """Log (INFO) each migration a migrate() call applied to a store; a new store, at DEBUG."""
    if new and applied and applied[-1].version == MIGRATIONS[-1].version:
        logger.debug("created the store's schema (version %d)", applied[-1].version)
        return
    for migration in applied:
        if migration.statements(dialect):  # the others change nothing here
            logger.info("applied schema migration %d: %s", migration.version, migration.description)


def _apply(
    execute: Any,
    migration: Migration,
    dialect: str,
    mark: str,
    applied: list[Migration] | None = None,
) -> int:
    """Inside the caller's transaction: apply ``migration`` unless it is recorded already.

    Returns the schema version afterwards. ``mark`` is the dialect's placeholder.
    """
    execute(_VERSION_TABLE[dialect])
    version = _recorded(execute, dialect)
    if migration.version <= version:
        return version
    for statement in migration.statements(dialect):
        execute(statement)
    if migration.version < BREAKS_OLDER_FROM:  # the row has no breaks_older column yet
        execute(
            "INSERT INTO schema_version (version, description, applied_at) "
            f"VALUES ({mark}, {mark}, {mark})",
            (migration.version, migration.description, time.time()),
        )
    else:
        execute(
            "INSERT INTO schema_version (version, description, applied_at, breaks_older) "
            f"VALUES ({mark}, {mark}, {mark}, {mark})",
            (migration.version, migration.description, time.time(), int(migration.breaks_older)),
        )
    if applied is not None:
        applied.append(migration)
    return migration.version


def _migrate_sqlite(conn: sqlite3.Connection, applied: list[Migration]) -> int:
    version = 0
    for migration in MIGRATIONS:
        conn.execute("BEGIN IMMEDIATE")  # one migrator at a time, across processes
        try:
            version = _apply(conn.execute, migration, SQLITE, "?", applied)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return version


_PG_DEADLOCK_TRIES = 5  # tries of a PostgreSQL migration the server ends in a deadlock


def _migrate_postgres(conn: Any, applied: list[Migration]) -> int:
    from psycopg.errors import DeadlockDetected

    version = 0
    for migration in MIGRATIONS:
        for tries_left in range(_PG_DEADLOCK_TRIES - 1, -1, -1):
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))
                    version = _apply(conn.execute, migration, POSTGRES, "%s", applied)
                break
            except DeadlockDetected:
                # Migrations 7 and 11 take their locks one by one, and a worker of the
                # release before, still running, reads a table then writes it: the
                # server rolls one of the two back. Ours runs again once theirs ended.
                if applied[-1:] == [migration]:
                    applied.pop()  # rolled back with its transaction
                if not tries_left:
                    raise
    if not conn.autocommit:
        conn.commit()
    return version
