"""A split whose branches fault ends its parent with the same error on every store.

The error names the join (known from the workflow when no branch arrived to name it),
how many of the branches arrived, how many faulted, and the fault of the faulted branch
with the lowest index, whatever order the branches faulted in. Before, a split whose
branches all faulted named no join, and named the branch whose end the worker took in
first: branch 0 on one store, branch 1 on another.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from bounds import TIMEOUT

from actors import (
    Discriminator,
    JobState,
    Mediator,
    ParallelSplit,
    Sequential,
    Synchronize,
    Workflow,
)


class LastFirst:
    """Tasks for branches a, b, c: b and c fault at once, a only once c has faulted.

    So the branch with the lowest index faults last (as a worker may well take it in).
    """

    def __init__(self) -> None:
        self.c_broke = threading.Event()

    def a(self, data: dict[str, Any]) -> None:
        assert self.c_broke.wait(TIMEOUT), "branch c never ran"
        raise RuntimeError("a broke")

    def b(self, data: dict[str, Any]) -> None:
        if data.get("b_arrives"):
            return
        raise RuntimeError("b broke")

    def c(self, data: dict[str, Any]) -> None:
        self.c_broke.set()
        raise RuntimeError("c broke")


def _flow(tasks: LastFirst, join: type[Synchronize | Discriminator]) -> Workflow:
    return Workflow(
        "fan",
        [
            ParallelSplit("split", branches=["a", "b", "c"]),
            Sequential("a", tasks.a, next="meet"),
            Sequential("b", tasks.b, next="meet"),
            Sequential("c", tasks.c, next="meet"),
            join("meet", next="after"),
            Sequential("after", lambda d: None),
        ],
        start="split",
    )


def _stores(make_store: Any) -> list[Any]:
    """A store of the kind under test; a SQL store also with group commit."""
    if make_store.kind == "memory":
        return [make_store()]
    return [make_store(), make_store(commit="group")]


def _branch_0(mediator: Mediator, case_id: str) -> str:
    (first,) = [
        s.record.id for s in mediator.store.case_jobs(case_id) if s.record.branch_index == 0
    ]
    return first


@pytest.mark.parametrize("join", [Synchronize, Discriminator])
def test_every_branch_faulting_names_the_join_and_the_lowest_branch(
    make_store: Any, join: type[Synchronize | Discriminator]
) -> None:
    for store in _stores(make_store):
        tasks = LastFirst()
        with Mediator([_flow(tasks, join)], store=store, runners=3) as mediator:
            for _ in range(3):
                job = mediator.schedule("fan", {}).result(timeout=TIMEOUT)
                tasks.c_broke.clear()  # every branch has ended: none waits on it now
                first = _branch_0(mediator, job.id)
                assert (job.state, job.step) == (JobState.FAULTED, "split")
                assert job.error == (
                    "join 'meet' got 0 of 3 branches: 3 branches faulted; branch 0 "
                    f"(job {first}) faulted at step 'a': RuntimeError: a broke (attempt 1)"
                )


def test_a_join_some_branches_reached_names_the_lowest_faulted_branch(make_store: Any) -> None:
    for store in _stores(make_store):
        tasks = LastFirst()
        with Mediator([_flow(tasks, Synchronize)], store=store, runners=3) as mediator:
            job = mediator.schedule("fan", {"b_arrives": True}).result(timeout=TIMEOUT)
            first = _branch_0(mediator, job.id)
        assert (job.state, job.step) == (JobState.FAULTED, "split")
        assert job.error == (
            "join 'meet' got 1 of 3 branches: 2 branches faulted; "
            f"branch 0 (job {first}) faulted at step 'a': RuntimeError: a broke (attempt 1)"
        )
