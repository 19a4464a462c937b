"""Whether a PostgreSQL schema may become, or already is, this engine's store.

A store's tables are made in the session's current schema (the first schema of its
``search_path`` that exists: ``public`` unless the URL's options or the role say
otherwise). That schema is what the rule reads, as a SQLite store reads its file: no
tables or views (a new database) gets the engine's schema; this engine's schema (as the
store's statements find it through the ``search_path``) opens as ever, with other tables
beside it or not; anything else is another application's and is refused before anything
is written, naming the database (password masked), the schema
and its tables. Without this a ``jobs`` table of its own failed the first migration
half-way, and unrelated tables got the engine's schema written among them.

Other schemas of the database are not looked at: on a shared server another
application's tables may rightly live beside the store's, each in a schema of its own
(``options=-c search_path=...`` in the store's URL).
"""

from __future__ import annotations

from typing import Any

from actors._errors import ForeignDatabaseError
from actors._text import printable
from actors.stores._foreign import OURS, is_ours, refusal

__all__ = ["refuse_foreign"]

# Tables, partitioned and foreign tables; views and materialized views.
_TABLES = "('r', 'p', 'f')"
_LISTED = "('r', 'p', 'f', 'v', 'm')"


def refuse_foreign(conn: Any, masked: str) -> None:
    """Raise ``ForeignDatabaseError`` if ``conn``'s current schema holds tables not ours.

    Reads only, on a psycopg connection in autocommit (or the caller's transaction).
    ``masked`` is the store's URL with its password masked. A session with no current
    schema (a ``search_path`` naming none that exists) passes: creating a table fails
    there anyway, with the server's own reason.
    """
    rows = conn.execute(
        "SELECT c.relkind IN " + _TABLES + ", c.relname, n.nspname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN " + _LISTED + " "
        'ORDER BY c.relname COLLATE "C"'
    ).fetchall()
    if not rows:
        return
    # Our tables as the store's statements find them, through the search_path: those of
    # the current schema, or of a later one when the current schema has none of that name.
    columns: dict[str, set[str]] = {}
    for table, name in conn.execute(
        "SELECT t.name, a.attname FROM unnest(%s::text[]) AS t(name) "
        "JOIN pg_class c ON c.oid = to_regclass(t.name) "
        "JOIN pg_attribute a ON a.attrelid = c.oid "
        "WHERE c.relkind IN " + _TABLES + " AND a.attnum > 0 AND NOT a.attisdropped",
        (list(OURS),),
    ):
        columns.setdefault(table, set()).add(name)
    if is_ours(columns):
        return
    found = [("table" if table else "view", printable(str(name))) for table, name, _ in rows]
    where = f"the schema {printable(str(rows[0][2]))!r} of the PostgreSQL database at {masked}"
    raise ForeignDatabaseError(
        refusal(
            where,
            found,
            "check the URL, or give the store a database of its own, or a schema of its own "
            "(options=-c search_path=... in the URL)",
        )
    )
