"""What the ``actors`` program says of a store URL it cannot take: what its user can do."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import one_error_line
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
