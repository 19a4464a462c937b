"""How a split's parent records its faulted branches, and which join a split leads to.

``branch_faulted`` folds the branches' faults into one error in any order: the fault of
the branch with the lowest index, and how many faulted. ``split_join`` reads the join a
split's branches meet at from the workflow, for a split none of whose branches arrived.
"""

from __future__ import annotations

import itertools
from typing import Any

from records import record

from actors import (
    Discriminator,
    ExclusiveChoice,
    ParallelSplit,
    Sequential,
    Spec,
    Synchronize,
    Workflow,
)
from actors._job import JobRecord, JobState, branch_faulted
from actors._split_join import split_join


def _faulted(index: int) -> JobRecord:
    return record(
        f"p.{index}", case_id="p", step=f"s{index}", data={}, parent_id="p",
        branch_index=index, state=JobState.FAULTED, error=f"step 's{index}': E{index}",
    )  # fmt: skip


def _fold(indices: tuple[int, ...], recorded: str | None = None) -> str | None:
    for index in indices:
        recorded = branch_faulted(recorded, _faulted(index))
    return recorded


def test_the_lowest_faulted_branch_is_quoted_with_the_count_in_any_order() -> None:
    for order in itertools.permutations([3, 0, 5, 1]):
        assert _fold(order) == (
            "4 branches faulted; branch 0 (job p.0) faulted at step 's0': E0"
        ), order
    assert _fold((2,)) == "branch 2 (job p.2) faulted at step 's2': E2"  # one: no count


def test_a_branch_quoted_already_is_not_counted_again() -> None:
    # A store that faults an unreadable branch tells its parent's row first; the worker
    # then ends that branch too.
    assert _fold((1, 1)) == "branch 1 (job p.1) faulted at step 's1': E1"


def test_an_error_that_quotes_no_fault_is_kept() -> None:
    apart = "branch 1 arrived at 'j2' but its siblings at 'j1'; all branches ..."
    assert _fold((0, 2), apart) == apart


def noop(data: Any) -> None:
    pass


def _wf(*steps: Any) -> Workflow:
    return Workflow("w", list(steps), start="split")


def test_the_join_a_split_leads_to() -> None:
    wf = _wf(
        ParallelSplit("split", branches=["a", "b"]),
        Sequential("a", noop, next="a2"),
        Sequential("a2", noop, next="join"),
        Sequential("b", noop, fault_next="join"),
        Discriminator("join", next="after"),
        Sequential("after", noop),
    )
    assert split_join(wf, "split") == "join"
    assert split_join(wf, "a") is None  # no split


def test_a_split_nested_in_a_branch_is_passed_over_by_its_own_join() -> None:
    wf = _wf(
        ParallelSplit("split", branches=["inner", "b"]),
        ParallelSplit("inner", branches=["p", "q"]),
        Sequential("p", noop, next="inner_join"),
        Sequential("q", noop, next="inner_join"),
        Synchronize("inner_join", next="b"),
        Sequential("b", noop, next="join"),
        Synchronize("join"),
    )
    assert split_join(wf, "split") == "join"
    assert split_join(wf, "inner") == "inner_join"


def test_no_join_or_two_name_none() -> None:
    alone = _wf(ParallelSplit("split", branches=["a", "b"]), Sequential("a", noop),
                Sequential("b", noop))  # fmt: skip
    assert split_join(alone, "split") is None
    apart = _wf(
        ParallelSplit("split", branches=["a", "b"]),
        ExclusiveChoice("a", Spec(lambda d: True), if_true="j1", if_false="j2"),
        Sequential("b", noop, next="j1"),
        Synchronize("j1"),
        Synchronize("j2"),
    )
    assert split_join(apart, "split") is None


def test_a_branch_that_loops_still_leads_to_its_join() -> None:
    wf = _wf(
        ParallelSplit("split", branches=["a", "b"]),
        ExclusiveChoice("a", Spec(lambda d: True), if_true="a", if_false="join"),
        Sequential("b", noop, next="join"),
        Synchronize("join"),
    )
    assert split_join(wf, "split") == "join"
