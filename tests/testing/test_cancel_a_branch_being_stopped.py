"""Under the harness: a cancel of a branch its case's cancel is stopping already.

The case's cancel reaches the Scheduler as the branch's runner saves the branch's
arrival at the join (after the runner's last look for a stop), so the branch ends as
its slice ended it: arrived, ``DONE``. A second cancel, of that branch, must wait for
the runner's report as the first one's stop does, and say ``ALREADY_FINISHED`` (it was
answered ``CANCELLED`` at once, while the branch ended ``DONE``).
"""

from __future__ import annotations

from typing import Any

from actors import JobState, ParallelSplit, Sequential, Synchronize, Wait, Workflow
from actors._outcomes import CancelOutcome
from actors.testing import Harness

FLOW = Workflow("split", [
    ParallelSplit("split", branches=["a", "b"]),
    Sequential("a", lambda d: None, next="join"),
    Wait("b", 60.0, next="join"),  # parked while "a" arrives: the case's cancel ends it
    Synchronize("join"),
], "split")  # fmt: skip


def _handled(h: Harness, job_id: str) -> bool:
    return any(e.actor == "scheduler" and e.action == "CancelJob" and e.job == job_id
               for e in h.trace)  # fmt: skip


def test_a_branch_whose_case_is_being_cancelled_as_it_arrives_is_already_finished() -> None:
    with Harness([FLOW], seed=0) as h:
        store = h.mediator._engine.store
        real_save = store.save
        answers: list[Any] = []
        arrived: list[str] = []
        early: list[bool] = []

        def save(job: Any) -> None:
            # Branch "a"'s arrival: its runner has taken its last look for a stop.
            if job.parent_id is not None and job.state is JobState.DONE and not answers:
                arrived.append(job.id)
                answers.append(h.cancel("c"))
                answers.append(h.cancel(job.id))
                h.runtime.drive_until(lambda: _handled(h, job.id), None, what="both cancels")
                assert answers[0].get() is CancelOutcome.CANCELLED  # the case's
                early.append(answers[1].resolved)  # the branch's waits for the report
            real_save(job)

        store.save = save
        sub = h.schedule("split", {}, job_id="c")
        h.finish()
        assert sub.result().state is JobState.CANCELLED
        branch = h.store.get(arrived[0])
        assert branch.state is JobState.DONE
        assert answers[1].get() is CancelOutcome.ALREADY_FINISHED
        assert early == [False]
