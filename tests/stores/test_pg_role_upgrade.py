"""A role that may read and write the store's tables, but not change them, on an older schema.

The docs advise running workers and commands as such a role, and ``actors db upgrade``
as the schema's owner. A worker of a new release deployed before that upgrade, and the
upgrade run as the workers' role, failed with the server's words only (``permission
denied for schema public | LINE 1: CREATE TABLE IF NOT EXISTS schema_version ...``):
nothing said that the schema was older than the release, nor who could upgrade it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from click.testing import CliRunner

import actors.stores._schema as schema
from actors import StoreError
from actors._cli import main
from actors.stores import open_store

pytestmark = pytest.mark.postgres

ROLE = "actors_dml_old"


@pytest.fixture
def dml_url(fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The URL of a role with DML rights only, on a store one migration behind."""
    name = urlsplit(fresh_pg_url).path.lstrip("/")
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        with monkeypatch.context() as patch:
            patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:-1])
            schema.migrate(conn)
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') "
            f"THEN CREATE ROLE {ROLE} LOGIN; END IF; END $$"
        )
        conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO {ROLE}')
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {ROLE}")
        conn.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {ROLE}"
        )
        conn.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {ROLE}")
    url = fresh_pg_url.replace("postgres:@", f"{ROLE}:@", 1)
    assert url != fresh_pg_url
    try:
        yield url
    finally:
        with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
            conn.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE}")
            conn.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {ROLE}")
            conn.execute(f"REVOKE ALL ON SCHEMA public FROM {ROLE}")
            conn.execute(f'REVOKE ALL ON DATABASE "{name}" FROM {ROLE}')


def _says_who_may_upgrade(text: str) -> None:
    older, newest = schema.MIGRATIONS[-2].version, schema.MIGRATIONS[-1].version
    assert "permission denied" in text, text
    assert f"its schema is version {older}, and this release of actors needs {newest}" in text
    assert "run `actors db upgrade` as a role that may, such as the schema's owner" in text


def test_a_worker_of_a_role_that_cannot_upgrade_says_the_schema_is_older(dml_url: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(dml_url).close()
    _says_who_may_upgrade(str(caught.value))


def test_db_upgrade_as_a_role_that_cannot_says_who_may(dml_url: str) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade", "--store", dml_url])
    assert result.exit_code == 1, result.output
    _says_who_may_upgrade(result.output)


def test_the_schemas_owner_upgrades_it_and_the_role_then_opens_it(
    dml_url: str, fresh_pg_url: str
) -> None:
    upgraded = CliRunner().invoke(main, ["db", "upgrade", "--store", fresh_pg_url])
    assert upgraded.exit_code == 0, upgraded.output
    store: Any = open_store(dml_url)
    store.close()
