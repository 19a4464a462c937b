"""Invariant 6 counts a case cancelled before its first step out of the gate at once.

On a store that commits in groups, such a case's final save waits in the writer's group
for a while; the monitor counted it among the cases admitted and not yet started until
then, and a run of schedules and cancels within capacity failed invariant 6 (5 of 4).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from actors import JobState, Sequential, Workflow
from actors.stores import SqliteStore
from actors.testing import Harness

FLOW = Workflow(
    "pay",
    start="charge",
    steps=[
        Sequential("charge", lambda d: None, next="ship"),
        Sequential("ship", lambda d: {**d, "shipped": True}),
    ],
)
# s: schedule a case; cN: cancel the N-th admitted case (modulo how many there are).
OPS = [
    "s",
    "c0",
    "s",
    "c0",
    "s",
    "s",
    "c0",
    "c1",
    "c0",
    "c0",
    "c0",
    "s",
    "s",
    "c0",
    "s",
    "s",
    "s",
    "s",
    "s",
]


@pytest.mark.parametrize("commit", ["group", "slice", "step"])
def test_cases_cancelled_before_their_first_step_leave_the_capacity_count(
    tmp_path: Path, commit: str
) -> None:
    store = SqliteStore(tmp_path / "jobs.db", commit=commit)
    with Harness([FLOW], seed=0, runners=2, store=store) as h:
        for op in OPS:
            if op == "s":
                h.schedule("pay", {"order": 1})
            else:
                admitted = [s.job_id for s in h.submissions if s.job_id is not None]
                if admitted:
                    h.cancel(admitted[int(op[1]) % len(admitted)])
        h.finish()
        states = {h.mediator.get_job(s.job_id).state for s in h.submissions if s.job_id}
    assert states <= {JobState.DONE, JobState.CANCELLED}
