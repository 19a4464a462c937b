"""A branch whose split's parent row is gone faults, in every commit mode, and the case ends.

Before, the arrival's ``JobNotFoundError`` sent the branch back to its last saved step,
which reached the join again and failed again, for ever.
"""

import pytest
from bounds import TIMEOUT

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow
from actors.stores import MemoryStore


def flow(store, branch_ids):
    def drop_parent(data, ctx):
        branch_ids.add(ctx.job_id)
        # The case's root is the split's parent: it vanishes under the running branch.
        store.delete(ctx.case_id)
        data[ctx.step] = True

    return Workflow(
        "orphan",
        start="begin",
        steps=[
            Sequential("begin", lambda data: None, next="fan_out"),
            ParallelSplit("fan_out", branches=["left", "right"]),
            Sequential("left", drop_parent, next="join"),
            Sequential("right", drop_parent, next="join"),
            Synchronize("join", next="end"),
            Sequential("end", lambda data: None),
        ],
    )


def _run_orphan(store):
    branch_ids = set()
    with Mediator([flow(store, branch_ids)], runners=2, store=store) as mediator:
        case = mediator.schedule("orphan", {}).result(timeout=TIMEOUT)
        branches = [mediator.get_job(job_id) for job_id in branch_ids]
    assert case.state is JobState.FAULTED
    assert len(branches) == 2
    for branch in branches:
        assert branch.state is JobState.FAULTED
        assert f"parent job {case.id!r} is missing" in branch.error


@pytest.mark.parametrize("commit", ["step", "slice", "group"])
def test_a_branch_whose_parent_is_gone_faults_instead_of_looping(make_sql_store, commit):
    _run_orphan(make_sql_store(commit=commit))


def test_a_branch_whose_parent_is_gone_faults_in_memory_too():
    _run_orphan(MemoryStore())
