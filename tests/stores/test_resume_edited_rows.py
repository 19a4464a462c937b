"""A row edited by hand that a worker cannot resume faults naming the column, not a change.

A job whose row lost its step (NULL), a job parked at a ``Wait`` whose due time was
emptied, a split parent whose count of branches was emptied, a split whose arrivals no
longer fit its count: each faulted, and the others ran on, but the error said "no step
None", blamed a change of the workflow ("change a step's kind in a new workflow version")
the operator never made, or counted "2 of 1 branches".
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from bounds import wait_until
from records import record

from actors import (
    JobState,
    Mediator,
    ParallelSplit,
    Sequential,
    Synchronize,
    Wait,
    Workflow,
)
from actors.stores import SqliteStore

FLOW = Workflow("w", start="fan", steps=[
    ParallelSplit("fan", branches=["b0", "b1"]),
    Sequential("b0", lambda d: None, next="j"),
    Wait("b1", duration=3600, next="j"),
    Synchronize("j", next="after"),
    Sequential("after", lambda d: None),
])  # fmt: skip


def _edit(path: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute(sql, params)


def _arrived(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM join_arrivals").fetchone()[0]


def _faulted(path: Path, job_id: str) -> str:
    """Resume the store's cases, with one more that must run to its end beside them."""
    with Mediator([FLOW], store=SqliteStore(path), owner="w1") as mediator:
        other = mediator.schedule("w", {}, job_id="other")
        wait_until(lambda: mediator.get_job(job_id).state.is_final, f"{job_id} to end")
        job = mediator.get_job(job_id)
        assert job.state is JobState.FAULTED
        assert mediator.get_job(other.job_id).state is not JobState.FAULTED
    return job.error or ""


def _saved(path: Path, job: Any) -> None:
    store = SqliteStore(path)
    try:
        store.create(job)
    finally:
        store.close()


def test_a_step_emptied_is_named_as_such(tmp_path):
    path = tmp_path / "jobs.db"
    _saved(path, record("c1", workflow="w", step="b0"))
    _edit(path, "UPDATE jobs SET step = NULL WHERE id = 'c1'")
    error = _faulted(path, "c1")
    assert "its row's step is NULL" in error
    assert "'actors jobs retry c1 --from STEP'" in error
    assert "no step None" not in error


def test_a_wait_whose_due_time_was_emptied_says_the_row_may_have_been_edited(tmp_path):
    path = tmp_path / "jobs.db"
    _saved(path, record("c1", workflow="w", step="b1", state=JobState.WAITING, due=1e10))
    _edit(path, "UPDATE jobs SET due = NULL WHERE id = 'c1'")
    error = _faulted(path, "c1")
    assert "saved waiting on an event at step 'b1'" in error  # the other cause, still said
    assert (
        "(if step 'b1' was a Wait when the job was saved, its row's due time was emptied by "
        "hand: 'actors jobs retry c1' runs the step again)"
    ) in error


def test_a_split_whose_count_was_emptied_says_the_row_may_have_been_edited(tmp_path):
    path = tmp_path / "jobs.db"
    _saved(path, record("c1", workflow="w", step="fan", state=JobState.WAITING))
    error = _faulted(path, "c1")
    assert "its row's split_total was emptied by hand: 'actors jobs retry c1'" in error


def test_arrivals_the_split_s_count_does_not_fit_are_named(tmp_path):
    path = tmp_path / "jobs.db"
    with Mediator([FLOW], store=SqliteStore(path), owner="w1") as first:
        first.schedule("w", {}, job_id="c1")
        wait_until(lambda: _arrived(path) == 1, "branch 0 to arrive")
    # Branch 1 ended by hand, and branch 0's arrival moved past the split's count.
    _edit(path, "UPDATE jobs SET state = 'done' WHERE parent_id = 'c1' AND branch_index = 1")
    _edit(path, "UPDATE join_arrivals SET branch_index = 5 WHERE parent_id = 'c1'")
    error = _faulted(path, "c1")
    assert error == (
        "join 'j' got 1 of 2 branches: its row's split_total (2) does not count the branches "
        "that arrived (indexes [5]): the row was edited"
    )
