"""A cancel of a job that has ended while branches below it still run.

Only a ``Discriminator`` leaves such a job: the job runs on from the first branch to
arrive and may end while the losers' tasks still run, each being cancelled already.
The cancel changes nothing, and is answered ``ALREADY_FINISHED`` (it was answered
``CANCELLED``, while the job ended ``DONE``).
"""

from __future__ import annotations

import threading

from bounds import TIMEOUT, wait_until

from actors import (
    CancelOutcome,
    Discriminator,
    JobState,
    Mediator,
    ParallelSplit,
    Sequential,
    Workflow,
)
from actors._job import ENDED_OPEN


def _ended_open(mediator: Mediator, case: str) -> bool:
    """The root's own thread ended: stored open (WAITING) until its branches end."""
    [root] = [j.record for j in mediator.store.case_jobs(case) if j.record.id == case]
    return root.event is not None and root.event[0] == ENDED_OPEN


def _branches(mediator: Mediator, case: str) -> list:
    return sorted(
        (j.record for j in mediator.store.case_jobs(case) if j.record.parent_id is not None),
        key=lambda r: r.branch_index,
    )


def test_a_discriminators_won_case_is_already_finished_while_its_loser_runs() -> None:
    inside, release, ended = threading.Event(), threading.Event(), threading.Event()

    def slow(data: dict) -> None:
        inside.set()
        release.wait(TIMEOUT)  # the loser's task: never interrupted

    race = Workflow("race", start="split", steps=[
        ParallelSplit("split", branches=["slow", "fast"]),
        Sequential("slow", slow, next="first"),
        Sequential("fast", lambda d: inside.wait(TIMEOUT) and None, next="first"),
        Discriminator("first", next="after"),
        Sequential("after", lambda d: ended.set()),
    ])  # fmt: skip
    with Mediator([race], runners=2) as mediator:
        handle = mediator.schedule("race", {})
        assert ended.wait(TIMEOUT)
        wait_until(lambda: _ended_open(mediator, handle.job_id))
        # The loser is being cancelled already (its sibling won): nothing is left to
        # change (it was answered CANCELLED, and the case ended as it would have).
        outcome = mediator.cancel(handle.job_id)
        release.set()
        job = handle.result(timeout=TIMEOUT)
        loser = _branches(mediator, handle.job_id)[0]
    assert outcome is CancelOutcome.ALREADY_FINISHED
    assert job.state is JobState.DONE
    assert (loser.state, loser.error) == (JobState.CANCELLED, "a sibling won the Discriminator")
