"""Databases of a test's own on the tests' throwaway PostgreSQL servers, dropped after it.

A database left behind costs the server's data directory about 8 MiB (its catalog), and
a full run makes hundreds: ``fresh_database`` makes one, ``drop_database`` drops it with
whatever connections are still open to it (a worker process killed, a store not closed).
The ``pg_database`` fixture (``conftest.py``) drops each database its test made.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql


def fresh_database(server: Any, name: str) -> str:
    """The URL of a new empty database ``name`` on pgserver ``server`` (made afresh)."""
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return str(server.get_uri(name))


def drop_database(server: Any, name: str) -> None:
    """Drop database ``name`` on ``server``, ending the connections still open to it."""
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
