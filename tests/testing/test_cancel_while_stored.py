"""A cancel while a job's last slice waits for the store's writer says what became of the job.

With group commit the runner leaves a job once it has handed its slice to the writer,
which reports the slice once it is stored. A cancel handled in between comes too late
for a slice that ended the job: it is answered ``ALREADY_FINISHED`` and the job ends as
its slice ended it. Under every interleaving the harness tries, with the writer's group
lost too, the answer agrees with the job's end.
"""

from __future__ import annotations

from typing import Any

import pytest

from actors import JobState, Sequential, Workflow
from actors._outcomes import CancelOutcome
from actors.stores import open_store
from actors.testing import Crash, FaultPlan, Harness

FLOW = Workflow(
    "two",
    [Sequential("a", lambda d: None, next="last"), Sequential("last", lambda d: None)],
    "a",
)


@pytest.mark.parametrize("lost", [False, True])
def test_a_cancel_as_the_last_slice_is_stored_answers_as_the_job_ends(
    tmp_path: Any, lost: bool
) -> None:
    late = 0
    for seed in range(6):
        for point in range(1, 12):
            store = open_store(f"sqlite:///{tmp_path}/{seed}-{point}.db", commit="group")
            # ``lost``: the group holding the slice of step "last" dies before it is
            # stored; the job resumes from its last stored save and runs that step again.
            plan = FaultPlan(crashes=(Crash(2, point="in_group"),) if lost else ())
            answers: list[Any] = []
            try:
                with Harness([FLOW], seed=seed, store=store, faults=plan) as h:
                    sub = h.schedule("two", {}, job_id="c")
                    h.at(point, lambda h=h, answers=answers: answers.append(h.cancel("c")))
                    h.finish()
                    job = sub.result()
            finally:
                store.close()
            order = [(e.action, e.job) for e in h.trace if e.actor == "scheduler"]
            answer = answers[0].get()
            if job.state is JobState.DONE:
                assert answer is CancelOutcome.ALREADY_FINISHED, (seed, point)
                if order.index(("CancelJob", "c")) < order.index(("JobEnded", "c")):
                    late += 1  # the slice that ended it was on its way
            else:
                assert (answer, job.state) == (CancelOutcome.CANCELLED, JobState.CANCELLED), (
                    seed,
                    point,
                    job.error,
                )
    assert late  # the seeds met the window
