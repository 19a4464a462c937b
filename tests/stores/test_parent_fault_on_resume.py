"""A split parent that cannot resume after a restart cancels its live branches.

The parent faults when its saved step is gone from its workflow (changed without a new
version). Its branches' steps may still exist: left to run, they would repeat their
effects for a case that is over. They end CANCELLED, naming the parent, and none runs,
whichever order the store hands the jobs back in.
"""

from __future__ import annotations

import pytest
from bounds import wait_until
from records import record

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow

RAN: list[str] = []

FLOW = Workflow(
    "w",
    [
        ParallelSplit("fan", branches=["b0", "b1"]),
        Sequential("b0", lambda d: RAN.append("b0"), next="j"),
        Sequential("b1", lambda d: RAN.append("b1"), next="j"),
        Synchronize("j", next="after"),
        Sequential("after", lambda d: RAN.append("after")),
    ],
    start="fan",
)


@pytest.mark.parametrize(("parent_id", "kid_ids"), [("c", ("c.0", "c.1")), ("z", ("a0", "a1"))])
def test_a_parent_that_faults_on_resume_cancels_its_branches(store, parent_id, kid_ids):
    RAN.clear()
    parent = record(parent_id, step="gone", state=JobState.WAITING)
    parent.split_step, parent.split_total = "gone", 2
    kids = [
        record(kid, case_id=parent_id, step=f"b{i}", parent_id=parent_id, branch_index=i)
        for i, kid in enumerate(kid_ids)
    ]
    store.save_split(parent, kids)
    with Mediator([FLOW], store=store) as mediator:
        # The parent's row is saved as it ended once its last branch has ended.
        wait_until(
            lambda: all(mediator.get_job(k).state.is_final for k in (parent_id, *kid_ids)),
            "the case to end",
        )
        ended = {k: mediator.get_job(k) for k in (parent_id, *kid_ids)}
    assert ended[parent_id].state is JobState.FAULTED
    error = ended[parent_id].error or ""
    assert "has no step 'gone'" in error
    # It says what to do, as a step whose kind changed does.
    assert "rename or remove a step in a new workflow version (version=2)" in error
    assert f"'actors jobs retry {parent_id} --from STEP' runs this job on" in error
    for kid in kid_ids:
        assert ended[kid].state is JobState.CANCELLED
        assert ended[kid].error == f"cancelled: its parent {parent_id} faulted"
    assert RAN == []
