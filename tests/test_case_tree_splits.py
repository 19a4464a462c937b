"""A case's tree lists the branches of each split together, in the order of the splits.

A job that split twice (one split after another) had its children sorted by branch
index alone, so `actors jobs show --tree`, `Admin.case` and the dashboard drew branch 0
of the first split, branch 0 of the second, branch 1 of the first, ...: two splits'
branches interleaved, which read as one split with every index twice.
"""

from __future__ import annotations

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow
from actors.admin import Admin


def _items(order):
    return [{"n": n} for n in range(order["width"])]


FLOW = Workflow("twice", start="pack", steps=[
    ParallelSplit("pack", branches=_items, each="pack_one"),
    Sequential("pack_one", lambda item: None, next="packed"),
    Synchronize("packed", merge=lambda order, items: None, next="quote"),
    ParallelSplit("quote", branches=_items, each="quote_one"),
    Sequential("quote_one", lambda item: None, next="quoted"),
    Synchronize("quoted", merge=lambda order, items: None),
])  # fmt: skip


def test_the_branches_of_each_split_are_listed_together_in_split_order():
    with Mediator([FLOW], runners=2) as mediator:
        job = mediator.schedule("twice", {"width": 3}, job_id="o1").result(timeout=10)
        assert job.state is JobState.DONE
        tree = Admin.for_mediator(mediator).case("o1")
    children = [(n.job.step, n.job.branch_index) for n in tree.root.children]
    assert children == [
        ("packed", 0), ("packed", 1), ("packed", 2),
        ("quoted", 0), ("quoted", 1), ("quoted", 2),
    ]  # fmt: skip
