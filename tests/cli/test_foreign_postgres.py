"""Every command refuses a PostgreSQL schema of another application alike (exit 2).

Nothing is written, as for a SQLite file of another application.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from cli_support import FLOWS, one_error_line, write_module
from click.testing import CliRunner
from pg_foreign import FOREIGN, NAMED, run, snapshot

from actors._cli import main
from actors._redact import mask_url

pytestmark = pytest.mark.postgres

_names = itertools.count(1)

COMMANDS = [
    ["status"],
    ["jobs", "list"],
    ["jobs", "show", "c1"],
    ["jobs", "cancel", "c1"],
    ["jobs", "retry", "c1"],
    ["jobs", "prune", "--older-than", "1d"],
    ["events", "send", "c1/ask"],
    ["db", "upgrade"],
    ["enqueue", "first", "--workflows", "{module}", "--data", "{{}}"],
    ["worker", "--workflows", "{module}"],
    ["demo", "--orders", "1"],
    ["ui", "--port", "0"],
    ["ui", "--read-only", "--port", "0"],
]


@pytest.mark.parametrize("kind", ["other tables", "a jobs table"])
def test_every_command_refuses_another_applications_schema_alike(
    runner: CliRunner, workdir: Path, pg_database: Any, kind: str
) -> None:
    module = write_module(workdir, FLOWS)
    url = pg_database(f"actors_cli_foreign_{next(_names)}")
    run(url, *FOREIGN[kind])
    before = snapshot(url)
    said = set()
    for command in COMMANDS:
        args = [arg.format(module=module) for arg in command]
        result = runner.invoke(main, [*args, "--store", url])
        assert result.exit_code == 2, (command, result.output)
        said.add(one_error_line(result))
        assert snapshot(url) == before, command
    assert said == {
        # The URL named once (the command quoted it before the store's error too).
        f"actors: error: the schema 'public' of the "
        f"PostgreSQL database at {mask_url(url)} holds another application's {NAMED[kind]} "
        "and no actors schema; nothing was written to it: check the URL, or give the store "
        "a database of its own, or a schema of its own (options=-c search_path=... in the URL)"
    }


def test_a_schema_of_its_own_beside_another_applications_is_upgraded(
    runner: CliRunner, pg_database: Any
) -> None:
    url = pg_database(f"actors_cli_foreign_{next(_names)}")
    run(url, *FOREIGN["a jobs table"], "CREATE SCHEMA actors")
    before = snapshot(url)
    own = f"{url}&options=-c%20search_path%3Dactors"
    result = runner.invoke(main, ["db", "upgrade", "--store", own])
    assert result.exit_code == 0, result.output
    after = snapshot(url)
    assert {key: rows for key, rows in after.items() if key[0] == "public"} == before
    assert ("actors", "jobs") in after
    assert runner.invoke(main, ["status", "--store", own]).exit_code == 0
