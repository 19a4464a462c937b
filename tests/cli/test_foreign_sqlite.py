"""Every command refuses a SQLite file of another application alike (exit 2), writing nothing."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from cli_support import FLOWS, one_error_line, write_module
from click.testing import CliRunner

from actors._cli import main

TABLES = {
    "other tables": ("CREATE TABLE users (id INTEGER, name TEXT)", "CREATE TABLE orders (id)"),
    "a jobs table": ("CREATE TABLE jobs (id INTEGER PRIMARY KEY, title TEXT)",),
}
NAMED = {
    "other tables": "tables (orders, users)",
    "a jobs table": "tables (jobs; its jobs table is not an actors store's)",
}


def _snapshot(folder: Path) -> dict[str, str]:
    # Files only: importing the workflows' module may write a __pycache__ folder beside it.
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


COMMANDS = [
    ["status"],
    ["jobs", "list"],
    ["jobs", "show", "c1"],
    ["jobs", "cancel", "c1"],
    ["jobs", "retry", "c1"],
    ["db", "upgrade"],
    ["enqueue", "first", "--workflows", "{module}", "--data", "{{}}"],
    ["worker", "--workflows", "{module}"],
    ["demo", "--orders", "1"],
]


@pytest.mark.parametrize("kind", TABLES)
def test_every_command_refuses_another_applications_file_alike(
    runner: CliRunner, workdir: Path, kind: str
) -> None:
    module = write_module(workdir, FLOWS)
    path = workdir / "app.db"
    with sqlite3.connect(path) as conn:
        for statement in TABLES[kind]:
            conn.execute(statement)
    conn.close()
    before = _snapshot(workdir)
    said = set()
    for command in COMMANDS:
        args = [arg.format(module=module) for arg in command]
        result = runner.invoke(main, [*args, "--store", f"sqlite:///{path}"])
        assert result.exit_code == 2, (command, result.output)
        said.add(one_error_line(result))
        assert {n: d for n, d in _snapshot(workdir).items() if n in before} == before, command
        assert not any(name.startswith("app.db-") for name in _snapshot(workdir)), command
    assert said == {
        f"actors: error: cannot open store 'sqlite:///{path}': the SQLite file {str(path)!r} "
        f"holds another application's {NAMED[kind]} and no actors schema; nothing was "
        "written to it: check the path, or give the store a file of its own"
    }
