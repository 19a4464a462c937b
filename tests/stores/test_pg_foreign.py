"""A PostgreSQL schema holding another application's tables is refused; nothing is written.

The rule of ``tests/stores/test_sqlite_foreign.py``, applied to the schema the store's
tables are made in (the session's current schema): other schemas of the database may hold
anything.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from pg_foreign import FOREIGN, NAMED, run, snapshot

from actors import Mediator, Sequential, StoreError, Workflow
from actors._errors import ForeignDatabaseError
from actors._job import JobRecord
from actors._redact import mask_url
from actors.admin import Admin
from actors.stores import _schema, open_store
from actors.stores._schema import MIGRATIONS

pytestmark = pytest.mark.postgres


def _mediator(url: str) -> None:
    flow = Workflow("w", [Sequential("a", lambda d: None)], start="a")
    Mediator([flow], store=url).shutdown()


OPENS: dict[str, Callable[[str], object]] = {
    "open_store": lambda url: open_store(url).close(),  # type: ignore[func-returns-value]
    "read_only": lambda url: open_store(url, read_only=True).close(),  # type: ignore[func-returns-value]
    "commit per step": lambda url: open_store(url, commit="step").close(),  # type: ignore[func-returns-value]
    "Mediator": _mediator,
    "Admin": lambda url: Admin(store=url).close(),  # type: ignore[func-returns-value]
}


@pytest.mark.parametrize("kind", FOREIGN)
@pytest.mark.parametrize("how", OPENS)
def test_another_applications_schema_is_refused_and_left_as_it_was(
    fresh_pg_url: str, kind: str, how: str
) -> None:
    run(fresh_pg_url, *FOREIGN[kind])
    before = snapshot(fresh_pg_url)
    with pytest.raises(ForeignDatabaseError) as refused:
        OPENS[how](fresh_pg_url)
    assert isinstance(refused.value, StoreError)
    said = str(refused.value)
    assert said.startswith(
        f"the schema 'public' of the PostgreSQL database at {mask_url(fresh_pg_url)} holds "
        f"another "
        f"application's {NAMED[kind]}"
    ), said
    assert "and no actors schema; nothing was written to it: check the URL" in said
    assert snapshot(fresh_pg_url) == before


def test_the_refusal_masks_the_password_and_counts_the_tables(fresh_pg_url: str) -> None:
    run(fresh_pg_url, *(f"CREATE TABLE t{n} (x INT)" for n in range(8)))
    run(fresh_pg_url, "CREATE ROLE app_foreign LOGIN PASSWORD 's3cret-pw' SUPERUSER")
    try:
        url = fresh_pg_url.replace("postgres:@", "app_foreign:s3cret-pw@", 1)
        assert url != fresh_pg_url
        with pytest.raises(ForeignDatabaseError) as refused:
            open_store(url)
    finally:
        run(fresh_pg_url, "DROP ROLE app_foreign")
    said = str(refused.value)
    assert "(t0, t1, t2, t3, t4 and 3 more)" in said
    assert "s3cret-pw" not in said
    assert "app_foreign:***@" in said


def test_another_applications_tables_in_another_schema_are_left_alone(fresh_pg_url: str) -> None:
    run(fresh_pg_url, "CREATE SCHEMA app", "CREATE TABLE app.jobs (id SERIAL, title TEXT)")
    store = open_store(fresh_pg_url)
    try:
        store.create(JobRecord("c1", "c1", "w", 1, "a", {}))
        assert store.get("c1") is not None
    finally:
        store.close()
    assert ("public", "jobs") in snapshot(fresh_pg_url)


def test_a_schema_of_its_own_beside_another_applications_opens(fresh_pg_url: str) -> None:
    run(fresh_pg_url, *FOREIGN["a jobs table"], "CREATE SCHEMA engine")
    url = f"{fresh_pg_url}{'&' if '?' in fresh_pg_url else '?'}options=-c%20search_path%3Dengine"
    store = open_store(url)
    try:
        store.create(JobRecord("c1", "c1", "w", 1, "a", {}))
    finally:
        store.close()
    open_store(url, read_only=True).close()
    tables = snapshot(fresh_pg_url)
    assert ("engine", "jobs") in tables
    assert ("engine", "schema_version") in tables
    assert tables[("public", "jobs")] == []  # theirs, as it was


def test_a_store_later_in_the_search_path_opens_as_ever(fresh_pg_url: str) -> None:
    open_store(fresh_pg_url).close()  # in public
    run(fresh_pg_url, "CREATE SCHEMA app", "CREATE TABLE app.users (id INT)")
    url = f"{fresh_pg_url}&options=-c%20search_path%3Dapp,public"
    store = open_store(url)
    try:
        store.create(JobRecord("c1", "c1", "w", 1, "a", {}))
    finally:
        store.close()
    open_store(url, read_only=True).close()
    assert snapshot(fresh_pg_url)[("app", "users")] == []
    run(fresh_pg_url, "CREATE TABLE app.jobs (id SERIAL PRIMARY KEY, title TEXT)")
    with pytest.raises(ForeignDatabaseError, match=r"the schema 'app' .* \(jobs, users; its jobs"):
        open_store(url)


def test_a_store_with_other_tables_beside_it_opens_as_ever(fresh_pg_url: str) -> None:
    open_store(fresh_pg_url).close()
    run(fresh_pg_url, "CREATE TABLE notes (body TEXT)", "CREATE VIEW answer AS SELECT 42 AS x")
    open_store(fresh_pg_url).close()
    open_store(fresh_pg_url, read_only=True).close()


def test_a_store_of_the_first_schema_version_is_ours_and_upgraded(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(_schema, "MIGRATIONS", MIGRATIONS[:1])
        with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
            _schema.migrate(conn)
    store = open_store(fresh_pg_url)
    store.close()
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        assert _schema.current_version(conn) == MIGRATIONS[-1].version
