"""The API reference of ``actors.testing`` shows what a user calls, read as a user reads it.

The reference page (``docs/reference/testing.md``) is built on its own with the docs'
toolchain, and the HTML must list every public member of a ``Harness``, the ones it
inherits from its mixins included, and every strategy of ``actors.testing.strategies``.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from actors import Sequential, Workflow
from actors.testing import Harness, strategies

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reference" / "testing.md"
HOW_TO = ROOT / "docs" / "how-to" / "test-with-the-harness.md"


@pytest.fixture(scope="module")
def reference_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    site = tmp_path_factory.mktemp("site")
    docs = site / "docs"
    docs.mkdir()
    (docs / "index.md").write_text(PAGE.read_text(encoding="utf-8"), encoding="utf-8")
    config = site / "mkdocs.yml"
    config.write_text(
        f"site_name: reference\ndocs_dir: docs\ntheme:\n  name: material\nplugins:\n"
        f"  - mkdocstrings:\n      default_handler: python\n      handlers:\n"
        f"        python:\n          paths: [{str(ROOT)!r}]\n"
        f"          options:\n            docstring_style: google\n",
        encoding="utf-8",
    )
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(config), "-d", str(site / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert built.returncode == 0, built.stderr
    return (site / "out" / "index.html").read_text(encoding="utf-8")


def _documented(html: str) -> set[str]:
    return set(re.findall(r'id="(actors\.testing[\w.]*)"', html))


@pytest.mark.slow
def test_the_reference_lists_every_public_member_of_a_harness(reference_html: str) -> None:
    flow = Workflow("one", start="a", steps=[Sequential("a", lambda data: None)])
    with Harness([flow], seed=1) as h:
        public = {name for name in dir(h) if not name.startswith("_")}
    documented = {
        name.removeprefix("actors.testing.Harness.")
        for name in _documented(reference_html)
        if name.startswith("actors.testing.Harness.")
    }
    assert {"schedule", "schedule_many", "receive_event", "cancel", "fail"} <= documented
    assert {"report", "trace", "runtime", "check_invariants"} <= documented
    assert public - documented == set()


@pytest.mark.slow
def test_the_reference_lists_every_strategy(reference_html: str) -> None:
    functions = {
        name for name in strategies.__all__ if inspect.isfunction(getattr(strategies, name))
    }
    documented = _documented(reference_html)
    missing = {name for name in functions if f"actors.testing.strategies.{name}" not in documented}
    assert functions
    assert missing == set()


def test_fail_documents_that_it_raises_invariant_violation() -> None:
    doc = inspect.getdoc(Harness.fail) or ""
    assert re.search(r"^Raises:\n\s+InvariantViolation: always", doc, re.MULTILINE), doc
    guide = " ".join(HOW_TO.read_text(encoding="utf-8").split())
    assert "`h.fail(message)` is how your own check fails the run" in guide
    assert "it always raises `InvariantViolation`" in guide
