"""The README, CI script and packaging metadata must tell one consistent story.

These tests read files only: no network, no installed package needed.
"""

import configparser
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FENCE = re.compile(r"^```[ \t]*(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
SHELL_LANGS = {"sh", "shell", "bash", "console"}


def read_ini(name):
    # Interpolation off: tox.ini contains {posargs}-style substitutions and the
    # config files may contain literal % signs.
    parser = configparser.ConfigParser(interpolation=None)
    with (ROOT / name).open(encoding="utf-8") as f:
        parser.read_file(f)
    return parser


def ini_list(value):
    """Split a multi-line or comma-separated ini value into its items."""
    return [item.strip() for item in re.split(r"[,\n]", value) if item.strip()]


def version_tuple(text):
    return tuple(int(part) for part in text.split("."))


def readme_commands():
    """Return the README's fenced blocks up to the first section heading."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    head = text.split("\n## ", 1)[0]
    return [(lang, body.strip()) for lang, body in FENCE.findall(head)]


def python_floor():
    spec = read_ini("setup.cfg")["options"]["python_requires"].strip()
    match = re.fullmatch(r">=\s*(\d+\.\d+)", spec)
    assert match, f"python_requires should be a plain '>=X.Y' floor, got {spec!r}"
    return version_tuple(match.group(1))


def classifier_versions():
    classifiers = ini_list(read_ini("setup.cfg")["metadata"]["classifiers"])
    prefix = "Programming Language :: Python :: "
    return sorted(
        version_tuple(c.removeprefix(prefix))
        for c in classifiers
        if re.fullmatch(re.escape(prefix) + r"3\.\d+", c)
    )


def tox_python_envs():
    envlist = ini_list(read_ini("tox.ini")["tox"]["envlist"])
    versions = []
    for env in envlist:
        match = re.fullmatch(r"py3(\d+)(-.*)?", env)
        if match:
            versions.append((3, int(match.group(1))))
    return versions


# (a) README set-up commands and .ci/run


def test_readme_opens_with_two_one_line_shell_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0].startswith("# "), "the README starts with a one-line title"
    commands = readme_commands()
    assert len(commands) == 2, "the README opens with exactly two fenced commands"
    for lang, body in commands:
        assert lang in SHELL_LANGS, f"fence language {lang!r} is not a shell"
        assert "\n" not in body, f"each set-up command is a single line: {body!r}"
        assert body.startswith("python3 -m venv "), (
            f"each command sets up from scratch with only python3: {body!r}"
        )


def test_readme_commands_are_main_job_then_tests():
    (_, main_job), (_, tests) = readme_commands()
    assert "actors demo" in main_job
    assert tests.endswith("pytest"), "the test command runs pytest"
    assert "python -m pytest" not in tests, "call pytest, never python -m pytest"


def test_ci_runs_the_readme_test_command_verbatim():
    _, tests = readme_commands()[1]
    ci_text = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_lines = [line.strip() for line in ci_text.splitlines()]
    assert tests in ci_lines, ".ci/run must run the README's test command, unchanged"


def test_ci_script_is_strict_bash_and_executable():
    script = ROOT / ".ci" / "run"
    text = script.read_text(encoding="utf-8")
    assert text.startswith(("#!/usr/bin/env bash\n", "#!/bin/bash\n"))
    assert "set -euo pipefail" in text
    assert script.stat().st_mode & 0o111, ".ci/run must be executable"


# (b) one supported-Python story: python_requires, classifiers, tox, tools


def test_classifiers_start_at_python_requires_floor():
    versions = classifier_versions()
    assert versions, "setup.cfg lists per-version Python classifiers"
    assert versions[0] == python_floor(), (
        f"lowest classifier {versions[0]} differs from python_requires floor {python_floor()}"
    )
    minors = [minor for _, minor in versions]
    assert minors == list(range(minors[0], minors[0] + len(minors))), (
        f"classifiers skip a Python version: {versions}"
    )


def test_tox_envlist_tests_supported_pythons_only():
    envs = tox_python_envs()
    assert envs, "tox envlist has at least one pyXY test environment"
    assert python_floor() in envs, "tox tests the oldest supported Python"
    supported = set(classifier_versions())
    for env in envs:
        assert env in supported, f"tox env py{env[0]}{env[1]} has no matching classifier"


def test_tools_target_the_python_floor():
    floor = python_floor()
    mypy_version = read_ini("setup.cfg")["mypy"]["python_version"].strip()
    assert version_tuple(mypy_version) == floor
    ruff = tomllib.loads((ROOT / ".ruff.toml").read_text(encoding="utf-8"))
    assert ruff["target-version"] == f"py{floor[0]}{floor[1]}"


def test_pyproject_declares_only_the_build_system():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert set(pyproject) == {"build-system"}, "metadata lives in setup.cfg only"
    requires = pyproject["build-system"]["requires"]
    assert any(req.replace(" ", "").startswith("setuptools>=") for req in requires)


def test_tox_calls_pytest_directly():
    commands = read_ini("tox.ini")["testenv"]["commands"]
    assert re.search(r"^\s*pytest\b", commands, re.MULTILINE)
    assert "python -m pytest" not in commands


# (e) what the benchmarks import is declared


def test_every_module_the_benchmarks_import_is_declared_in_an_extra():
    import ast
    import sys

    extras = read_ini("setup.cfg")["options.extras_require"]
    declared = {
        re.split(r"[\[<>=! ]", item, maxsplit=1)[0].replace("-", "_").lower()
        for extra in ("bench", "ui")
        for item in ini_list(extras.get(extra, ""))
    }
    here = ROOT / "benchmarks"
    local = {path.stem for path in here.glob("*.py")}
    apart = {"dbos", "sqlalchemy"}  # dbos_w.py: in a virtualenv of its own (the README's)
    found = {}
    for path in here.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local | apart | {"actors"}:
                    found.setdefault(top, path.name)
    install = read_ini("setup.cfg")["options"]["install_requires"]
    declared |= {re.split(r"[\[<>=! ]", i, maxsplit=1)[0].lower() for i in ini_list(install)}
    missing = {top: where for top, where in found.items() if top.lower() not in declared}
    assert not missing, f"imported by the benchmarks, declared in no extra: {missing}"
    readme = (here / "README.md").read_text(encoding="utf-8")
    assert "pip install -q -e '.[bench]'" in readme
