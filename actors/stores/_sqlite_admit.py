"""An admission on SQLite in one statement: the new job's row and its history row together.

A producer's ``schedule()`` stores its case in a transaction of its own, and the
process's other writes (the writer thread's groups) wait for it. As ``BEGIN
IMMEDIATE``, two inserts and ``COMMIT`` it was four statements, and each lets go of
the GIL while SQLite runs it: the producer then waited for the GIL four times with the
write lock held, and every other write of the process waited with it. In one statement,
run in autocommit, it waits once. That statement inserts into a view of the
connection's own (a ``TEMP`` view: nothing in the file, no migration) whose ``INSTEAD
OF`` trigger refuses a taken id and inserts both rows, all or nothing. SQLite takes the
write lock of an autocommit write as ``BEGIN IMMEDIATE`` does, waiting through the busy
timeout for another process's.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from actors.stores._statements import HISTORY, INSERT_NEW

__all__ = ["TAKEN", "admit_row", "prepare"]


def _columns(insert: str) -> tuple[str, ...]:
    """The column list of an ``INSERT INTO t (a, b, ...) VALUES ...`` statement."""
    return tuple(insert[insert.index("(") + 1 : insert.index(")")].split(", "))


_JOB, _HISTORY = _columns(INSERT_NEW), _columns(HISTORY)
_VIEW = (*(f"j_{c}" for c in _JOB), *(f"h_{c}" for c in _HISTORY))
TAKEN = "actors: the id of the admitted job is taken"
_DDL = (
    f"CREATE TEMP VIEW IF NOT EXISTS actors_admit ({', '.join(_VIEW)}) "
    f"AS SELECT {', '.join('NULL' for _ in _VIEW)}",
    "CREATE TEMP TRIGGER IF NOT EXISTS actors_admit_rows "
    "INSTEAD OF INSERT ON actors_admit BEGIN "
    f"SELECT RAISE(ABORT, '{TAKEN}') WHERE EXISTS (SELECT 1 FROM jobs WHERE id = NEW.j_id); "
    f"INSERT INTO jobs ({', '.join(_JOB)}) VALUES ({', '.join(f'NEW.j_{c}' for c in _JOB)}); "
    f"INSERT INTO step_history ({', '.join(_HISTORY)}) "
    f"VALUES ({', '.join(f'NEW.h_{c}' for c in _HISTORY)}); END",
)
_ADMIT = f"INSERT INTO temp.actors_admit VALUES ({', '.join('?' for _ in _VIEW)})"


def prepare(conn: sqlite3.Connection) -> None:
    """Make ``conn``'s view for admissions (its own: nothing is written to the file)."""
    for ddl in _DDL:
        conn.execute(ddl)


def admit_row(
    conn: sqlite3.Connection, params: tuple[Any, ...], history: tuple[Any, ...] | None
) -> bool:
    """Insert a new job's row (``INSERT_NEW``'s parameters) and its history row, if any.

    One statement on ``conn``, which must be in autocommit; False if a job holds the id
    (nothing is written then).
    """
    if history is None:  # the store keeps no history: the row alone, one statement anyway
        return bool(conn.execute(INSERT_NEW, params).rowcount)
    try:
        conn.execute(_ADMIT, (*params, *history))
    except sqlite3.OperationalError as exc:
        if "no such table: temp.actors_admit" not in str(exc):
            raise
        prepare(conn)  # the connection's first admission
        return admit_row(conn, params, history)
    except sqlite3.IntegrityError as exc:
        if str(exc) != TAKEN:
            raise
        return False
    return True
