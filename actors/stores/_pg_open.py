"""Opening the PostgreSQL store: its first connection (the schema), then its pool."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import psycopg_pool

from actors._errors import StoreError
from actors._redact import mask_secrets
from actors.stores._migrations import MIGRATIONS
from actors.stores._pg_deadlines import GRACE, BoundedPool, Deadlines
from actors.stores._pg_foreign import refuse_foreign
from actors.stores._pg_migrate import ServerSilentError, watched
from actors.stores._pg_session import connect_params, session_options
from actors.stores._schema import check_current, current_version, migrate
from actors.stores._server_clock import SERVER_NOW, ServerClock

__all__ = ["RECONNECT", "describe", "open_pool", "upgrade_hint"]

RECONNECT = 5.0
"""Seconds the store's pool keeps retrying a lost connection (1, 2, 4 s apart) before it
gives up, so that the next use of the store tries again at once. At the pool's own pace
(5 minutes, the delay doubling) a database back after a minute's outage was tried again
only a minute later, and a worker stood idle meanwhile."""


def open_pool(  # noqa: PLR0913 - the pool's options
    url: str,
    masked: str,
    *,
    read_only: bool,
    clock: ServerClock,
    deadlines: Deadlines,
    bound: Callable[[], float],
    server_bound: Callable[[], int | None],
    min_size: int,
    max_size: int,
    timeout: float,
) -> BoundedPool:
    """The schema checked (or migrated) on a connection of its own, then a pool opened.

    The first connection makes a wrong URL fail with libpq's reason (a pool would only
    time out), and the schema is ready before the pool: a schema holding another
    application's tables is refused first (``ForeignDatabaseError``), nothing written.
    Its reads are bounded as the pool's statements are; a migration runs as long as the
    server answers (see ``_pg_migrate``), which it is asked every ``bound()`` seconds.
    """
    kwargs: dict[str, Any] = {
        "autocommit": True,
        **session_options(url, read_only=read_only),
        **connect_params(url, timeout),
    }
    found: list[int] = []  # the schema's version, once read, before a migration
    try:
        with psycopg.connect(url, **kwargs) as conn:
            if read_only:
                deadlines.arm(conn, bound() * (1 + GRACE))
                try:
                    refuse_foreign(conn, masked)
                    check_current(conn, f"the PostgreSQL database at {masked}")
                finally:
                    deadlines.disarm(conn)
            else:
                with watched(url, conn, deadlines, bound()) as progress:
                    refuse_foreign(conn, masked)  # before anything is written
                    progress.version = current_version(conn)
                    found.append(progress.version)
                    migrate(conn, progress.applied)
            deadlines.arm(conn, bound() * (1 + GRACE))
            try:
                clock.observe(lambda: _one(conn.execute(SERVER_NOW).fetchone()))
            finally:
                deadlines.disarm(conn)
    except ServerSilentError as exc:
        msg = f"cannot open the PostgreSQL store at {masked}: {exc}"
        raise StoreError(msg) from None
    except psycopg.Error as exc:
        cut = deadlines.expired()
        reason = f"no answer within {cut:.1f}s" if cut is not None else describe(exc)
        msg = f"cannot open the PostgreSQL store at {masked}: {reason}"
        if found and isinstance(exc, psycopg.errors.InsufficientPrivilege):
            msg += upgrade_hint(found[0])
        # Not chained: the driver's own error may quote the URL, password and all.
        raise StoreError(msg) from None
    pool = BoundedPool(
        url,
        deadlines=deadlines,
        bound=bound,
        server_bound=server_bound,
        min_size=min_size,
        max_size=max_size,
        kwargs=kwargs,
        timeout=timeout,
        reconnect_timeout=RECONNECT,
        open=False,
        name="actors-store",
    )
    try:
        pool.open(wait=True, timeout=timeout)
    except psycopg_pool.PoolTimeout as exc:
        pool.close()
        msg = f"cannot open a connection pool to {masked} within {timeout}s"
        raise StoreError(msg) from exc
    return pool


def upgrade_hint(version: int) -> str:
    """Why a role was refused a migration, and who may apply it (``version``: as found).

    Workers and commands may run as a role that reads and writes the store's tables
    but may not change them; such a role opens a store already up to date, and one of
    an older schema (a deploy before ``actors db upgrade``) needs the schema's owner.
    """
    latest = MIGRATIONS[-1].version
    found = "there is no store there yet" if not version else f"its schema is version {version}"
    return (
        f" ({found}, and this release of actors needs {latest}: this role may not change"
        " the schema; run `actors db upgrade` as a role that may, such as the schema's"
        " owner)"
    )


def _one(row: Any) -> Any:
    return None if row is None else row[0]


def describe(exc: BaseException) -> str:
    """The driver's error on one line, secrets masked."""
    text = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return mask_secrets(text or type(exc).__name__)
