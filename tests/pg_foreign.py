"""Helpers of the foreign PostgreSQL schema tests: another application's tables, a snapshot."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

# What other applications leave in a PostgreSQL schema.
FOREIGN: dict[str, tuple[str, ...]] = {
    "other tables": ("CREATE TABLE users (id INTEGER, name TEXT)", "CREATE TABLE orders (id INT)"),
    "a jobs table": ("CREATE TABLE jobs (id SERIAL PRIMARY KEY, title TEXT)",),
    "jobs and schema_version": (
        "CREATE TABLE schema_version (version INTEGER, description TEXT, applied_at FLOAT8)",
        "INSERT INTO schema_version VALUES (3, 'theirs', 0)",
        "CREATE TABLE jobs (id SERIAL PRIMARY KEY, title TEXT)",
    ),
    "a view": ("CREATE VIEW answer AS SELECT 42 AS x",),
}
NAMED = {
    "other tables": "tables (orders, users)",
    "a jobs table": "tables (jobs; its jobs table is not an actors store's)",
    "jobs and schema_version": "tables (jobs, schema_version; its jobs table is not an actors "
    "store's)",
    "a view": "tables and views (answer)",
}


def run(url: str, *statements: str) -> None:
    """Run ``statements`` on ``url``, each in autocommit."""
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def snapshot(url: str) -> dict[tuple[str, str], list[Any]]:
    """Every relation of the database outside the system's schemas, and a table's rows."""
    with psycopg.connect(url, autocommit=True) as conn:
        rels = conn.execute(
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN "
            "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
            "ORDER BY 1, 2"
        ).fetchall()
        found: dict[tuple[str, str], list[Any]] = {}
        for schema, name, kind in rels:
            rows: list[Any] = []
            if kind in ("r", "v"):
                query = sql.SQL("SELECT * FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(name)
                )
                rows = sorted(conn.execute(query).fetchall())
            found[(schema, name)] = rows
        return found
