"""What a branches function may return: a sequence of items, or a fault at its split.

A ``str`` made one branch per character and a dict one per key; the case then faulted
at the join, whose default merge found no dicts, which sent the user to the wrong step.
"""

from __future__ import annotations

from typing import Any

import pytest
from bounds import TIMEOUT

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow
from actors._branch_items import refused_items
from actors.testing import Harness

RETURNS: dict[str, Any] = {
    "str": "abc",
    "dict": {"a": {}, "b": {}},
    "bytes": b"ab",
    "bytearray": bytearray(b"ab"),
    "set": {1, 2},
    "frozenset": frozenset({"a", "b"}),
    "int": 5,
    "none": None,
}


def flow(started: list[Any]) -> Workflow:
    return Workflow("f", start="s", steps=[
        ParallelSplit("s", branches=lambda d: RETURNS[d["x"]], each="t"),
        Sequential("t", started.append, next="j"),
        Synchronize("j", next="end"),
        Sequential("end", lambda d: None),
    ])  # fmt: skip


REFUSED = [
    ("str", "str 'abc'", "one branch per character"),
    ("dict", "dict {'a': {}, 'b': {}}", "one branch per key"),
    ("bytes", "bytes b'ab'", "one branch per byte"),
    ("bytearray", "bytearray bytearray(b'ab')", "one branch per byte"),
    ("set", "set {1, 2}", "a set has no order"),
    ("frozenset", "frozenset frozenset(", "a set has no order"),
    ("int", "int 5", "it is not iterable"),
    ("none", "None", "it is not iterable"),
]


@pytest.mark.parametrize(("kind", "shown", "why"), REFUSED)
def test_a_branches_function_returning_no_sequence_of_items_faults_at_its_split(
    kind: str, shown: str, why: str
) -> None:
    started: list[Any] = []
    with Mediator([flow(started)], runners=2) as mediator:
        job = mediator.schedule("f", {"x": kind}).result(timeout=TIMEOUT)
    assert (job.state, job.step) == (JobState.FAULTED, "s")
    assert job.error is not None
    assert job.error.startswith(f"step 's': the branches function returned {shown}")
    assert "where a list of items (one branch each) was expected" in job.error
    assert why in job.error
    assert started == []  # no branch started


@pytest.mark.parametrize(
    "items",
    [
        [{"n": 1}, {"n": 2}],
        ({"n": 1}, {"n": 2}),
        ({"n": n} for n in (1, 2)),  # a generator: used once, as the split calls it once
        {"b": {"n": 1}, "a": {"n": 2}}.values(),
        map(lambda n: {"n": n}, [1, 2]),  # noqa: C417 - any iterator will do
    ],
    ids=["list", "tuple", "generator", "dict values", "map"],
)
def test_a_list_a_tuple_or_any_other_iterable_starts_one_branch_per_item_in_order(
    items: Any,
) -> None:
    seen: list[int] = []

    def collect(parent: dict[str, Any], branches: list[dict[str, Any]]) -> None:
        parent["order"] = [b["n"] for b in branches]

    ordered = Workflow("o", start="s", steps=[
        ParallelSplit("s", branches=lambda d: items, each="t"),
        Sequential("t", lambda d: seen.append(d["n"]), next="j"),
        Synchronize("j", merge=collect),
    ])  # fmt: skip
    with Mediator([ordered], runners=2) as mediator:
        job = mediator.schedule("o", {}).result(timeout=TIMEOUT)
    assert (job.state, job.data["order"]) == (JobState.DONE, [1, 2])
    assert sorted(seen) == [1, 2]


def test_the_harness_reports_the_fault_at_the_split_and_starts_no_branch() -> None:
    started: list[Any] = []
    with Harness([flow(started)], seed=3) as h:
        h.schedule("f", {"x": "str"})
        (job,) = h.finish()
        actions = [entry.action for entry in h.trace]
    assert (job.state, job.step) == (JobState.FAULTED, "s")
    assert "the branches function returned str 'abc'" in (job.error or "")
    assert "SpawnBranch" not in actions
    assert started == []


def test_a_long_value_is_shown_short() -> None:
    why = refused_items("x" * 10_000)
    assert why is not None and len(why) < 250


@pytest.mark.parametrize("value", [[], (), range(3), iter([1]), {}.keys()])
def test_sequences_and_iterators_are_items(value: Any) -> None:
    assert refused_items(value) is None
