"""``actors db upgrade``: migrations applied once, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from actors._cli import main
from actors._job import JobRecord
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


def test_db_upgrade_of_a_postgres_store(pg_database: Any) -> None:

    url = pg_database("actors_cli_upgrade")
    result = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"schema version {MIGRATIONS[-1].version}")


def test_a_store_url_scheme_is_read_in_any_case(pg_database: Any, tmp_path: Path) -> None:
    # The other commands took SQLITE:// and db upgrade refused it; PostgreSQL's scheme in
    # capitals was taken for PostgreSQL and handed to libpq as it was, which refused it
    # ('invalid connection option "POSTGRESQL://..."').

    scheme, rest = pg_database("actors_cli_scheme").split("://", 1)
    for url in (f"{scheme.upper()}://{rest}", f"SQLITE:///{tmp_path / 'jobs.db'}"):
        upgraded = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
        assert upgraded.exit_code == 0, upgraded.output
        assert f"schema version {MIGRATIONS[-1].version}" in upgraded.output
        shown = CliRunner().invoke(main, ["status", "--store", url])
        assert shown.exit_code == 0, shown.output
    assert CliRunner().invoke(main, ["db", "upgrade", "--store", "Memory://"]).exit_code == 2


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memory://", "no schema to upgrade"),
        ("sqlite:////no/such/dir/x.db", "cannot open 'sqlite:////no/such/dir/x.db': directory"),
        ("redis://localhost", "use sqlite:///path.db or postgresql://"),
    ],
)
def test_db_upgrade_errors_are_one_line(url: str, message: str) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def _at_version_6(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store as the release before migration 7 left it, holding three cases."""
    from actors._job import JobRecord
    from actors.stores import _schema, open_store

    with monkeypatch.context() as patch:
        patch.setattr(_schema, "MIGRATIONS", MIGRATIONS[:6])
        store = open_store(url, history=False)  # this release's history rows need migration 8
        store.create_many([JobRecord(f"c{n}", f"c{n}", "w", 1, "a", {}) for n in range(3)])
        store.close()


def test_a_store_before_the_listing_indexes_is_refused_to_readers_then_upgraded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    assert MIGRATIONS[6].version == 7
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    _at_version_6(url, monkeypatch)
    listing = ["jobs", "list", "--store", url, "--json"]
    refused = CliRunner().invoke(main, listing)
    assert refused.exit_code != 0
    newest = MIGRATIONS[-1].version
    assert f"has schema version 6, this version of actors reads {newest}" in refused.output
    assert "run `actors db upgrade` first" in refused.output
    upgraded = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    assert upgraded.exit_code == 0, upgraded.output
    assert "applied 7:" in upgraded.output and "applied 6:" not in upgraded.output
    with sqlite3.connect(tmp_path / "jobs.db") as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"jobs_listed", "jobs_listed_cases"} <= indexes
    assert not {"jobs_listed_state", "jobs_listed_workflow"} & indexes
    listed = CliRunner().invoke(main, listing)
    assert listed.exit_code == 0, listed.output
    assert '"id": "c2"' in listed.output and '"next_cursor": null' in listed.output


def test_a_postgres_store_before_the_listing_indexes_upgrades(
    pg_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:

    from actors.admin import Admin
    from actors.stores import open_store

    url = pg_database("actors_cli_upgrade_7")
    _at_version_6(url, monkeypatch)
    refused = CliRunner().invoke(main, ["jobs", "list", "--store", url])
    assert "run `actors db upgrade` first" in refused.output
    upgraded = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    assert upgraded.exit_code == 0, upgraded.output
    assert "applied 7:" in upgraded.output
    with Admin(open_store(url, read_only=True)) as admin:
        assert [job.id for job in admin.jobs().items] == ["c2", "c1", "c0"]
        admin.store.close()


def test_db_upgrade_reports_what_it_applied_itself(tmp_path: Path, monkeypatch) -> None:
    """Two upgrades at once: each prints what it applied, not every version in between."""
    import actors.stores._schema as schema

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    assert CliRunner().invoke(main, ["db", "upgrade", "--store", url]).exit_code == 0
    monkeypatch.setattr(schema, "current_version", lambda conn: 0)  # read before the other's
    late = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    assert late.exit_code == 0, late.output
    assert late.output.strip() == f"schema version {MIGRATIONS[-1].version} (already up to date)"


def test_db_upgrade_names_no_migration_that_changes_nothing_here(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    first = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    shown = {
        int(line.split()[1].rstrip(":"))
        for line in first.output.splitlines()
        if line.startswith("applied")
    }
    assert shown == {m.version for m in MIGRATIONS if m.sqlite}  # 11 and 13: PostgreSQL's only


def test_a_store_opened_on_a_schema_newer_than_it_knows_warns(tmp_path: Path, caplog: Any) -> None:
    import logging
    import sqlite3

    from actors.stores import open_store

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    open_store(url).close()
    with sqlite3.connect(tmp_path / "jobs.db") as conn:  # as a newer release would leave it
        conn.execute(
            "INSERT INTO schema_version (version, description, applied_at) VALUES (99, 'x', 0)"
        )
    with caplog.at_level(logging.WARNING, logger="actors.stores"):
        open_store(url).close()
    said = [r.getMessage() for r in caplog.records if r.name == "actors.stores"]
    assert any("schema is version 99, newer than this release" in m for m in said), said


def _breaking_newer(conn: Any, mark: str = "?") -> None:
    """A newer release's rows: a migration older releases must not write past, then another."""
    conn.execute(
        "INSERT INTO schema_version (version, description, applied_at, breaks_older) "
        f"VALUES (98, {mark}, 0, 1), (99, 'an index', 0, 0)",
        ("arrivals kept elsewhere",),
    )


def test_a_schema_past_a_migration_older_releases_must_not_write_is_refused(
    tmp_path: Path,
) -> None:
    """Every opening refuses it, the workers' and the commands', and writes nothing."""
    import sqlite3

    from actors import Mediator, Sequential, Workflow
    from actors._errors import StoreError
    from actors.stores import open_store

    path = tmp_path / "jobs.db"
    url = f"sqlite:///{path}"
    store = open_store(url)
    store.create_many([JobRecord("c1", "c1", "w", 1, "a", {})])
    store.close()
    with sqlite3.connect(path) as conn:
        _breaking_newer(conn)
    words = (
        "has schema version 99, and its migration 98 (arrivals kept elsewhere) changed the "
        "tables in a way releases before it must not write: this release of actors knows "
        f"schema {MIGRATIONS[-1].version}. Nothing was written"
    )
    for read_only in (False, True):
        with pytest.raises(StoreError, match=re.escape(words)):
            open_store(url, read_only=read_only)
    flow = Workflow("w", [Sequential("a", lambda d: None)], start="a")
    with pytest.raises(StoreError, match=re.escape(words)):
        Mediator([flow], store=url)
    for command in (["db", "upgrade"], ["status"], ["jobs", "list"], ["jobs", "retry", "c1"]):
        result = CliRunner().invoke(main, [*command, "--store", url])
        assert result.exit_code != 0, (command, result.output)
        assert words in result.output, (command, result.output)
        assert "Traceback" not in result.output
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT state, data FROM jobs").fetchall() == [("ready", "{}")]


def test_a_postgres_schema_past_a_breaking_migration_is_refused(pg_database: Any) -> None:
    import psycopg

    from actors._errors import StoreError
    from actors.stores import open_store

    url = pg_database("actors_breaking_newer")
    open_store(url).close()
    with psycopg.connect(url, autocommit=True) as conn:
        _breaking_newer(conn, "%s")
    for read_only in (False, True):
        with pytest.raises(StoreError, match="its migration 98 \\(arrivals kept elsewhere\\)"):
            open_store(url, read_only=read_only)
    with psycopg.connect(url, autocommit=True) as conn:  # an ordinary newer one runs on
        conn.execute("UPDATE schema_version SET breaks_older = 0")
    open_store(url).close()


def test_a_store_of_schema_14_upgrades_and_records_what_older_releases_may_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    import actors.stores._schema as schema
    from actors.stores import open_store

    path = tmp_path / "jobs.db"
    url = f"sqlite:///{path}"
    assert MIGRATIONS[14].version == 15
    monkeypatch.setattr(schema, "MIGRATIONS", MIGRATIONS[:14])
    open_store(url).close()  # as the release before left it
    monkeypatch.undo()
    with sqlite3.connect(path) as conn:
        assert "breaks_older" not in {
            r[1] for r in conn.execute("PRAGMA table_info(schema_version)")
        }
    upgraded = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    assert upgraded.exit_code == 0, upgraded.output
    assert "applied 15:" in upgraded.output
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT version, breaks_older FROM schema_version").fetchall()
    assert rows == [(m.version, int(m.breaks_older)) for m in MIGRATIONS]
    assert rows[15] == (16, 1)  # migration 16 drops an index releases before it name
    open_store(url).close()


def test_db_upgrade_of_a_directory_says_it_is_one(tmp_path: Path) -> None:
    # SQLite said only "unable to open database file".
    (tmp_path / "jobs.db").mkdir()
    result = CliRunner().invoke(main, ["db", "upgrade", "--store", f"sqlite:///{tmp_path}/jobs.db"])
    assert result.exit_code == 2, result.output
    assert "jobs.db': it is a directory, not a database file" in result.output
