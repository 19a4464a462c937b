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
from dataclasses import dataclass
from typing import Any

from actors._errors import StoreError
from actors._redact import redacted_logger
from actors.stores._schema_ddl import (
    LISTING_ID,
    POSTGRES,
    SQLITE,
    _v1,
    _v4,
    _v5,
    _v7,
    _v11,
)
from actors.stores._statements import FREE_ROOT, HELD, UNFINISHED_ROOT

logger = redacted_logger("actors.stores")

__all__ = [
    "LISTING_ID",
    "MIGRATIONS",
    "POSTGRES",
    "SQLITE",
    "Migration",
    "current_version",
    "dialect_of",
    "migrate",
]


# Arbitrary constant naming the advisory lock PostgreSQL migrations run under.
_PG_LOCK_KEY = 0x6163746F7273  # "actors"


@dataclass(frozen=True)
class Migration:
    """One schema change: a number, what it does, and its statements per dialect."""

    version: int
    description: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]

    def statements(self, dialect: str) -> tuple[str, ...]:
        """The statements for ``dialect`` (``"sqlite"`` or ``"postgres"``)."""
        return self.sqlite if dialect == SQLITE else self.postgres


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "jobs (with leases and split bookkeeping), step_history, indexes",
        sqlite=_v1(SQLITE),
        postgres=_v1(POSTGRES),
    ),
    Migration(
        2,
        "jobs.parent_gen: which split of its parent made a branch",
        sqlite=("ALTER TABLE jobs ADD COLUMN parent_gen INTEGER NOT NULL DEFAULT 0",),
        postgres=("ALTER TABLE jobs ADD COLUMN parent_gen INTEGER NOT NULL DEFAULT 0",),
    ),
    Migration(
        3,
        "indexes for claims and heartbeats: jobs by case, live leases by owner",
        # A claim reads and stamps every row of a case; a heartbeat renews the live
        # leases of one worker. Without these both scan the whole table, finished rows
        # included. The lease index is partial: only unfinished roots hold an expiry.
        sqlite=(
            "CREATE INDEX jobs_case ON jobs (case_id)",
            "CREATE INDEX jobs_lease ON jobs (lease_owner) WHERE lease_expires IS NOT NULL",
        ),
        postgres=(
            "CREATE INDEX jobs_case ON jobs (case_id)",
            "CREATE INDEX jobs_lease ON jobs (lease_owner) WHERE lease_expires IS NOT NULL",
        ),
    ),
    Migration(
        4,
        "step_history.worker/error/action/started; job_requests: actions for a case's holder",
        sqlite=_v4(SQLITE),
        postgres=_v4(POSTGRES),
    ),
    Migration(
        5,
        "join_arrivals and join_counts: a join's arrivals one row each, not one map per parent",
        # Counting an arrival then writes two small rows instead of rewriting a map that
        # grows with the split: a split of N branches costs O(N), not O(N^2). Maps already
        # in jobs.arrivals stay where they are and still count (see stores/_joins.py).
        sqlite=_v5(SQLITE),
        postgres=_v5(POSTGRES),
    ),
    Migration(
        6,
        "jobs_claimable: the unfinished roots in insertion order, for claims",
        # A claim looks for the oldest free case among the unfinished roots. Without this
        # index it read every root the store ever held, finished ones included, so a
        # store's claims slowed down as its history grew (22 ms per claim with 100,000
        # finished cases on PostgreSQL). Partial: finished roots are not in it.
        sqlite=(f"CREATE INDEX jobs_claimable ON jobs (parent_id) WHERE {UNFINISHED_ROOT}",),
        postgres=(f"CREATE INDEX jobs_claimable ON jobs (seq) WHERE {UNFINISHED_ROOT}",),
    ),
    Migration(
        7,
        "indexes for listing jobs newest first (all jobs, cases only); jobs_due and "
        "jobs_finished hold only the rows with a due time and the finished ones",
        # The operator's listing (Admin.jobs, `actors jobs list`) reads jobs newest first,
        # by (created_at, id), a page at a time. Without these it read and sorted every
        # matching row: a page took 65 ms at 100,000 jobs against 1 ms at 1,000 (SQLite).
        # Only two: every insert pays every index and a state change rewrites a state
        # index, so indexes by state and by workflow cost W 6-14% more CPU on SQLite.
        # Other states than DONE read jobs_claim instead (see _sql_listing.parts).
        # Most rows have no due time and no finish time (a job is due only while it waits
        # on a timer, finished once), yet every row inserted and every save that set the
        # column wrote an entry for its NULL. Every query jobs_due and jobs_finished serve
        # compares the column, which implies it is not NULL, so partial indexes serve them.
        sqlite=_v7(SQLITE),
        postgres=_v7(POSTGRES),
    ),
    Migration(
        8,
        "step_history.more: a job's further saves in the same transaction, in its first row",
        # A slice saves one job several times; each history row cost a heap tuple, an
        # index entry and their log records, about a fifth of PostgreSQL's work on W.
        # See stores/_history_rows.py.
        sqlite=("ALTER TABLE step_history ADD COLUMN more TEXT",),
        postgres=("ALTER TABLE step_history ADD COLUMN more TEXT",),
    ),
    Migration(
        9,
        "jobs_free (SQLite): the unfinished roots no worker holds, for the watcher's look",
        # A SQLite worker's watcher asks, after every commit to the file (up to 100 times
        # a second), whether a case is free. jobs_claimable holds every unfinished root,
        # the held ones too, so with 100,000 cases parked on events that look read them
        # all (14 ms each, a core's worth while events came in). This index holds only
        # the free ones: rows admitted by a worker carry its lease and never enter it.
        # PostgreSQL is woken by NOTIFY and asks no such question.
        sqlite=(f"CREATE INDEX jobs_free ON jobs (parent_id) WHERE {FREE_ROOT}",),
        postgres=(),
    ),
    Migration(
        10,
        "jobs.tries/tried_at: runs of a job taken from a stopped worker, at its saved point",
        # A step that ends its worker's process (os._exit, a crash in native code, the
        # kernel's OOM killer) would end every worker that takes its case over, for ever.
        # Before it runs such a job, a worker counts a try here (Store.count_try): at the
        # same updated_at as the last try, the count goes on; a save in between starts it
        # again. Written only for jobs taken over, never by a save.
        sqlite=(
            "ALTER TABLE jobs ADD COLUMN tries INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE jobs ADD COLUMN tried_at REAL",
        ),
        postgres=(
            "ALTER TABLE jobs ADD COLUMN tries INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE jobs ADD COLUMN tried_at DOUBLE PRECISION",
        ),
    ),
    Migration(
        11,
        'PostgreSQL: job ids compare byte by byte (COLLATE "C"); no jobs_parent',
        # Every new version of a row enters every index of jobs (a save changes an
        # indexed column, so no update is HOT): W wrote 12 entries a workflow into
        # jobs_parent, about a tenth of the server's CPU for it (see benchmarks/README.md).
        # No statement looks a parent's branches up; what asks for roots (parent_id IS
        # NULL) reads jobs_claimable, jobs_lease, jobs_finished or jobs_listed_cases
        # on PostgreSQL. SQLite keeps it: its planner has no statistics to prefer the
        # partial indexes by (see SqlStore._free_from).
        # Ids compared in the database's collation (en_US.UTF-8, C.UTF-8) went through
        # strcoll in every index search; byte by byte they cost a memcmp, and order as
        # Python orders str (as listings asked for already). Every column holding a job
        # id changes together: compared with a column of another collation, an index
        # of either could no longer serve the comparison.
        sqlite=(),
        postgres=_v11(),
    ),
    Migration(
        12,
        "workers: one lease per worker, renewed by its heartbeat; held roots marked held",
        # A heartbeat updated lease_expires on the root of every case its worker held: with
        # 100,000 cases parked on events one renewal took 1.8 s on PostgreSQL, longer than
        # the poll. Now it writes the worker's row, and a claim marks the roots it takes
        # with HELD (see _statements.HELD): held while the worker's row has not expired.
        # Roots leased by workers of the release before keep their expiry and its meaning.
        sqlite=("CREATE TABLE workers (owner TEXT PRIMARY KEY, expires REAL NOT NULL)",),
        postgres=(
            "CREATE TABLE workers (owner TEXT PRIMARY KEY, expires DOUBLE PRECISION NOT NULL)",
        ),
    ),
    Migration(
        13,
        "jobs_free (PostgreSQL): the unfinished roots no worker holds, for claims",
        # A claim walked jobs_claimable, every unfinished root, testing each held one
        # against the live workers: 48 ms a claim that found nothing with 100,000 cases
        # held, at every poll of every worker. It now reads the stopped holders' cases
        # through jobs_lease and the free ones through this index (see _claim_pick.py);
        # SQLite has it since migration 9. In seq order: the oldest free case first.
        sqlite=(),
        postgres=(f"CREATE INDEX jobs_free ON jobs (seq) WHERE {FREE_ROOT}",),
    ),
    Migration(
        14,
        "jobs_free_served, jobs_held_served: a claim reads only the workflows it serves",
        # A worker claims the cases of the workflows it serves. Through jobs_free and
        # jobs_lease it read every free case, and every case of a stopped holder, of any
        # workflow, and dropped those of others: with 50,000 cases waiting for a worker of
        # another workflow, every claim read them all, at every poll and wake-up. Keyed by
        # workflow and version, these give each served pair its own oldest cases. The held
        # roots' index is partial on HELD alone: no look for expired leases can take it
        # (unanalyzed, PostgreSQL's planner took a wider one for those and read every
        # held root).
        # SQLite keeps one index of the held roots, jobs_lease, with the workflow and
        # version after the worker (a save of a held root rewrites each index of them;
        # its statements name their index, so none is taken by mistake).
        sqlite=(
            f"CREATE INDEX jobs_free_served ON jobs (workflow, version) WHERE {FREE_ROOT}",
            "DROP INDEX jobs_lease",
            "CREATE INDEX jobs_lease ON jobs (lease_owner, workflow, version) "
            "WHERE lease_expires IS NOT NULL",
        ),
        postgres=(
            f"CREATE INDEX jobs_free_served ON jobs (workflow, version, seq) WHERE {FREE_ROOT}",
            "CREATE INDEX jobs_held_served ON jobs (lease_owner, workflow, version) "
            f"WHERE lease_expires = {HELD!r}",
        ),
    ),
)
"""Every migration, in order; the last one's number is the current schema version."""

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
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(row[0])


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
    _warn_if_newer(version)


def _warn_if_newer(version: int) -> None:
    """Log a WARNING when a newer release has upgraded the schema past what this one knows."""
    if version > MIGRATIONS[-1].version:  # its migrations keep the older columns: run on
        logger.warning(
            "the store's schema is version %d, newer than this release of actors knows "
            "(%d): upgrade this worker or command to the release that upgraded it",
            version,
            MIGRATIONS[-1].version,
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
    _warn_if_newer(version)
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
    version = int(execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])
    if migration.version <= version:
        return version
    for statement in migration.statements(dialect):
        execute(statement)
    execute(
        "INSERT INTO schema_version (version, description, applied_at) "
        f"VALUES ({mark}, {mark}, {mark})",
        (migration.version, migration.description, time.time()),
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
