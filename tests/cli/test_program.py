"""The ``actors`` program itself: help for every command, ``python -m actors``, ``--version``."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cli_support import one_error_line
from click.testing import CliRunner

from actors._cli import main


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["graph"],
        ["demo"],
        ["status"],
        ["jobs"],
        ["jobs", "show"],
        ["enqueue"],
        ["worker"],
        ["jobs", "list"],
        ["jobs", "retry"],
        ["jobs", "cancel"],
        ["jobs", "prune"],
        ["events"],
        ["events", "send"],
    ],
)
def test_every_command_has_help(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_python_dash_m_actors_runs_the_same_program() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "actors", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: actors" in done.stdout
    for command in ("demo", "enqueue", "graph", "jobs", "status", "worker"):
        assert command in done.stdout


def test_version(runner: CliRunner) -> None:
    from actors import __version__

    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["demo", "--orders", "abc"], "Invalid value for '--orders'"),
        (["jobs", "show"], "Missing argument 'ID'."),
        (["jobs", "list", "--state", "bogus"], "Invalid value for '--state'"),
        (["jobs", "bogus"], "No such command 'bogus'."),
        (["--bogus"], "No such option '--bogus'."),
    ],
)
def test_a_bad_option_or_argument_is_one_error_line_naming_the_help(
    runner: CliRunner, args: list[str], expected: str
) -> None:
    result = runner.invoke(main, args)
    line = one_error_line(result)
    assert result.exit_code == 2
    assert expected in line
    assert line.endswith("--help')")


def test_a_group_given_nothing_shows_its_help(runner: CliRunner) -> None:
    for args in ([], ["jobs"]):
        result = runner.invoke(main, args)
        assert "Usage: " in result.output and "Commands:" in result.output
