"""A SQLite file of another application is refused by every way in; nothing is written to it.

A new file, an empty database and a file holding this engine's schema open as ever.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from actors import Mediator, Sequential, StoreError, Workflow
from actors._cli import main
from actors._errors import ForeignDatabaseError
from actors._job import JobRecord
from actors.stores import _schema, open_store
from actors.stores._schema import MIGRATIONS

# What other applications leave in a SQLite file.
FOREIGN: dict[str, tuple[str, ...]] = {
    "other tables": ("CREATE TABLE users (id INTEGER, name TEXT)", "CREATE TABLE orders (id)"),
    "a jobs table": ("CREATE TABLE jobs (id INTEGER PRIMARY KEY, title TEXT)",),
    "jobs and schema_version": (
        "CREATE TABLE schema_version (version INTEGER, description TEXT, applied_at REAL)",
        "INSERT INTO schema_version VALUES (3, 'theirs', 0)",
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, title TEXT)",
    ),
    "a view": ("CREATE VIEW answer AS SELECT 42",),
    "WAL mode": ("PRAGMA journal_mode=WAL", "CREATE TABLE notes (body TEXT)"),
}
NAMED = {
    "other tables": "tables (orders, users)",
    "a jobs table": "tables (jobs; its jobs table is not an actors store's)",
    "jobs and schema_version": "tables (jobs, schema_version; its jobs table",
    "a view": "tables and views (answer)",
    "WAL mode": "tables (notes)",
}


def _foreign(path: Path, kind: str) -> Path:
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in FOREIGN[kind]:
        conn.execute(statement)
    conn.close()
    return path


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` and a digest of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _mediator(url: str) -> None:
    flow = Workflow("w", [Sequential("a", lambda d: None)], start="a")
    Mediator([flow], store=url).shutdown()


OPENS: dict[str, Callable[[str], object]] = {
    "open_store": lambda url: open_store(url).close(),  # type: ignore[func-returns-value]
    "read_only": lambda url: open_store(url, read_only=True).close(),  # type: ignore[func-returns-value]
    "writer process": lambda url: open_store(url, writer="process").close(),  # type: ignore[func-returns-value]
    "Mediator": _mediator,
}


@pytest.mark.parametrize("kind", FOREIGN)
@pytest.mark.parametrize("how", OPENS)
def test_another_applications_file_is_refused_and_left_as_it_was(
    tmp_path: Path, kind: str, how: str
) -> None:
    path = _foreign(tmp_path / "app.db", kind)
    before = _snapshot(tmp_path)
    with pytest.raises(ForeignDatabaseError) as refused:
        OPENS[how](f"sqlite:///{path}")
    assert isinstance(refused.value, StoreError)
    said = str(refused.value)
    assert f"the SQLite file {str(path)!r} holds another application's {NAMED[kind]}" in said
    assert "and no actors schema; nothing was written to it" in said
    assert _snapshot(tmp_path) == before  # no schema, no WAL mode, no -wal or -shm left


def test_the_refusal_names_a_few_tables_and_counts_the_rest(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "big.db")
    for n in range(8):
        conn.execute(f"CREATE TABLE t{n} (x)")
    conn.close()
    with pytest.raises(ForeignDatabaseError, match=r"\(t0, t1, t2, t3, t4 and 3 more\)"):
        open_store(f"sqlite:///{tmp_path / 'big.db'}")


def _empty_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 7")  # a database, with no table in it
    conn.close()


@pytest.mark.parametrize(
    "make",
    [lambda p: None, lambda p: p.touch(), _empty_database],
    ids=["missing", "empty file", "no tables"],
)
def test_a_new_or_empty_file_gets_the_schema(tmp_path: Path, make: Callable[[Path], None]) -> None:
    path = tmp_path / "jobs.db"
    make(path)
    store = open_store(f"sqlite:///{path}")
    try:
        store.create(JobRecord("c1", "c1", "w", 1, "a", {}))
        assert store.get("c1") is not None
    finally:
        store.close()


def test_a_store_with_other_tables_beside_it_opens_as_ever(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    open_store(url).close()
    with sqlite3.connect(tmp_path / "jobs.db") as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")  # added by hand, say
    store = open_store(url)
    store.close()
    open_store(url, read_only=True).close()


def test_a_store_of_the_first_schema_version_is_ours_and_upgraded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    with monkeypatch.context() as patch:
        patch.setattr(_schema, "MIGRATIONS", MIGRATIONS[:1])
        open_store(url, history=False).close()
    result = CliRunner().invoke(main, ["db", "upgrade", "--store", url])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"schema version {MIGRATIONS[-1].version}")
