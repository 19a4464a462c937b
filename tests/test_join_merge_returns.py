"""A join's merge that returns data other than a dict: the step that fails on it names the join.

A merge's return value, unless None, replaces the splitting job's data, as a task's does.
A merge that returns a list (say) leaves the job's next step to fail on it; that fault
names the join and what its merge returned, not only the step whose code found it.
"""

from __future__ import annotations

from typing import Any

import pytest
from bounds import TIMEOUT
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import (
    Discriminator,
    ExclusiveChoice,
    JobState,
    Mediator,
    ParallelSplit,
    Sequential,
    Spec,
    Synchronize,
    Workflow,
)
from actors.testing import Harness


def _noop(data: Any) -> None:
    pass


def ship(data: Any) -> None:
    data["shipped"] = True


def _flow(join_kind: type, merge: Any, *after: Any) -> Workflow:
    return Workflow(
        "fan",
        start="fan",
        steps=[
            ParallelSplit("fan", branches=["a", "b"]),
            Sequential("a", _noop, next="join"),
            Sequential("b", _noop, next="join"),
            join_kind("join", merge=merge, next="ship"),
            *(after or [Sequential("ship", ship)]),
        ],
    )


def totals(parent: Any, branches: list[Any]) -> Any:
    return [parent, *branches]  # a bug: a list replaces the order's dict


def _run(flow: Workflow, data: Any) -> Any:
    with Mediator([flow], runners=2) as mediator:
        return mediator.schedule(flow.name, data).result(timeout=TIMEOUT)


@pytest.mark.parametrize("join_kind", [Synchronize, Discriminator])
@pytest.mark.parametrize(
    ("returned", "shown"),
    [(totals, "list [{'order': 1}, {'order': 1}"), (lambda p, b: "x", "str 'x'")],
)
def test_the_step_failing_on_a_merges_non_dict_names_the_join(join_kind, returned, shown):
    job = _run(_flow(join_kind, returned), {"order": 1})
    assert job.state is JobState.FAULTED
    assert job.step == "ship"  # where it failed
    assert job.error.startswith("step 'ship': TypeError")
    assert f"the job's data is {shown}" in job.error
    assert "which the merge of join step 'join' returned where a dict was expected" in job.error


def test_a_choice_failing_on_a_merges_non_dict_names_the_join():
    after = ExclusiveChoice(
        "ship", Spec(lambda data: data["express"], "express"), if_true="done", if_false="done"
    )
    job = _run(_flow(Synchronize, totals, after, Sequential("done", _noop)), {"order": 1})
    assert job.state is JobState.FAULTED
    assert job.error.startswith("step 'ship': spec raised TypeError")
    assert "which the merge of join step 'join' returned" in job.error


def test_a_merge_that_changes_the_parent_in_place_and_returns_none_is_not_blamed():
    def in_place(parent: Any, branches: list[Any]) -> None:
        parent["merged"] = len(branches)

    job = _run(_flow(Synchronize, in_place), {"order": 1})
    assert job.state is JobState.DONE
    assert job.data == {"order": 1, "merged": 2, "shipped": True}


def test_a_merge_returning_data_the_next_step_reads_is_not_blamed():
    def count(data: Any) -> None:
        data.append(len(data))

    job = _run(_flow(Synchronize, totals, Sequential("ship", count)), {"order": 1})
    assert job.state is JobState.DONE
    assert job.data == [{"order": 1}, {"order": 1}, {"order": 1}, 3]


@settings(max_examples=30, deadline=None, database=None)
@given(
    seed=st.integers(0, 2**32),
    runners=st.integers(1, 3),
    join_kind=st.sampled_from([Synchronize, Discriminator]),
)
def test_under_any_interleaving_the_harness_reports_the_join_whose_merge_returned_a_list(
    seed, runners, join_kind
):
    with Harness([_flow(join_kind, totals)], seed=seed, runners=runners) as h:
        case = h.schedule("fan", {"order": 1})
        h.finish()
    job = case.result()
    assert job.state is JobState.FAULTED
    assert "which the merge of join step 'join' returned where a dict was expected" in job.error
