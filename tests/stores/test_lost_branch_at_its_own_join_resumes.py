"""A losing branch stored ready at its own fired first-wins join ends on the next start.

A case splits with a first-wins join whose first branch splits in turn, also with one.
The engine stopped when both joins had fired: the case at its join (its second branch
won), its first branch ready at its own join with a losing branch of its own unfinished.
On the next start that first branch, a loser with branches, is cancelled with them; it
was marked cancelled and handed to no runner, so the case never ended.
"""

from __future__ import annotations

from typing import Any

import pytest

from actors import JobState
from actors._job import JobRecord
from actors.stores import SqliteStore
from actors.testing import Harness
from actors.testing._shapes import Choice, Pause, Split, Task
from actors.testing.strategies import GeneratedWorkflow

FLOW = GeneratedWorkflow(
    Split(branches=(
        Split(branches=(Pause(seconds=0.0), Choice(flag=0, then=Task(), other=Task())),
              join="first", dynamic=False),
        Choice(flag=1, then=Task(), other=Task()),
    ), join="first", dynamic=False)
)  # fmt: skip


def _job(id: str, step: str, state: JobState, **fields: Any) -> JobRecord:
    return JobRecord(id=id, case_id="c", workflow="generated", version=1, step=step,
                     data={"log": [], "flags": [False, False]}, state=state, **fields)  # fmt: skip


def _stored() -> list[JobRecord]:
    """The case as the stopped engine left it (both joins fired, the inner loser unrun)."""
    won = {"log": [], "flags": [False, False]}
    return [
        _job("c", "first1", JobState.READY, event=("join", "first1", None),
             split_step="split13", split_total=2, arrivals={1: won}, join_step="first1",
             joined=True, gen=1),
        _job("c-0", "first2", JobState.READY, parent_id="c", branch_index=0, parent_gen=1,
             event=("join", "first2", None), split_step="split8", split_total=2,
             arrivals={1: won}, join_step="first2", joined=True, gen=1),
        _job("c-1", "first1", JobState.DONE, parent_id="c", branch_index=1, parent_gen=1),
        _job("c-0-0", "wait3", JobState.READY, parent_id="c-0", branch_index=0, parent_gen=1),
        _job("c-0-1", "first2", JobState.DONE, parent_id="c-0", branch_index=1, parent_gen=1),
    ]  # fmt: skip


@pytest.mark.parametrize("commit", ["step", "group"])
def test_a_losing_branch_ready_at_its_own_join_is_cancelled_on_the_next_start(tmp_path, commit):
    store = SqliteStore(tmp_path / "jobs.db", commit=commit)
    try:
        for job in _stored():
            store.create(job)
        with Harness([FLOW], seed=0, store=store) as h:
            h.run_until_quiescent()  # raised Deadlock: c-0 was never run nor ended
        assert not store.unfinished(), [j.id for j in store.unfinished()]
        ends = {j: store.get(j).state for j in ("c", "c-0", "c-0-0")}  # type: ignore[union-attr]
        assert ends == {"c": JobState.DONE, "c-0": JobState.CANCELLED,
                        "c-0-0": JobState.CANCELLED}  # fmt: skip
    finally:
        store.close()
