"""``actors graph``: Mermaid diagrams of a module's workflows, and its one-line errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from cli_support import FLOWS, one_error_line, write_module
from click.testing import CliRunner

from actors._cli import main
from actors._demo import DEMO_WORKFLOW


def test_graph_prints_one_workflow(runner: CliRunner, workdir: Path) -> None:
    name = write_module(workdir, FLOWS)
    result = runner.invoke(main, ["graph", f"{name}:FIRST"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("flowchart TD\n")
    assert "%% workflow first v1" in result.output
    assert "second" not in result.output


def test_graph_prints_a_list_and_a_whole_module(runner: CliRunner, workdir: Path) -> None:
    name = write_module(workdir, FLOWS)
    listed = runner.invoke(main, ["graph", f"{name}:BOTH"])
    whole = runner.invoke(main, ["graph", name])
    assert listed.exit_code == whole.exit_code == 0
    assert listed.output == whole.output
    assert listed.output.count("flowchart TD") == 2
    assert "%% workflow second v2" in listed.output


def test_graph_matches_to_mermaid_and_can_wrap_markdown(runner: CliRunner) -> None:
    plain = runner.invoke(main, ["graph", "actors._demo:DEMO_WORKFLOW"])
    assert plain.output == DEMO_WORKFLOW.to_mermaid()
    fenced = runner.invoke(main, ["graph", "--markdown", "actors._demo:DEMO_WORKFLOW"])
    assert fenced.output == f"```mermaid\n{DEMO_WORKFLOW.to_mermaid()}```\n"


def test_graph_uses_a_workflows_list(runner: CliRunner, workdir: Path) -> None:
    name = write_module(workdir, textwrap.dedent(FLOWS) + "\nWORKFLOWS = [SECOND]\n")
    result = runner.invoke(main, ["graph", name])
    assert result.exit_code == 0
    assert result.output.count("flowchart TD") == 1
    assert "%% workflow second v2" in result.output


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("no_such_module_xyz:FLOW", "no module named 'no_such_module_xyz'"),
        ("no_such_module_xyz.sub:FLOW", "no module named 'no_such_module_xyz'"),
        ("{mod}:MISSING", "module '{mod}' has no attribute 'MISSING'"),
        ("{mod}:NOT_A_FLOW", "'{mod}:NOT_A_FLOW' is an int, not a Workflow"),
        ("{mod}:noop", "is a function, not a Workflow"),
        ("{mod}:", "is not a reference"),
        (":FIRST", "is not a reference"),
        ("/", "is not a reference"),
        ("./:FIRST", "is not a reference"),
        ("..\\..", "is not a reference"),
        ("a..b:FIRST", "is not a reference"),
    ],
)
def test_graph_bad_references_are_one_line_errors(
    runner: CliRunner, workdir: Path, reference: str, message: str
) -> None:
    name = write_module(workdir, FLOWS)
    result = runner.invoke(main, ["graph", reference.format(mod=name)])
    line = one_error_line(result)
    assert result.exit_code == 2
    assert message.format(mod=name) in line


@pytest.mark.parametrize(
    ("reference", "module"),
    [
        ("{mod}.py", "{mod}, from the current directory"),
        ("{mod}.py:FIRST", "{mod}:FIRST, from the current directory"),
        ("./pkg/{mod}.py:FIRST", "pkg.{mod}:FIRST, from the current directory"),
        ("pkg\\{mod}.py", "pkg.{mod}, from the current directory"),
        ("/srv/app/{mod}.py", "{mod}, with /srv/app the current directory or on PYTHONPATH"),
        ("../app/{mod}.py", "{mod}, with ../app the current directory or on PYTHONPATH"),
    ],
)
def test_graph_names_the_module_of_a_file_path(
    runner: CliRunner, workdir: Path, reference: str, module: str
) -> None:
    """A file path where a module goes is told the module's dotted name, not 'no module'."""
    name = write_module(workdir, FLOWS)
    result = runner.invoke(main, ["graph", reference.format(mod=name)])
    line = one_error_line(result)
    assert result.exit_code == 2
    expected = f"is a file path; name the module as python -m does: {module.format(mod=name)}"
    assert line.endswith(expected), line


def test_graph_module_without_workflows(runner: CliRunner, workdir: Path) -> None:
    name = write_module(workdir, "X = 1\n")
    line = one_error_line(runner.invoke(main, ["graph", name]))
    assert f"module {name!r} defines no Workflow" in line


def test_graph_module_that_fails_to_import(runner: CliRunner, workdir: Path) -> None:
    broken = write_module(workdir, "import not_installed_anywhere_xyz\n")
    line = one_error_line(runner.invoke(main, ["graph", broken]))
    assert f"importing {broken!r} failed: ModuleNotFoundError" in line
    raising = write_module(workdir, "raise RuntimeError('config missing')\n")
    line = one_error_line(runner.invoke(main, ["graph", raising]))
    assert "RuntimeError: config missing" in line


def test_graph_module_with_an_invalid_workflow(runner: CliRunner, workdir: Path) -> None:
    name = write_module(
        workdir,
        """
        from actors import Sequential, Workflow
        BAD = Workflow("bad", [Sequential("a", print, next="nowhere")], start="a")
        """,
    )
    line = one_error_line(runner.invoke(main, ["graph", name]))
    assert "defines an invalid workflow" in line
    assert "'nowhere'" in line
