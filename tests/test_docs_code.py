"""The code a reader pastes from the docs runs as shown, and the README links readable pages.

The tutorials' Python blocks are run as one file, in a fresh interpreter in an empty
directory, the way a reader following them would: first tutorial, then the durable one.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\]\(((?:docs|examples)/[^)#\s]+)")


def python_blocks(page: str) -> list[str]:
    return _BLOCK.findall((ROOT / page).read_text(encoding="utf-8"))


def run_as_a_reader(tmp_path: Path, *pages: str) -> str:
    code = "\n\n".join(block for page in pages for block in python_blocks(page))
    script = tmp_path / "pasted.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_the_tutorials_run_as_pasted(tmp_path: Path) -> None:
    out = run_as_a_reader(
        tmp_path, "docs/tutorial/first-workflow.md", "docs/tutorial/durable.md"
    ).splitlines()
    assert [line.split(",")[0] for line in out[:3]] == [f"order {n}: confirmed" for n in range(3)]
    assert out[3:5] == ["JobState.DONE", "JobState.DONE"]  # on SQLite; then a named case
    assert out[-1].startswith("200 orders: ")
    assert (tmp_path / "orders.db").exists()


@pytest.mark.slow
def test_the_readme_example_runs_as_pasted(tmp_path: Path) -> None:
    run_as_a_reader(tmp_path, "README.md")


# What the testing guide says each of its tests does when run as pasted: the three that
# show a bug a user wrote find it, every other one passes.
_GUIDE_PASSES = {
    "test_orders_complete",
    "test_a_seed_replays_the_same_run",
    "test_orders_under_any_interleaving",
    "test_no_chunk_starts_once_the_cancel_is_answered",
    "TestOrders::runTest",
}
_GUIDE_FINDS = {
    "test_no_lost_update": "lost update: counted 1",
    "test_each_order_is_charged_once": "assert [1, 1] == [1]",
    "test_each_order_is_charged_once_on_sqlite": "assert [1, 1] == [1]",
}


@pytest.mark.slow
def test_the_testing_guide_runs_as_pasted_and_finds_the_bugs_it_says(tmp_path: Path) -> None:
    """Its blocks (the included example aside, which is a test of its own) as one test file."""
    blocks = python_blocks("docs/how-to/test-with-the-harness.md")
    code = "\n\n".join(block for block in blocks if not block.startswith("--8<--"))
    (tmp_path / "test_pasted.py").write_text(code, encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rA",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:logging",
            "test_pasted.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    outcomes = {
        line.split("::", 1)[1].split(" - ")[0].strip(): line.split(" ", 1)[0]
        for line in done.stdout.splitlines()
        if line.startswith(("PASSED test_pasted.py::", "FAILED test_pasted.py::"))
    }
    expected = dict.fromkeys(_GUIDE_PASSES, "PASSED") | dict.fromkeys(_GUIDE_FINDS, "FAILED")
    assert outcomes == expected, done.stdout[-4000:] + done.stderr[-2000:]
    for name, failure in _GUIDE_FINDS.items():
        summary = next(line for line in done.stdout.splitlines() if f"::{name} - " in line)
        detail = done.stdout.split(f"_ {name} _", 1)[1].split("\n____", 1)[0]
        assert failure in detail, (name, summary)


def test_the_first_tutorial_shows_the_example_s_code() -> None:
    page = (ROOT / "docs/tutorial/first-workflow.md").read_text(encoding="utf-8")
    example = (ROOT / "examples/order_fulfilment.py").read_text(encoding="utf-8")
    for name in ("tasks", "workflow"):
        start, end = f"# --8<-- [start:{name}]\n", f"# --8<-- [end:{name}]"
        body = example[example.index(start) + len(start) : example.index(end)]
        body = "\n".join(line for line in body.splitlines() if line.strip()).strip()
        shown = "\n".join(line for line in page.splitlines() if line.strip())
        assert body in shown, f"the tutorial no longer shows the example's {name!r}"


def test_readme_links_pages_that_read_well_unrendered() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = _LINK.findall(readme)
    assert "docs/tutorial/first-workflow.md" in links
    for link in links:
        target = ROOT / link
        assert target.exists(), f"README links {link}, which does not exist"
        if target.suffix == ".md":
            text = target.read_text(encoding="utf-8")
            assert "--8<--" not in text, f"{link} shows snippet markers where code belongs"
