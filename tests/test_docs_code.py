"""The code a reader pastes from the docs runs as shown, and the README links readable pages.

The tutorials' Python blocks are run as one file, in a fresh interpreter in an empty
directory, the way a reader following them would: first tutorial, then the durable one.
Each how-to page's blocks are run so too, on their own, and print what its prose says.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\]\(((?:docs|examples)/[^)#\s]+)")


HARNESS_GUIDE = "docs/how-to/test-with-the-harness.md"


def python_blocks(page: str) -> list[str]:
    return _BLOCK.findall((ROOT / page).read_text(encoding="utf-8"))


def run_pasted(tmp_path: Path, *pages: str) -> subprocess.CompletedProcess[str]:
    """Run the pages' Python blocks, in order, as one file in ``tmp_path``; it must succeed."""
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
    return done


def run_as_a_reader(tmp_path: Path, *pages: str) -> str:
    """What the pages' Python blocks print, run as a reader pastes them."""
    return run_pasted(tmp_path, *pages).stdout


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


@pytest.mark.slow
def test_the_capacity_guide_runs_as_pasted(tmp_path: Path) -> None:
    out = run_as_a_reader(tmp_path, "docs/how-to/capacity-and-full-mode.md").splitlines()
    assert out == [
        "JobState.DONE",
        "shed order {'order_id': 2}",  # on_shed, under DROP_OLDEST
        "JobState.SHED JobState.DONE",
        "100 of 100 orders done",  # schedule_many
    ]


@pytest.mark.slow
def test_the_durable_stores_guide_runs_as_pasted(tmp_path: Path) -> None:
    out = run_as_a_reader(tmp_path, "docs/how-to/durable-stores.md").splitlines()
    assert out[:3] == ["JobState.DONE", "JobState.DONE", "{'greeted': True}"]
    assert out[3].startswith("cannot open 'sqlite:///no/such/dir/jobs.db': directory ")
    assert out[3].endswith(" does not exist")
    assert out[4] == "Order(order_id=7, lines=['tea', 'cups'])"
    assert "data['items'][2]: value of type datetime.datetime" in out[5]
    assert out[6:] == ["100 cases done"]  # with writer="process"
    assert (tmp_path / "jobs.db").exists()
    assert (tmp_path / "orders.db").exists()


@pytest.mark.slow
def test_the_fan_out_guide_runs_as_pasted(tmp_path: Path) -> None:
    out = run_as_a_reader(tmp_path, "docs/how-to/fan-out.md").splitlines()
    assert out == [
        "JobState.DONE ['tea', 'cups', 'saucers'] 29 confirmed",  # merged in line order
        "JobState.FAULTED lines step 'lines': the branches function returned no instances",
        "JobState.DONE {'lines': [], 'total': 0, 'status': 'empty'}",  # routed around
        "JobState.DONE 29",
    ]


@pytest.mark.slow
def test_the_embedding_guide_runs_as_pasted(tmp_path: Path) -> None:
    out = run_as_a_reader(tmp_path, "docs/how-to/embed.md").splitlines()
    assert out == [
        "JobState.DONE confirmed",
        "stopped: the mediator is shut down; it admits no new jobs",  # after shutdown()
        "['confirmed', 'confirmed', 'confirmed']",  # awaited in asyncio
        "[4, 16]",  # an actor scheduled both, and was told CaseFinished for each
    ]
    assert (tmp_path / "orders.db").exists()


@pytest.mark.slow
def test_the_events_guide_runs_as_pasted(tmp_path: Path) -> None:
    out = run_as_a_reader(tmp_path, "docs/how-to/events-and-timeouts.md").splitlines()
    assert out == [
        "{'to': 'ann@example.com', 'reminded': True}",  # Wait, on a virtual clock
        "EventOutcome.DELIVERED",  # RequestReaction: the reply
        "{'amount': 120, 'approved': True, 'outcome': 'settled'}",
        "{'amount': 2500, 'outcome': 'escalated to finance'}",  # its timeout
        "EventOutcome.LATE",
        "EventOutcome.DELIVERED",  # DeferredChoice: the first event wins
        "EventOutcome.LATE",
        "{'event': 'paid', 'outcome': 'shipped'}",
        "{'outcome': 'expired'}",
    ]


@pytest.mark.slow
def test_the_observe_guide_runs_as_pasted(tmp_path: Path) -> None:
    done = run_pasted(tmp_path, "docs/how-to/observe.md")
    out = done.stdout.splitlines()
    assert ast.literal_eval(out[0]) == {"admitted": 1, "started": 1, "steps": 1, "done": 1}
    assert out[1:] == [
        "1.0",  # actors_finished_total{workflow="order",state="done"}
        "order.pack order-9 StatusCode.ERROR",
        "admitted 3, done 2, faulted 1",
    ]
    warning = "WARNING order-1 pack #1 job order-1 faulted at step 'pack': "
    assert warning + "ValueError: nothing to pack (attempt 1)" in done.stderr
    # The page quotes the warning the reader gets (its line breaks aside).
    page = " ".join((ROOT / "docs/how-to/observe.md").read_text(encoding="utf-8").split())
    assert f"`{warning}ValueError: nothing to pack (attempt 1)`" in page
    assert "Logging error" not in done.stderr


@pytest.mark.slow
def test_the_operations_guide_runs_as_pasted(tmp_path: Path) -> None:
    out = run_as_a_reader(tmp_path, "docs/how-to/operations.md").splitlines()
    assert out == [
        "order-17 charge step 'charge': RuntimeError: card declined for ann (attempt 1)",
        "retried",
        "JobState.DONE",
        "created charge 1 worker-1 ",
        "step charge 1 worker-1 ",
        "action charge 2 alice retry of step 'charge' (attempt 2)",
        "step charge 2 worker-1 ",
    ]


# What the testing guide says each of its tests does when run as pasted: the ones that
# show a bug a user wrote find it, every other one passes.
_GUIDE_PASSES = {
    "test_orders_complete",
    "test_a_seed_replays_the_same_run",
    "test_orders_under_any_interleaving",
    "test_at_most_one_chunk_starts_once_the_cancel_is_answered",
    "test_a_task_asks_an_actor_started_under_the_harness",
    "TestOrders::runTest",
    "TestStocked::runTest",
    "TestApproval::runTest",
}
_GUIDE_FINDS = {
    "test_no_lost_update": "lost update: counted 1",
    "test_each_order_is_charged_once": "assert [1, 1] == [1]",
    "test_each_order_is_charged_once_on_sqlite": "assert [1, 1] == [1]",
    "test_a_paid_order_ships": "o1/which/paid -> unknown",
    "test_each_order_is_charged_once_after_a_takeover": "['order-1-0', 'order-1-15']",
    "test_a_hold_is_confirmed_before_it_expires": "confirmed an expired hold",
    "test_each_order_is_mailed_once": "assert [1, 1] == [1]",
}
# What the report of each failure shows besides, as the guide says: the harness's seed,
# config and trace, which it attaches to a check inside its block.
_GUIDE_SHOWS = {
    "test_each_order_is_charged_once": "raised in this harness run",
    "test_each_order_is_charged_once_on_sqlite": "raised in this harness run",
    "test_each_order_is_charged_once_after_a_takeover": "taken over at t=15",
    "test_a_hold_is_confirmed_before_it_expires": "'charge' (step #2) takes 60 s: t=60",
    "test_each_order_is_mailed_once": "taken over at t=15",
}


# The guide's profile, with state machines' programs of at most 10 rules instead of 50:
# its three machines pass either way (and took 14 of the test's 16 s), and its @given
# tests, the ones that find the bugs, draw as many examples as the reader's.
_SHORTER_PROGRAMS = """
from hypothesis import settings


def pytest_configure(config):
    shorter = settings(settings.get_profile("harness"), stateful_step_count=10)
    settings.register_profile("harness-shorter-programs", shorter)
    settings.load_profile("harness-shorter-programs")
"""


@pytest.mark.slow
def test_the_testing_guide_runs_as_pasted_and_finds_the_bugs_it_says(tmp_path: Path) -> None:
    """Its blocks (the included example aside, which is a test of its own) as one test file."""
    blocks = python_blocks("docs/how-to/test-with-the-harness.md")
    # The guide puts its Hypothesis profile in conftest.py, which pytest loads before any
    # test module: pasted below the tests it would apply only to the later ones, and a
    # loaded machine failed the earlier ones on Hypothesis's deadline.
    conftest = [b for b in blocks if "settings.load_profile(" in b]
    assert len(conftest) == 1, conftest
    code = "\n\n".join(b for b in blocks if not b.startswith("--8<--") and b not in conftest)
    (tmp_path / "conftest.py").write_text(conftest[0], encoding="utf-8")
    (tmp_path / "test_pasted.py").write_text(code, encoding="utf-8")
    (tmp_path / "shorter_programs.py").write_text(_SHORTER_PROGRAMS, encoding="utf-8")
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
            "-p",
            "shorter_programs",
            "test_pasted.py",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
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
        assert _GUIDE_SHOWS.get(name, failure) in detail, (name, detail[-3000:])


def test_the_testing_guide_s_profile_turns_off_the_deadline_and_the_explain_phase(
    tmp_path: Path,
) -> None:
    # Explaining a failure reruns it hundreds of times, traced: seconds to minutes more.
    (conftest,) = [b for b in python_blocks(HARNESS_GUIDE) if "settings.load_profile(" in b]
    check = "print(settings.default.deadline, Phase.explain in settings.default.phases)"
    (tmp_path / "profile.py").write_text(f"{conftest}\nfrom hypothesis import Phase\n{check}\n")
    done = subprocess.run(
        [sys.executable, str(tmp_path / "profile.py")],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["None", "False"]


def test_the_first_tutorial_shows_the_example_s_code() -> None:
    page = (ROOT / "docs/tutorial/first-workflow.md").read_text(encoding="utf-8")
    example = (ROOT / "examples/order_fulfilment.py").read_text(encoding="utf-8")
    for name in ("tasks", "workflow"):
        start, end = f"# --8<-- [start:{name}]\n", f"# --8<-- [end:{name}]"
        body = example[example.index(start) + len(start) : example.index(end)]
        body = "\n".join(line for line in body.splitlines() if line.strip()).strip()
        shown = "\n".join(line for line in page.splitlines() if line.strip())
        assert body in shown, f"the tutorial no longer shows the example's {name!r}"


def test_the_guarantees_page_shows_the_compensation_example_s_flow() -> None:
    page = (ROOT / "docs/explanation/guarantees.md").read_text(encoding="utf-8")
    example = (ROOT / "examples/compensate_a_failed_branch.py").read_text(encoding="utf-8")
    start, end = "# --8<-- [start:flow]\n", "# --8<-- [end:flow]"
    body = example[example.index(start) + len(start) : example.index(end)]
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    shown = [line.strip() for line in page.splitlines() if line.strip()]
    at = shown.index(lines[0])
    assert shown[at : at + len(lines)] == lines, "the guarantees page no longer shows the flow"


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
