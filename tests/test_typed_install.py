"""The README's editable install lets a type checker find the typed package from elsewhere.

setuptools' default editable install puts an import hook on the path, which mypy cannot
follow; ``editable_mode=strict`` installs a plain path instead. This test installs the
package the README's way into a fresh virtualenv and type-checks a user's module with
``mypy --strict`` against it.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def readme_install_options() -> list[str]:
    """What the README's first command passes to ``pip install`` after ``-e .``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first = text.split("```sh\n", 2)[1].split("\n```", 1)[0]
    install = next(part for part in first.split("&&") if " install " in part)
    words = shlex.split(install)
    return [w for w in words[words.index("install") + 1 :] if w not in ("-q", "-e", ".")]


def test_the_readme_installs_in_a_mode_type_checkers_can_follow() -> None:
    assert readme_install_options() == ["--config-settings", "editable_mode=strict"]


@pytest.mark.slow
def test_mypy_strict_finds_the_package_of_the_readme_install(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    # No pip of its own (bootstrapping one took most of the test's time): this
    # environment's pip installs into it (``--python``), the README's way all the same.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300
    )
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    install = [*pip, "install", "-q", "--no-deps", "-e", str(ROOT)]
    subprocess.run([*install, *readme_install_options()], check=True, timeout=300)
    user = tmp_path / "app.py"
    user.write_text(
        textwrap.dedent(
            """
            from actors import Mediator, Sequential, Workflow

            def noop(data: dict[str, int]) -> None:
                return None

            FLOW = Workflow("w", [Sequential("a", noop)], start="a")

            def run() -> int:
                with Mediator([FLOW]) as mediator:
                    return mediator.schedule("w", {})  # a JobHandle, not an int
            """
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--python-executable", str(python), str(user)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert "Cannot find implementation" not in done.stdout, done.stdout
    # mypy read actors' annotations: it knows what schedule() returns.
    assert 'Incompatible return value type (got "JobHandle", expected "int")' in done.stdout
