"""What a losing branch that polls in a loop does once its Discriminator fired.

A loser parked between its turns (on a ``Wait``) is cancelled at once and runs no
further turn. A loser inside a step's task that loops runs on until that task returns
(a task is never interrupted): meanwhile the job that ran on from the Discriminator is
stored ``WAITING``, and the case ends with that loser, cancelled.
"""

from __future__ import annotations

import threading

from bounds import TIMEOUT, wait_until

from actors import (
    Discriminator,
    ExclusiveChoice,
    JobState,
    Mediator,
    ParallelSplit,
    Sequential,
    Spec,
    Wait,
    Workflow,
)
from actors.testing import VirtualClock


def _race(poll, pause: bool) -> tuple[Workflow, threading.Event]:
    won = threading.Event()
    race = Workflow("race", start="split", steps=[
        ParallelSplit("split", branches=["win", "poll"]),
        Sequential("win", lambda d: won.wait(TIMEOUT) and d.update(won=True), next="first"),
        Sequential("poll", poll, next="ready?"),
        ExclusiveChoice("ready?", Spec(lambda d: False, "never"), if_true="first",
                        if_false="pause"),
        Wait("pause", duration=60.0 if pause else 0.0, next="poll"),
        Discriminator("first", next="after"),
        Sequential("after", lambda d: d.update(after=True)),
    ])  # fmt: skip
    return race, won


def _loser(mediator: Mediator, case: str):
    [loser] = [j for j in mediator.store.case_jobs(case) if j.record.branch_index == 1]
    return loser.record


def test_a_loser_parked_between_its_turns_is_cancelled_at_once() -> None:
    turns: list[int] = []
    clock = VirtualClock()
    race, won = _race(lambda d: turns.append(1), pause=True)
    with Mediator([race], clock=clock, runners=2) as mediator:
        handle = mediator.schedule("race", {})
        for turn in (1, 2):  # two turns of its loop, parked on its timer between them
            wait_until(lambda turn=turn: len(turns) == turn, f"turn {turn}")
            wait_until(lambda: _loser(mediator, handle.job_id).state is JobState.WAITING)
            if turn == 1:
                clock.advance(60.0)
        won.set()
        job = handle.result(timeout=TIMEOUT)
        loser = _loser(mediator, handle.job_id)
        clock.advance(600.0)  # its timer was withdrawn: nothing is left to run
    assert (job.state, job.data) == (JobState.DONE, {"won": True, "after": True})
    assert (loser.state, loser.step) == (JobState.CANCELLED, "pause")
    assert loser.error == "a sibling won the Discriminator"
    assert len(turns) == 2


def test_a_loser_looping_inside_its_task_holds_the_case_until_the_task_returns() -> None:
    inside, release = threading.Event(), threading.Event()

    def poll(data: dict) -> None:
        inside.set()
        release.wait(TIMEOUT)  # a task's own polling loop: never interrupted

    race, won = _race(poll, pause=False)
    with Mediator([race], runners=2) as mediator:
        handle = mediator.schedule("race", {})
        assert inside.wait(TIMEOUT)
        won.set()
        root = mediator.store.get
        wait_until(
            lambda: (
                (root(handle.job_id).step, root(handle.job_id).state) == ("after", JobState.WAITING)
            ),
            "the root to end its own thread, held for its loser",
        )
        assert mediator.get_job(handle.job_id).state is JobState.WAITING  # not ended
        release.set()
        job = handle.result(timeout=TIMEOUT)
        loser = _loser(mediator, handle.job_id)
    assert (job.state, job.data) == (JobState.DONE, {"won": True, "after": True})
    assert (loser.state, loser.step) == (JobState.CANCELLED, "ready?")  # no step after it
