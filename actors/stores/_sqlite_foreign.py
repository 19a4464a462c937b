"""Whether a SQLite file may become, or already is, this engine's store.

A store's path that names another application's database (a typo, a wrong directory)
must not get this engine's tables, nor be put in WAL mode, which changes how that
application's own connections use the file. So before the first write, a store reads
what the file holds: nothing at all (a new file) gets the schema; this engine's schema
opens as ever; anything else is refused, naming the file and what is in it, with
nothing written.

There is no option to put the engine into another application's SQLite file on purpose:
it would switch that file to WAL mode for every program using it, and the engine's
transactions could not join the application's anyway (each runs on its own connection).
A store in a file of its own costs nothing more.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse

from actors._errors import ForeignDatabaseError
from actors._text import printable

__all__ = ["SHOWN", "peek_foreign", "refuse_foreign"]

SHOWN = 5
"""How many of a foreign file's tables its error names."""

# Columns this engine's schema has had from its first migration on, in the tables that
# migration made together with its version row: a file holding both is one of ours (of
# any version), where a ``schema_version`` or ``jobs`` table alone may be anyone's.
_OURS = {
    "schema_version": {"version", "description", "applied_at"},
    "jobs": {"id", "case_id", "workflow", "version", "state", "data", "lease_owner"},
}


def refuse_foreign(conn: sqlite3.Connection, path: str) -> None:
    """Raise ``ForeignDatabaseError`` if ``conn``'s file holds tables that are not ours.

    Reads only. A file with no tables or views (new, or empty) passes, and so does one
    that holds this engine's schema, with other tables beside it or not.
    """
    found = [
        (kind, printable(str(name)))
        for kind, name in conn.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name"
        )
    ]
    if not found or _ours(conn, {name for kind, name in found if kind == "table"}):
        return
    raise ForeignDatabaseError(_message(path, found))


def peek_foreign(path: str) -> None:
    """``refuse_foreign`` on the file at ``path`` as it lies, before any connection is made.

    Opened immutable, SQLite reads the file alone: no ``-wal`` or ``-shm`` is made, where
    a connection to a file in WAL mode makes them, and one opened read-only leaves them
    behind. What only the application's ``-wal`` holds is not seen here: the store's own
    connection looks again (``connect(vet=True)``). A file that cannot be read so is left
    to that connection to report.
    """
    with contextlib.suppress(OSError):
        if os.path.getsize(path) == 0:
            return
    # fsencode: a path of bytes that are not UTF-8 (kept as surrogates) quotes as %FF.
    target = f"file:{urllib.parse.quote(os.fsencode(path))}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(target, uri=True)
    except sqlite3.Error:
        return  # missing, say: a new store
    try:
        refuse_foreign(conn, path)
    except sqlite3.Error:
        pass  # not a database, say: the store's own connection says so
    finally:
        conn.close()


def _ours(conn: sqlite3.Connection, tables: set[str]) -> bool:
    for table, columns in _OURS.items():
        if table not in tables:
            return False
        # The table's name comes from the fixed set above, never from the file.
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if not columns <= have:
            return False
    return True


def _message(path: str, found: list[tuple[str, str]]) -> str:
    names = [name for _, name in found]
    shown = ", ".join(names[:SHOWN])
    if len(names) > SHOWN:
        shown += f" and {len(names) - SHOWN} more"
    if "jobs" in names:  # the table this engine would have made
        shown += "; its jobs table is not an actors store's"
    what = "tables" if all(kind == "table" for kind, _ in found) else "tables and views"
    return (
        f"the SQLite file {path!r} holds another application's {what} ({shown}) and no "
        "actors schema; nothing was written to it: check the path, or give the store a "
        "file of its own"
    )
