"""A Discriminator's losing branch that read its parent before the winner arrived.

In ``memory://`` an arrival reads its parent and then counts, with no lock between (see
``actors.stores._memory_joins``): a losing branch may read the parent just before the
winner's arrival and count only after the join ran and saved the parent at its next
step. Here the store plays that loser at that moment (its read as it was before the
winner's arrival), and the parent's runner then dies before its next step: the
Scheduler resumes the parent from the store. The join, and its merge, must not run
again: a losing arrival that put the parent back READY at the join would make them.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from actors import Discriminator, JobState, ParallelSplit, Sequential, Workflow
from actors.stores import MemoryStore
from actors.testing import Harness


class _LateLoser(MemoryStore):
    """Plays the loser's late arrival once the join's save is stored; then crashes runner 0."""

    def __init__(self) -> None:
        super().__init__(copy_data=True)
        self.harness: Harness | None = None
        self.read: dict[str, Any] = {}  # the parent as the loser read it, by parent id
        self.played: list[tuple[int, int]] = []

    def record_arrival(self, parent_id: str, gen: int, branch_index: int, data: Any, **kw: Any):
        saved = self._find(parent_id)
        if saved is not None and parent_id not in self.read:  # the winner: read before it
            parent = copy.copy(saved[0])  # its fields as they were then
            self.read[parent_id] = (parent, *saved[1:]), gen, 1 - branch_index, data, kw
        return super().record_arrival(parent_id, gen, branch_index, data, **kw)

    def save(self, job: Any) -> None:
        super().save(job)
        if job.step != "book" or job.id not in self.read or self.played:
            return
        read, gen, loser, data, kw = self.read[job.id]
        find = self._find
        self._find = lambda job_id: read if job_id == job.id else find(job_id)  # type: ignore[method-assign]
        try:
            self.played.append(super().record_arrival(job.id, gen, loser, data, **kw))
        finally:
            del self._find
        assert self.harness is not None
        self.harness.crash_runner(0)  # before the next step: resumed from this store


def _flow(merged: list[int]) -> Workflow:
    def merge(data: dict[str, Any], datas: list[Any]) -> dict[str, Any]:
        merged.append(len(datas))  # the join's effect
        return {**data, **datas[0]}

    return Workflow(
        "quote",
        [
            ParallelSplit("split", branches=["quote_a", "quote_b"]),
            Sequential("quote_a", lambda d: d.update(supplier="a"), next="first"),
            Sequential("quote_b", lambda d: d.update(supplier="b"), next="first"),
            Discriminator("first", merge=merge, next="book"),
            Sequential("book", lambda d: d.update(booked=True)),
        ],
        "split",
    )


@pytest.mark.parametrize("seed", range(4))
def test_a_late_losing_arrival_makes_no_join_run_again_after_a_crash(seed: int) -> None:
    merged: list[int] = []
    store = _LateLoser()
    with Harness([_flow(merged)], runners=1, seed=seed, store=store) as h:
        store.harness = h
        h.schedule("quote", {})
        (case,) = h.finish()
    assert store.played == [(0, 2)]  # played, and counted nothing
    assert case.state is JobState.DONE, case.error
    assert case.data["booked"] is True
    assert merged == [1]  # the join ran once, on the winner's data alone
