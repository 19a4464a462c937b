"""What a worker and the commands say about the schema of the store they open."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cli_support import FLOWS, write_module
from click.testing import CliRunner

from actors._cli import main
from actors._job import JobRecord
from actors.stores import _schema, open_store
from actors.stores._schema import MIGRATIONS

NEWER = "schema is version 99, newer than this release of actors knows"


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker opens its store, then starts no engine (it exits 2)."""
    import actors._mediator as mediator_module

    def fake_mediator(*args: Any, **options: Any) -> Any:
        raise ValueError("started no engine")

    monkeypatch.setattr(mediator_module, "Mediator", fake_mediator)


def _at_version_6(path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{path}"
    with monkeypatch.context() as patch:
        patch.setattr(_schema, "MIGRATIONS", MIGRATIONS[:6])
        store = open_store(url, history=False)  # this release's history rows need migration 8
        store.create_many([JobRecord("c1", "c1", "w", 1, "a", {})])
        store.close()
    return url


def _newer(path: Path) -> str:
    url = f"sqlite:///{path}"
    store = open_store(url)
    store.create_many([JobRecord("c1", "c1", "w", 1, "a", {})])
    store.close()
    with sqlite3.connect(path) as conn:  # as a newer release would leave it
        conn.execute(
            "INSERT INTO schema_version (version, description, applied_at) VALUES (99, 'x', 0)"
        )
    return url


def test_a_worker_logs_each_migration_it_applies_to_its_store(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch, no_engine: None
) -> None:
    url = _at_version_6(workdir / "jobs.db", monkeypatch)
    name = write_module(workdir, FLOWS)
    result = runner.invoke(main, ["worker", "--store", url, "--workflows", name])
    assert result.exit_code == 2 and "started no engine" in result.output
    said = [line for line in result.output.splitlines() if "applied schema migration" in line]
    sqlite_only = [m for m in MIGRATIONS[6:] if m.sqlite]  # 11 and 13 change nothing here
    assert [line.split("INFO actors.stores: ")[1] for line in said] == [
        f"applied schema migration {m.version}: {m.description}" for m in sqlite_only
    ]
    again = runner.invoke(main, ["worker", "--store", url, "--workflows", name])
    assert "applied schema migration" not in again.output  # once, by the worker that did


def test_a_worker_on_a_schema_newer_than_it_knows_logs_a_warning(
    runner: CliRunner, workdir: Path, no_engine: None
) -> None:
    url = _newer(workdir / "jobs.db")
    name = write_module(workdir, FLOWS)
    result = runner.invoke(main, ["worker", "--store", url, "--workflows", name])
    assert result.exit_code == 2 and "started no engine" in result.output
    assert f"WARNING actors.stores: the store's {NEWER} ({MIGRATIONS[-1].version})" in result.output


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["jobs", "list"],
        ["jobs", "show", "c1"],
        ["jobs", "cancel", "c1"],
    ],
)
def test_a_command_on_a_schema_newer_than_it_knows_warns_once(
    runner: CliRunner, workdir: Path, command: list[str]
) -> None:
    url = _newer(workdir / "jobs.db")
    result = runner.invoke(main, [*command, "--store", url])
    assert result.exit_code == 0, result.output
    assert result.output.count(NEWER) == 1, result.output
    assert f"actors: warning: the store's {NEWER}" in result.output


def test_enqueue_says_which_migrations_it_applied_and_nothing_for_a_new_store(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _at_version_6(workdir / "old.db", monkeypatch)
    name = write_module(workdir, FLOWS)
    args = ["enqueue", "first", "--workflows", name, "--id", "n1", "--data", "{}"]
    upgraded = runner.invoke(main, [*args, "--store", url])
    assert upgraded.exit_code == 0, upgraded.output
    said = [m for m in MIGRATIONS[6:] if m.sqlite]
    assert upgraded.stderr.splitlines() == [
        f"actors: applied schema migration {m.version}: {m.description}" for m in said
    ]
    created = runner.invoke(main, [*args, "--store", f"sqlite:///{workdir / 'new.db'}"])
    assert created.exit_code == 0, created.output
    assert created.stderr == ""


def _emptied(url: str, conn_of: Any) -> None:
    store = open_store(url)
    store.create_many([JobRecord("c1", "c1", "w", 1, "a", {})])
    store.close()
    conn = conn_of()
    try:
        conn.execute("DELETE FROM schema_version")
        conn.commit()
    finally:
        conn.close()


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_a_store_whose_version_rows_were_deleted_is_refused_naming_the_table(
    runner: CliRunner, workdir: Path, pg_database: Any, dialect: str
) -> None:
    """Read as version 0, every migration ran again and failed: 'table jobs already exists'."""
    if dialect == "sqlite":
        url = f"sqlite:///{workdir / 'jobs.db'}"
        _emptied(url, lambda: sqlite3.connect(workdir / "jobs.db"))
    else:
        import psycopg

        url = pg_database("emptied_versions")
        _emptied(url, lambda: psycopg.connect(url))
    name = write_module(workdir, FLOWS)
    for args in (["status"], ["db", "upgrade"], ["jobs", "list"], ["worker", "--workflows", name]):
        result = runner.invoke(main, [*args, "--store", url])
        assert result.exit_code != 0, (args, result.output)
        assert "schema_version table is empty, though its jobs table is there" in result.output
        assert "already exists" not in result.output
    with pytest.raises(Exception, match="schema_version table is empty"):
        open_store(url)
