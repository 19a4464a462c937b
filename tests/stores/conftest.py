"""Fixtures for the store tests: one contract suite over memory, SQLite and PostgreSQL.

PostgreSQL comes from pgserver: a throwaway server started once per session in a
temporary directory. It is never skipped: if it cannot start, the session fails loudly.
Each test gets empty tables (TRUNCATE); tests that need a database of their own (schema
and migration tests) ask ``fresh_pg_url``.
"""

import itertools

import psycopg
import pytest
from pg_throwaway import fresh_database

from actors.stores import MemoryStore, SqliteStore
from actors.stores._postgres import PostgresStore
from actors.stores._schema import migrate

ALL_KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SQL_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
# Group commit on SQLite runs on the writer thread's connection or in a writer process.
GROUP_KINDS = [*SQL_KINDS[:1], "sqlite-process", *SQL_KINDS[1:]]

_db_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_url(pg_server):
    """A migrated database shared by the contract tests (emptied before each test)."""
    url = fresh_database(pg_server, "actors_contract")
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    return url


@pytest.fixture
def fresh_pg_url(pg_database):
    """An empty database of this test's own (no schema yet), dropped when the test ends."""
    return pg_database(f"actors_fresh_{next(_db_names)}")


def _truncate(url):
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE jobs, step_history, job_requests, join_arrivals, join_counts, workers"
        )


class StoreFactory:
    """Makes stores of one kind on one database (so two stores can share it)."""

    def __init__(self, kind, tmp_path, request):
        # What makes a group-commit store of this kind (see GROUP_KINDS).
        self.group = {"commit": "group"}
        if kind == "sqlite-process":
            kind = "sqlite"
            self.group["writer"] = "process"
        self.kind = kind
        self.made = []
        self.path = tmp_path / "jobs.db"
        self.url = None
        if kind == "postgres":
            self.url = request.getfixturevalue("pg_url")
            _truncate(self.url)

    def __call__(self, **options):
        if self.kind == "memory":
            store = MemoryStore(**options)
        elif self.kind == "sqlite":
            if options.get("commit") == "group":
                options = {**self.group, **options}
            store = SqliteStore(self.path, **options)
        else:
            store = PostgresStore(self.url, **options)
        self.made.append(store)
        return store

    def raw(self, sql, params=()):
        """Run one statement (``?`` placeholders) on the store's database directly."""
        if self.kind == "sqlite":
            import sqlite3

            with sqlite3.connect(self.path, isolation_level=None) as conn:
                return conn.execute(sql, params).fetchall()
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(sql.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []

    def close(self):
        for store in self.made:
            store.close()


def _factory(request, tmp_path):
    return StoreFactory(request.param, tmp_path, request)


@pytest.fixture(params=ALL_KINDS)
def make_store(request, tmp_path):
    factory = _factory(request, tmp_path)
    yield factory
    factory.close()


@pytest.fixture
def store(make_store):
    return make_store()


@pytest.fixture(params=SQL_KINDS)
def make_sql_store(request, tmp_path):
    factory = _factory(request, tmp_path)
    yield factory
    factory.close()


@pytest.fixture
def sql_store(make_sql_store):
    return make_sql_store()


@pytest.fixture
def group(make_sql_store):
    """A group-commit store of the kind ``make_sql_store`` is parametrized with."""
    return make_sql_store(commit="group")
