"""The ``actors`` program itself: help for every command, ``python -m actors``, ``--version``."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from cli_support import one_error_line
from click.testing import CliRunner

from actors._cli import main


def _every_command(group: click.Group, path: list[str]) -> list[list[str]]:
    """The path of every command and group below ``group``, ``group`` itself first."""
    found = [path]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _every_command(command, [*path, name])
        else:
            found.append([*path, name])
    return found


COMMANDS = _every_command(main, [])


def test_the_walk_finds_every_command_the_guides_name() -> None:
    named = {" ".join(path) for path in COMMANDS}
    assert {"ui", "db upgrade", "jobs retry", "events send", "enqueue"} <= named


@pytest.mark.parametrize("args", COMMANDS, ids=lambda path: " ".join(path) or "actors")
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


def _commands(group: click.Group, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found: list[tuple[list[str], click.Command]] = []
    for name, command in group.commands.items():
        found.append(([*path, name], command))
        if isinstance(command, click.Group):
            found += _commands(command, [*path, name])
    return found


def test_every_option_of_every_command_says_what_it_does() -> None:
    # The command-line guide describes each option; --help must too, not just show a type.
    silent = [
        f"actors {' '.join(path)} {param.opts[0]}"
        for path, command in _commands(main, [])
        for param in command.params
        if isinstance(param, click.Option) and not param.help and param.opts[0] != "--help"
    ]
    assert silent == []


def test_enqueue_help_says_workers_are_woken_as_the_guide_does(runner: CliRunner) -> None:
    # docs/how-to/command-line.md: "Workers sharing the store are woken and claim them at once".
    result = runner.invoke(main, ["enqueue", "--help"])
    assert "woken and claim them at" in " ".join(result.output.split())
