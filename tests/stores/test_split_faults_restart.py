"""A split whose branches faulted before a restart still ends faulted after it.

The worker that ran the split counts each branch's fault on the parent as the branch
ends, and saves it with the parent's next save. A worker that stopped in between left
the faults in the branches' rows only: the next worker reads them when it takes the
parent over, instead of ending the split DONE (no fault counted) or blaming branches
that "ended without reaching" the join.
"""

from __future__ import annotations

from bounds import wait_until
from records import record

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow

FLOW = Workflow(
    "w",
    [
        ParallelSplit("fan", branches=["b0", "b1", "b2"]),
        Sequential("b0", lambda d: None, next="j"),
        Sequential("b1", lambda d: None, next="j"),
        Sequential("b2", lambda d: None, next="j"),
        Synchronize("j"),
    ],
    start="fan",
)


def _split_left_by_a_stopped_worker(
    store, ends: dict[int, JobState], counted: str | None = None
) -> None:
    """Case c: its parent saved waiting on 3 branches (``counted`` its faults); ``ends``."""
    parent = record("c", step="fan", state=JobState.RUNNING)
    store.create(parent)
    parent.state, parent.split_step, parent.split_total = JobState.WAITING, "fan", 3
    parent.branch_error = counted
    branches = [
        record(f"c.{i}", case_id="c", step=f"b{i}", parent_id="c", branch_index=i) for i in range(3)
    ]
    store.save_split(parent, branches)
    for i, state in ends.items():
        branch = branches[i]
        branch.state = state
        branch.error = f"step 'b{i}': RuntimeError: down {i} (attempt 1)"
        store.save(branch)


def _end_of(store) -> tuple[JobState, str | None]:
    with Mediator([FLOW], store=store) as mediator:
        wait_until(lambda: mediator.get_job("c").state.is_final, "the split to end")
        job = mediator.get_job("c")
    return job.state, job.error


def test_a_split_whose_branches_all_faulted_before_a_restart_ends_faulted(store):
    _split_left_by_a_stopped_worker(
        store, {2: JobState.FAULTED, 0: JobState.FAULTED, 1: JobState.FAULTED}
    )
    state, error = _end_of(store)
    assert state is JobState.FAULTED
    assert error == (
        "join 'j' got 0 of 3 branches: 3 branches faulted; branch 0 (job c.0) faulted at "
        "step 'b0': RuntimeError: down 0 (attempt 1)"
    )


def test_a_branch_fault_before_a_restart_is_named_when_the_others_arrive(store):
    _split_left_by_a_stopped_worker(store, {1: JobState.FAULTED})  # 0 and 2 still to run
    state, error = _end_of(store)
    assert state is JobState.FAULTED
    assert error == (
        "join 'j' got 2 of 3 branches: branch 1 (job c.1) faulted at step 'b1': "
        "RuntimeError: down 1 (attempt 1)"
    )


def test_a_branch_cancelled_before_a_restart_cancels_the_split(store):
    _split_left_by_a_stopped_worker(store, {0: JobState.CANCELLED, 1: JobState.CANCELLED})
    state, _ = _end_of(store)
    assert state is JobState.CANCELLED


def test_faults_saved_with_the_parent_are_not_counted_again(store):
    counted = (
        "2 branches faulted; branch 0 (job c.0) faulted at step 'b0': RuntimeError: down 0 "
        "(attempt 1)"
    )
    _split_left_by_a_stopped_worker(
        store, {0: JobState.FAULTED, 1: JobState.FAULTED}, counted=counted
    )
    state, error = _end_of(store)
    assert state is JobState.FAULTED
    assert error == f"join 'j' got 1 of 3 branches: {counted}"  # not "3 branches faulted"
