"""Job stores, chosen by URL: ``memory://``, ``sqlite:///path.db``, ``postgresql://...``.

``open_store(url)`` opens one. The SQL stores persist job data as JSON through a
``Codec``: register the dataclasses your data holds with ``register_dataclass``.
``PostgresStore`` needs psycopg and psycopg_pool (the ``postgres`` extra); they are
imported only when a PostgreSQL store is opened.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from actors._errors import StoreError
from actors._redact import URL_EXAMPLE, mask_url, remember_secrets
from actors.stores._base import Store
from actors.stores._codec import DEFAULT_CODEC, Codec, register_dataclass
from actors.stores._memory import MemoryStore
from actors.stores._sql import SqlStore
from actors.stores._sqlite import SqliteStore

if TYPE_CHECKING:
    from actors.stores._postgres import PostgresStore

__all__ = [
    "DEFAULT_CODEC",
    "Codec",
    "MemoryStore",
    "PostgresStore",
    "SqlStore",
    "SqliteStore",
    "Store",
    "open_store",
    "register_dataclass",
]

_FORMS = (
    "memory://, sqlite:///relative/path.db, sqlite:////absolute/path.db, "
    f"{URL_EXAMPLE} (or postgres://...)"
)


def __getattr__(name: str) -> Any:
    # PostgresStore on first use only: importing it imports psycopg.
    if name == "PostgresStore":
        return _postgres_store_class("PostgresStore")
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def _postgres_store_class(url: str) -> type[PostgresStore]:
    try:
        from actors.stores._postgres import PostgresStore
    except ImportError as exc:
        msg = (
            f"cannot open {url}: the PostgreSQL store needs psycopg and psycopg_pool "
            f"({exc}); install them with: pip install 'actors-mediator[postgres]'"
        )
        raise StoreError(msg) from exc
    return PostgresStore


def open_store(url: object, *, codec: Codec | None = None, **options: Any) -> Store:
    """Open the store ``url`` names.

    Accepted forms: ``memory://``; ``sqlite:///relative/path.db`` and
    ``sqlite:////absolute/path.db`` (the file is created if missing; its directory must
    exist); ``postgresql://...`` or ``postgres://...`` (a libpq URL). ``codec`` (SQL
    stores) and ``options`` go to the store's constructor (``retain=...`` on every store;
    on SQL stores ``commit=...`` and ``group_wait=...``; SQLite's ``writer=...`` and
    ``busy_timeout=...``; PostgreSQL's ``max_size=...``). An option the store does not
    take raises ``TypeError`` naming it.

    Raises ``StoreError`` for a URL of another form, naming it and the accepted forms,
    and for a store that cannot be opened (a missing directory, a file that is not a
    database, an unreachable server), naming the URL and the reason.
    """
    if not isinstance(url, str):
        msg = f"a store URL must be a string, got {url!r}; accepted forms: {_FORMS}"
        raise StoreError(msg)
    remember_secrets(url)  # whatever fails from here on, its password is never shown
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        msg = f"{mask_url(url)!r} is not a store URL; accepted forms: {_FORMS}"
        raise StoreError(msg)
    if scheme == "memory":
        if rest:
            msg = f"memory:// takes no path, got {mask_url(url)!r}; accepted forms: {_FORMS}"
            raise StoreError(msg)
        return MemoryStore(**options)
    if scheme == "sqlite":
        return SqliteStore(_sqlite_path(url, rest), codec=codec, **options)
    if scheme in ("postgresql", "postgres"):
        cls = _postgres_store_class(mask_url(url))
        # The scheme is read in any case, as URLs' are; libpq takes it in lower case only
        # ('invalid connection option "POSTGRESQL://..."').
        return cls(f"{scheme}://{rest}", codec=codec, **options)
    shown = mask_url(url)  # the scheme too: a mistyped URL's may hold its password
    if scheme.strip() in ("memory", "sqlite", "postgresql", "postgres"):
        # A stray space or newline (a shell variable, a config line) read as its scheme.
        msg = f"{shown!r} begins with white space: remove it; accepted forms: {_FORMS}"
        raise StoreError(msg)
    msg = (
        f"unknown store URL scheme {shown.partition('://')[0].lower()!r} in {shown!r}; "
        f"accepted forms: {_FORMS}"
    )
    raise StoreError(msg)


def _sqlite_path(raw: str, rest: str) -> str:
    url = mask_url(raw)  # for messages; a SQLite URL has no password, but a typo might
    # sqlite:///x.db -> rest "/x.db" -> "x.db" (relative); sqlite:////x.db -> "/x.db".
    if not rest.startswith("/"):
        msg = (
            f"{url!r} names a host; a SQLite URL has three slashes before a relative path "
            f"(sqlite:///jobs.db) and four before an absolute one (sqlite:////var/jobs.db)"
        )
        raise StoreError(msg)
    parts = urlsplit(raw)
    if parts.query or parts.fragment:
        # Said for a program's user too (``actors ... --store``), who has no open_store.
        msg = (
            f"{url!r}: a SQLite store URL takes no query or fragment: give the database "
            "file's path alone. A store's options are not written in its URL: open_store "
            "takes them as arguments (busy_timeout=..., commit=...), `actors worker` "
            "as --commit, --writer and --group-wait; the others have no command-line form"
        )
        raise StoreError(msg)
    path = rest[1:]
    if not path or path.endswith("/") or path == ":memory:":
        msg = (
            f"{url!r} names no database file; use sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db (memory:// for an in-process store)"
        )
        raise StoreError(msg)
    name = os.path.basename(path)
    if name != name.strip() and not os.path.exists(path):
        # A stray space or newline (a shell variable, a config line) would create a
        # second database beside the real one, and its workers would find no cases.
        msg = (
            f"{url!r}: the file name {name!r} begins or ends with white space, and no such "
            "file exists: nothing was created; remove the space from the URL (a file "
            "that already has such a name opens)"
        )
        raise StoreError(msg)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        msg = f"cannot open {url!r}: directory {directory!r} does not exist"
        raise StoreError(msg)
    return path
