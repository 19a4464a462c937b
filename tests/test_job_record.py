"""JobRecord's hand-written constructors keep up with its fields."""

from __future__ import annotations

import copy
import dataclasses

from actors._job import JobRecord, JobState, cancel_reason


def _full_record() -> JobRecord:
    # A distinct non-default value in every field, so a field a copy forgets shows.
    values = {
        "id": "j1",
        "case_id": "c1",
        "workflow": "w",
        "version": 3,
        "step": "s",
        "data": {"k": [1]},
        "state": JobState.WAITING,
        "parent_id": "p",
        "branch_index": 2,
        "attempt": 4,
        "error": "e",
        "due": 5.0,
        "event": ("reply", "", 1),
        "split_step": "split",
        "split_total": 3,
        "split_live": 2,
        "arrivals": {0: {"a": 1}},
        "join_step": "join",
        "joined": True,
        "branch_error": "b",
        "branch_cancelled": True,
        "gen": 7,
        "parent_gen": 6,
        "cancel_requested": True,
        "taken_over": True,
        "solo": True,
    }
    assert set(values) == {f.name for f in dataclasses.fields(JobRecord)}, "a field is missing"
    return JobRecord(**values)


def test_copy_is_shallow_and_complete() -> None:
    job = _full_record()
    clone = copy.copy(job)
    assert clone is not job
    for f in dataclasses.fields(JobRecord):
        assert getattr(clone, f.name) is getattr(job, f.name), f.name
    clone.step = "other"
    assert job.step == "s"


def test_branch_matches_the_dataclass_constructor() -> None:
    made = JobRecord.branch("b1", "c1", "w", 2, "start", {"x": 1}, "p1", 1, 4)
    expected = JobRecord(
        id="b1",
        case_id="c1",
        workflow="w",
        version=2,
        step="start",
        data={"x": 1},
        parent_id="p1",
        branch_index=1,
        parent_gen=4,
    )
    for f in dataclasses.fields(JobRecord):
        assert getattr(made, f.name) == getattr(expected, f.name), f.name
    other = JobRecord.branch("b2", "c1", "w", 2, "start", {}, "p1", 2, 4)
    assert other.arrivals is not made.arrivals  # each branch owns its arrivals dict


def test_a_cancel_replaces_a_retrys_last_failure_and_keeps_a_cancels_or_faults_reason() -> None:
    job = JobRecord("j", "j", "w", 1, "a", {}, state=JobState.WAITING, attempt=2)
    assert cancel_reason(job, "cancelled by alice") == "cancelled by alice"
    job.error = "step 'a': ValueError: boom (attempt 1)"  # its last failure: a retry is due
    assert cancel_reason(job, "cancelled by alice") == "cancelled by alice"
    job.error, job.cancel_requested = "cancelled", True  # cancelled first: that reason stands
    assert cancel_reason(job, "cancelled by alice") == "cancelled"
    ended = JobRecord("k", "k", "w", 1, "a", {}, state=JobState.FAULTED, error="step 'a': boom")
    assert cancel_reason(ended, "cancelled") == "step 'a': boom"
