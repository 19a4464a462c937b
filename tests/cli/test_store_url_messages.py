"""What the ``actors`` program says of a store URL it cannot take: what its user can do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_support import FLOWS, one_error_line, write_module
from click.testing import CliRunner

from actors._cli import main


@pytest.mark.parametrize("command", [["jobs", "list"], ["status"], ["db", "upgrade"]])
@pytest.mark.parametrize("tail", ["?mode=ro", "#x", "?busy_timeout=30"])
def test_a_sqlite_url_with_a_query_says_what_a_command_line_user_can_do(
    tmp_path: Path, command: list[str], tail: str
) -> None:
    """It said to "pass options to open_store", which no command-line user can."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}{tail}"
    result = CliRunner().invoke(main, [*command, "--store", url])
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert "takes no query or fragment: give the database file's path alone" in line
    assert "`actors worker` as --commit, --writer and --group-wait" in line
    assert "the others have no command-line form" in line
    assert not (tmp_path / "jobs.db").exists()


# Stores that cannot be opened: no such directory, a file that is no database, a SQLite
# URL naming a host, a host no resolver knows, a port nothing listens on, a port no
# port can be. The store's own error names the URL (masked); the command put it first
# again: "cannot open store 'URL': cannot open the PostgreSQL store at URL: ...".
UNOPENABLE = [
    "sqlite:///{tmp}/no/such/dir/x.db",
    "sqlite:///{tmp}",
    "sqlite:///{tmp}/file.txt",
    "sqlite://host/x.db",
    "postgresql://app:s3cr3t-pw@nohost.invalid/db",
    "postgresql://app:s3cr3t-pw@127.0.0.1:1/db",
    "postgresql://app:s3cr3t-pw@127.0.0.1:99999/db",
]
COMMANDS = [
    ["status"],
    ["jobs", "list"],
    ["jobs", "show", "x"],
    ["jobs", "cancel", "x"],
    ["events", "send", "x/y"],
    ["db", "upgrade"],
    ["demo", "--orders", "1"],
    ["ui", "--port", "0"],
    ["worker", "--workflows", "{module}"],
    ["enqueue", "first", "--workflows", "{module}", "--data", "{{}}"],
]


def _named_once(text: str, url: str, *, at_most: bool = False) -> None:
    from actors._redact import mask_url

    shown = mask_url(url)
    assert "s3cr3t" not in text, text
    assert text.count(shown) in ((0, 1) if at_most else (1,)), text


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("template", UNOPENABLE)
def test_a_store_that_cannot_be_opened_is_named_once(
    workdir: Path, template: str, command: list[str]
) -> None:
    url = template.format(tmp=workdir)
    (workdir / "file.txt").write_text("not a database")
    module = write_module(workdir, FLOWS)
    args = [arg.format(module=module) for arg in command]
    result = CliRunner().invoke(main, [*args, "--store", url])
    assert result.exit_code == 2, result.output
    _named_once(one_error_line(result), url)


@pytest.mark.parametrize("template", UNOPENABLE)
def test_a_store_that_cannot_be_opened_from_python_is_named_once(
    tmp_path: Path, template: str
) -> None:
    from actors import Mediator, StoreError
    from actors.admin import Admin
    from actors.stores import open_store

    url = template.format(tmp=tmp_path)
    (tmp_path / "file.txt").write_text("not a database")
    for opening in (
        lambda: open_store(url),
        lambda: open_store(url, read_only=True),
        lambda: Admin(url),
        lambda: Mediator([], store=url),
    ):
        with pytest.raises(StoreError) as refused:
            opening()
        # Named once, or by its path alone (SQLite's errors about the file).
        _named_once(str(refused.value), url, at_most=True)


@pytest.mark.postgres
def test_a_role_the_server_refuses_is_named_once(pg_database: Any) -> None:
    # As a refused password: the server answers, and refuses the connection.
    scheme, rest = pg_database("actors_cli_refused_role").split("://", 1)
    url = f"{scheme}://no_such_role:s3cr3t-pw@{rest.split('@', 1)[-1]}"
    for command in (["status"], ["db", "upgrade"]):
        result = CliRunner().invoke(main, [*command, "--store", url])
        assert result.exit_code == 2, result.output
        _named_once(one_error_line(result), url)
