"""``actors db upgrade``: migrations applied once, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from actors._cli import main
from actors.stores._schema import MIGRATIONS


def test_db_upgrade_applies_the_migrations_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    first = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    assert first.exit_code == 0, first.output
    assert all(f"applied {n}:" in first.output for n in (1, 2, 3, 4, 5))
    assert first.output.strip().endswith(f"schema version {MIGRATIONS[-1].version}")
    again = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    assert again.exit_code == 0
    assert again.output.strip() == f"schema version {MIGRATIONS[-1].version} (already up to date)"


def test_db_upgrade_of_a_schema_newer_than_it_knows_says_so(tmp_path: Path) -> None:
    import sqlite3

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    assert CliRunner().invoke(main, ["db", "upgrade", "--store", url]).exit_code == 0
    with sqlite3.connect(tmp_path / "jobs.db") as conn:  # as a newer release would leave it
        conn.execute(
            "INSERT INTO schema_version (version, description, applied_at) VALUES (99, 'x', 0)"
        )
    result = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    assert result.exit_code == 0, result.output
    assert "schema version 99, newer than this version of actors knows" in result.output
    assert "already up to date" not in result.output


def test_db_upgrade_of_a_file_that_is_no_database_is_a_bad_argument(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not a database, only text\n" * 100)
    result = CliRunner().invoke(
        main, ["db", "upgrade", "--store", f"sqlite:///{tmp_path}/notes.db"]
    )
    assert result.exit_code == 2, result.output
    assert "cannot open store" in result.output and "notes.db" in result.output


def test_db_upgrade_of_a_postgres_store(pg_server: Any) -> None:
    import psycopg

    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "actors_cli_upgrade"')
        conn.execute('CREATE DATABASE "actors_cli_upgrade"')
    url = pg_server.get_uri("actors_cli_upgrade")
    result = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"schema version {MIGRATIONS[-1].version}")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memory://", "no schema to upgrade"),
        ("sqlite:////no/such/dir/x.db", "cannot open store"),
        ("redis://localhost", "use sqlite:///path.db or postgresql://"),
    ],
)
def test_db_upgrade_errors_are_one_line(url: str, message: str) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
