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
from actors.stores._foreign import OURS, is_ours, refusal

__all__ = ["peek_foreign", "refuse_foreign"]


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
    # The tables' names come from the fixed set OURS, never from the file.
    columns = {
        table: {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for table in OURS
        if table in tables
    }
    return is_ours(columns)


def _message(path: str, found: list[tuple[str, str]]) -> str:
    return refusal(
        f"the SQLite file {path!r}", found, "check the path, or give the store a file of its own"
    )
