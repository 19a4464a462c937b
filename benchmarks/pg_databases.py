"""A database of its own on a throwaway PostgreSQL server, for the benchmarks that need one."""

from __future__ import annotations

from typing import Any


def fresh_database(server: Any, name: str) -> str:
    """The URL of database ``name`` on pgserver ``server``, dropped first if it exists."""
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return str(server.get_uri(name))
