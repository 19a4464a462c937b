"""``actors db upgrade``: apply a SQL store's schema migrations ahead of a deploy."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import click

from actors._cli import _cannot_open, main, store_option
from actors._cli_errors import BadArgumentError, CliError, _describe
from actors._errors import ForeignDatabaseError, StoreError
from actors._redact import mask_url

__all__ = ["db", "db_upgrade"]


@main.group()
def db() -> None:
    """Manage a store's database schema."""


@db.command("upgrade")
@store_option
def db_upgrade(store_url: str) -> None:
    """Apply the schema migrations the database has not had yet, in order.

    Workers apply them too when they start; run this to upgrade ahead of a deploy. It is
    safe to run again, or from several places at once.
    """
    from actors.stores import _sqlite_path
    from actors.stores._schema import MIGRATIONS, current_version, migrate

    scheme, sep, rest = store_url.partition("://")
    if sep:  # a scheme in any case, as the other commands read it
        store_url = f"{scheme.lower()}://{rest}"
    if store_url.startswith("memory:"):
        msg = f"{mask_url(store_url)!r} keeps nothing between runs: it has no schema to upgrade"
        raise BadArgumentError(msg)
    conn = _schema_connection(store_url)
    deadlines, watch = _migration_watch(store_url, conn)
    try:
        with watch as progress:
            try:  # a file that is no database, or another application's, fails here
                _refuse_foreign(conn, store_url)
                progress.version = current_version(conn)
            except ForeignDatabaseError as exc:  # as every other command says it
                raise BadArgumentError(_cannot_open(store_url, str(exc))) from exc
            except Exception as exc:  # the file is no database, say: it cannot be opened
                msg = _cannot_open(store_url, _describe(exc))
                if store_url.startswith("sqlite:"):
                    from actors.stores._sqlite_connect import cannot_open_hint

                    msg += cannot_open_hint(_sqlite_path(store_url, store_url[9:]), exc)
                raise BadArgumentError(msg) from exc
            try:  # applied: by this command, as another may upgrade at the same time
                after = migrate(conn, progress.applied)
            except Exception as exc:
                msg = f"cannot upgrade the schema of {mask_url(store_url)!r}: {_describe(exc)}"
                raise CliError(msg + _refused_hint(store_url, exc, progress.version)) from exc
    except StoreError as exc:  # the server stopped answering (see _pg_migrate)
        msg = f"cannot upgrade the schema of {mask_url(store_url)!r}: {exc}"
        raise CliError(msg) from None
    finally:
        conn.close()
        if deadlines is not None:
            deadlines.close()
    applied = progress.applied
    dialect = "postgres" if store_url.startswith("postgres") else "sqlite"
    for migration in applied:
        if migration.statements(dialect):  # the others change nothing on this database
            click.echo(f"applied {migration.version}: {migration.description}")
    latest = MIGRATIONS[-1].version
    if after > latest:
        # Written by a newer release: its migrations add, so this one still works on it,
        # but nothing here can be the upgrade the operator may think was made.
        click.echo(
            f"schema version {after}, newer than this version of actors knows ({latest}): "
            "nothing to apply; upgrade actors itself to use what the newer schema adds"
        )
        return
    click.echo(f"schema version {after}" + ("" if applied else " (already up to date)"))


def _refused_hint(url: str, exc: BaseException, version: int | None) -> str:
    """Why the database refused the migration's writes (a read-only file, a role, say)."""
    import sqlite3

    if url.startswith("postgres"):
        import psycopg

        if version is None or not isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return ""
        from actors.stores._pg_open import upgrade_hint

        return upgrade_hint(version)
    if not isinstance(exc, sqlite3.Error):
        return ""
    from actors.stores import _sqlite_path
    from actors.stores._sqlite_connect import refused_hint

    # The connection's busy timeout is sqlite3.connect's default, 5 s.
    return refused_hint(_sqlite_path(url, url[len("sqlite://") :]), exc, 5.0)


def _migration_watch(url: str, conn: Any) -> tuple[Any, Any]:
    """The deadlines' thread and the context a migration on ``conn`` runs in.

    On PostgreSQL the migration runs for as long as the server answers (see _pg_migrate).
    """
    from actors.stores._migrations import Progress

    if not url.startswith("postgres"):
        return None, contextlib.nullcontext(Progress())
    from actors.stores._pg_deadlines import Deadlines
    from actors.stores._pg_migrate import COMMAND_BOUND, watched

    deadlines = Deadlines()
    return deadlines, watched(url, conn, deadlines, COMMAND_BOUND)


def _refuse_foreign(conn: Any, url: str) -> None:
    """``ForeignDatabaseError`` when the database holds another application's tables."""
    if url.startswith("postgres"):
        from actors.stores._pg_foreign import refuse_foreign as refuse_foreign_pg

        refuse_foreign_pg(conn, mask_url(url))
    else:
        from actors.stores import _sqlite_path
        from actors.stores._sqlite_foreign import refuse_foreign

        refuse_foreign(conn, _sqlite_path(url, url[len("sqlite://") :]))


def _schema_connection(url: str) -> Any:
    """A plain connection to the database a SQL store URL names."""
    scheme = url.split(":", 1)[0]
    shown = mask_url(url)
    try:
        if scheme == "sqlite":
            import sqlite3

            from actors.stores import _sqlite_path
            from actors.stores._sqlite_connect import refuse_directory

            path = _sqlite_path(url, url[len("sqlite://") :])
            refuse_directory(path)
            if not Path(path).parent.exists():
                msg = f"no directory {str(Path(path).parent)!r} for {shown!r}"
                raise BadArgumentError(msg)
            return sqlite3.connect(path, isolation_level=None)
        if scheme in ("postgresql", "postgres"):
            import psycopg

            from actors.stores._pg_session import connect_params

            # A connect timeout and keepalives as the store's own; no bound on statements:
            # a migration takes as long as its table needs, while the server answers.
            return psycopg.connect(url, autocommit=True, **connect_params(url, 10.0))
    except (StoreError, ImportError, OSError) as exc:
        raise BadArgumentError(_cannot_open(url, str(exc))) from exc
    except Exception as exc:  # the driver's own connection errors (they may quote the URL)
        raise BadArgumentError(_cannot_open(url, _describe(exc))) from None
    msg = f"cannot open store {shown!r}: use sqlite:///path.db or postgresql://..."
    raise BadArgumentError(msg)
