"""A split whose branches all end before its join: the join never fires, the case faults.

A branch that ends without reaching the join its siblings reached faulted the parent
("join 'join' got 1 of 2 branches: ..."), but when the data sent *every* branch down a
path with no ``next``, none arrived and the case ended DONE at the split, as if the
workflow had no join: the join and every step after it were skipped without a word.
"""

from __future__ import annotations

from typing import Any

import pytest
from bounds import TIMEOUT

from actors import (
    Discriminator,
    ExclusiveChoice,
    JobState,
    Mediator,
    ParallelSplit,
    Sequential,
    Synchronize,
    Workflow,
)
from actors.testing import Harness


def price(line: dict[str, Any]) -> None:
    line["price"] = line["qty"] * 2


def total(order: dict[str, Any], lines: list[dict[str, Any]]) -> None:
    order["total"] = sum(line["price"] for line in lines)


def skipping(join: type[Synchronize] | type[Discriminator]) -> Workflow:
    """Lines of no quantity take a path that ends before the join: the user's bug."""
    return Workflow("skip", start="split", steps=[
        ParallelSplit("split", branches=lambda order: order["lines"], each="check"),
        ExclusiveChoice("check", spec=lambda line: line["qty"] > 0, if_true="price",
                        if_false="drop"),
        Sequential("price", price, next="join"),
        Sequential("drop", lambda line: None),  # no next: never reaches the join
        join("join", merge=total, next="confirm"),
        Sequential("confirm", lambda order: order.update(confirmed=True)),
    ])  # fmt: skip


@pytest.mark.parametrize("join", [Synchronize, Discriminator])
def test_a_split_none_of_whose_branches_reach_its_join_faults(join: Any) -> None:
    with Mediator([skipping(join)], runners=2) as mediator:
        none = mediator.schedule("skip", {"lines": [{"qty": 0}, {"qty": 0}]})
        job = none.result(timeout=TIMEOUT)
    assert (job.state, job.step) == (JobState.FAULTED, "split"), (job.state, job.error)
    assert job.error == "join 'join' got 0 of 2 branches: every branch ended without reaching it"
    assert "confirmed" not in job.data


def test_one_branch_that_ends_before_the_join_faults_as_two_do() -> None:
    with Harness([skipping(Synchronize)], seed=3) as h:
        one = h.schedule("skip", {"lines": [{"qty": 0}]})
        some = h.schedule("skip", {"lines": [{"qty": 0}, {"qty": 1}]})
        h.finish()
    assert one.result().error == (
        "join 'join' got 0 of 1 branches: every branch ended without reaching it"
    )
    assert some.result().error == (
        "join 'join' got 1 of 2 branches: the others ended without reaching it"
    )


def test_a_split_without_a_join_still_ends_done_with_its_branches() -> None:
    flow = Workflow("nojoin", start="split", steps=[
        ParallelSplit("split", branches=lambda order: order["lines"], each="drop"),
        Sequential("drop", lambda line: None),
    ])  # fmt: skip
    with Harness([flow], seed=1) as h:
        sub = h.schedule("nojoin", {"lines": [1, 2]})
        h.finish()
    assert (sub.result().state, sub.result().error) == (JobState.DONE, None)
