"""Cases split hundreds of levels deep: cancelled, ended, retried and shown on every store.

A branch that splits again, level after level: walking such a case by recursion ran out
of Python's stack (about 1,000 frames) from some 250 levels, as the case tree cancelled
it or ended a parent with its last branch, as an operator retried it, or as the command
line showed its tree. Every walk keeps a stack of its own now.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until
from click.testing import CliRunner
from records import record

from actors import (
    CancelOutcome,
    ExclusiveChoice,
    JobState,
    Mediator,
    ParallelSplit,
    Sequential,
    Spec,
    Wait,
    Workflow,
)
from actors import _admin_views as views
from actors._admin_changes import retry_change
from actors._cli import _json_default, _to_json, main
from actors._json_text import deep_json
from actors.admin import Admin
from actors.stores._admin_types import StoredJob

pytestmark = pytest.mark.slow

DEPTH = 400  # four frames a level when a parent ends with its last branch: 1,600 frames


def deeper(data: dict[str, Any]) -> None:
    data["depth"] += 1


def nested(depth: int, *, forks: bool, leaf: Any = None) -> Workflow:
    """Splits nested ``depth`` levels deep, then a leaf that parks (or runs ``leaf``).

    Each level splits into one branch that goes deeper (a split of one instance), or
    with ``forks`` into that branch and a sibling that parks.
    """
    last = Sequential("leaf", leaf) if leaf else Wait("leaf", duration=3600, next="done")
    return Workflow(
        "nested",
        [
            Sequential("deeper", deeper, next="choose"),
            ExclusiveChoice(
                "choose", Spec(lambda d: d["depth"] < depth, f"depth < {depth}"), "split", "leaf"
            ),
            ParallelSplit("split", branches=["deeper", "leaf"])
            if forks
            else ParallelSplit("split", branches=lambda d: [d], each="deeper"),
            last,  # a Wait the virtual clock never gets to
            *([] if leaf else [Sequential("done", lambda d: None)]),
        ],
        start="deeper",
    )


def jobs_of(depth: int, *, forks: bool) -> int:
    return 2 * depth - 1 if forks else depth


def parked(mediator: Mediator, jobs: int) -> None:
    wait_until(lambda: mediator.stats().waiting == jobs, f"all {jobs} jobs to park or split")


def states(store: Any, case_id: str) -> list[JobState]:
    return [job.record.state for job in store.case_jobs(case_id)]


@pytest.fixture
def url(make_store: Any) -> Any:
    """The store's URL (a ``MemoryStore`` for ``memory://``: private to its Mediator)."""
    if make_store.kind == "memory":
        return make_store()
    if make_store.kind == "sqlite":
        return f"sqlite:///{make_store.path}"
    return make_store.url


@pytest.mark.parametrize("forks", [False, True], ids=["chain", "fork"])
def test_cancelling_a_case_nested_400_splits_deep_cancels_every_job(
    url: Any, clock: Any, forks: bool
) -> None:
    jobs = jobs_of(DEPTH, forks=forks)
    with Mediator([nested(DEPTH, forks=forks)], runners=2, store=url, clock=clock) as m:
        handle = m.schedule("nested", {"depth": 0}, job_id="deep")
        parked(m, jobs)
        assert m.cancel("deep") is CancelOutcome.CANCELLED
        assert handle.result(timeout=TIMEOUT).state is JobState.CANCELLED
        assert states(m.store, "deep") == [JobState.CANCELLED] * jobs
        stats = m.stats()
        assert (stats.cancelled, stats.waiting, stats.timers) == (jobs, 0, 0)


def test_an_operator_cancels_a_deep_case_through_the_worker_holding_it(
    url: Any, clock: Any
) -> None:
    with Mediator([nested(DEPTH, forks=False)], runners=2, store=url, clock=clock) as m:
        handle = m.schedule("nested", {"depth": 0}, job_id="deep")
        parked(m, DEPTH)
        with Admin.for_mediator(m, operator="olga") as admin:
            assert admin.cancel("deep").outcome == "cancelled"
        assert handle.result(timeout=TIMEOUT).state is JobState.CANCELLED
        assert states(m.store, "deep") == [JobState.CANCELLED] * DEPTH


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"ACTORS_OPERATOR": "olga"})


def test_an_operator_shows_and_cancels_a_deep_case_no_worker_holds(
    make_sql_store: Any, clock: Any
) -> None:
    """In the store; its tree as JSON recursed about four times a level, and ``json`` twice."""
    url = make_sql_store.url or f"sqlite:///{make_sql_store.path}"
    flow = nested(DEPTH, forks=False)
    with Mediator([flow], runners=2, store=url, clock=clock) as m:
        m.schedule("nested", {"depth": 0}, job_id="deep")
        parked(m, DEPTH)
    shown = run("jobs", "show", "deep", "--store", url, "--tree", "--json")
    assert shown.exit_code == 0, shown.output
    assert shown.output.count('"state": "waiting"') == 1 + DEPTH + 1  # job, nodes, case
    assert shown.output.count('"children": []') == 1  # the leaf
    with Admin(url, operator="olga") as admin:
        assert admin.cancel("deep").outcome == "cancelled"
        assert states(admin.store, "deep") == [JobState.CANCELLED] * DEPTH
    with Mediator([flow], runners=2, store=url, clock=clock) as m:
        assert m.stats().waiting == 0  # nothing of it left to resume


def test_a_case_faulted_1000_levels_deep_is_retried_ends_and_is_shown(
    make_sql_store: Any, clock: Any
) -> None:
    """The retry walked the faulted levels once a frame, as did the text tree."""
    depth = 1000
    url = make_sql_store.url or f"sqlite:///{make_sql_store.path}"
    fixed = threading.Event()

    def leaf(data: dict[str, Any]) -> None:
        if not fixed.is_set():
            raise RuntimeError("the leaf broke")

    flow = nested(depth, forks=False, leaf=leaf)
    with Mediator([flow], runners=2, store=url, clock=clock) as m:
        handle = m.schedule("nested", {"depth": 0}, job_id="deep")
        assert handle.result(timeout=TIMEOUT).state is JobState.FAULTED
        assert states(m.store, "deep") == [JobState.FAULTED] * depth
    with Admin(url, operator="olga") as admin:  # every faulted level, from the leaf up
        assert admin.retry("deep").outcome == "retried"
        assert admin.job("deep").state is JobState.WAITING
    fixed.set()
    with Mediator([flow], runners=2, store=url, clock=clock) as m:
        # The leaf runs again; each level of the split ends with the level below it.
        wait_until(lambda: m.get_job("deep").state is JobState.DONE, "the case to end")
        assert states(m.store, "deep") == [JobState.DONE] * depth
    tree = run("jobs", "show", "deep", "--store", url, "--tree")
    assert tree.exit_code == 0, tree.output
    assert f"Case deep: done, {depth} job(s)" in tree.output
    assert f"The case nests {depth - 1} levels deep" in tree.output


def stored_chain(depth: int, state: JobState) -> list[StoredJob]:
    """A case split ``depth`` levels deep, one branch a level, every job in ``state``."""
    jobs = []
    for level in range(depth):
        splits = level < depth - 1
        job = record(
            f"j{level}", case_id="j0", state=state, step="split" if splits else "x",
            parent_id=f"j{level - 1}" if level else None, branch_index=0 if level else None,
            parent_gen=1, gen=1, split_total=1 if splits else 0,
        )  # fmt: skip
        jobs.append(StoredJob(job, None, None, None, None, None))
    return jobs


def test_a_retry_walks_every_faulted_level_of_a_case_3000_deep() -> None:
    jobs = stored_chain(3000, JobState.FAULTED)
    saves, history, outcome = retry_change("j0", "olga")(jobs)
    assert outcome == "retried"
    assert [job.id for job in saves] == [f"j{level}" for level in reversed(range(3000))]
    assert [row.job_id for row in history] == [job.id for job in saves]
    assert (saves[0].state, saves[0].attempt) == (JobState.READY, 2)
    assert {job.state for job in saves[1:]} == {JobState.WAITING}


def test_a_case_tree_3000_deep_converts_to_plain_values_and_json() -> None:
    jobs = stored_chain(3000, JobState.WAITING)
    case = views.tree(jobs, [views.info(job, None) for job in jobs], 0.0)
    plain = case.to_dict()
    node, depth = plain["root"], 0
    while node["children"]:
        (node,) = node["children"]
        depth += 1
    assert (depth, node["job"]["id"], node["job"]["state"]) == (2999, "j2999", "waiting")
    text = _to_json(plain)
    assert text.count('"children": []') == 1 and text.endswith('\n  "jobs": 3000\n}')
    # Its indentation stops growing 64 levels down: in full it was 722 MB of spaces.
    assert len(text) < 3000 * 10_000
    assert max(len(line) - len(line.lstrip(" ")) for line in text.splitlines()) == 128


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, float("nan"), -0.0, True, None, 'é "q" \\', {}, [], ()], "s": {2, 1}},
        {1: {2.5: {None: {False: (1, (2,))}}}, "big": 2**80, "enum": JobState.DONE},
        [],
        "text",
    ],
)
def test_json_of_a_deep_value_is_the_text_json_writes(value: Any) -> None:
    assert deep_json(value, default=_json_default) == json.dumps(
        value, indent=2, default=_json_default, ensure_ascii=False
    )


def test_a_fault_deep_in_nested_splits_is_quoted_in_bounded_text_at_every_level() -> None:
    """Each parent quoted its branch's whole error: text quadratic in the depth (30 MB)."""
    depth = 1000

    def leaf(data: dict[str, Any]) -> None:
        raise RuntimeError("the leaf broke")

    with Mediator([nested(depth, forks=False, leaf=leaf)], runners=2) as m:
        handle = m.schedule("nested", {"depth": 0}, job_id="deep")
        root = handle.result(timeout=TIMEOUT)
        errors = [job.record.error or "" for job in m.store.case_jobs("deep")]
    assert root.state is JobState.FAULTED
    assert len(errors) == depth
    assert max(map(len, errors)) < 2_200  # one level's quote, whatever the depth
    assert root.error is not None
    assert root.error.startswith("branch 0 (job ")  # the nearest branch, first
    assert "characters ...]" in root.error
    assert root.error.endswith("RuntimeError: the leaf broke (attempt 1)")  # the first cause
