"""Cancelling a running job: a message its runner reads before its next step.

A cancel that reaches a runner between two steps stops the job before the next one, and
a job whose record a runner holds is ended once, when the runner hands it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors import JobState, ParallelSplit, Sequential, Synchronize, Wait, Workflow
from actors._outcomes import CancelOutcome
from actors.testing import Harness

if TYPE_CHECKING:
    from collections.abc import Sequence


class SchedulerFirst:
    """Runs the Scheduler whenever it has a message: a cancel is handled at the first chance."""

    def choose(self, n: int) -> int:
        return 0

    def pick(self, labels: Sequence[str]) -> int:
        return next((i for i, label in enumerate(labels) if label == "scheduler"), 0)


def _flow(ran: list[str], cancel: Any) -> Workflow:
    def a(data: Any, ctx: Any) -> None:
        ran.append("a")
        cancel(ctx.job_id)  # from outside the runner, while its delivery is in step a

    return Workflow(
        "run",
        [
            Sequential("a", a, next="b"),
            Sequential("b", lambda d: ran.append("b"), next="c"),
            Sequential("c", lambda d: ran.append("c")),
        ],
        "a",
    )


def test_a_cancel_handled_between_two_steps_stops_the_job_before_the_next() -> None:
    ran: list[str] = []
    answers: list[Any] = []
    harness: list[Harness] = []
    flow = _flow(ran, lambda job_id: answers.append(harness[0].cancel(job_id)))
    with Harness([flow], runners=1, chooser=SchedulerFirst()) as h:
        harness.append(h)
        sub = h.schedule("run", {})
        (job,) = h.finish()
    assert ran == ["a"]  # the Scheduler ran at the choice point after a; b never started
    assert answers[0].get() is CancelOutcome.CANCELLED
    assert job.state is JobState.CANCELLED
    assert job.step == "b"  # stopped before it, with a's work saved
    assert sub.result().error == "cancelled"
    paused = [(e.actor, e.action) for e in h.trace if e.job == sub.job_id]
    between = [("runner-0", "pause"), ("scheduler", "CancelJob"), ("runner-0", "go on")]
    assert between == paused[paused.index(between[0]) :][:3], paused


class SchedulerFirstStopLate(SchedulerFirst):
    """As ``SchedulerFirst``, but a stop that comes while a runner pauses comes too late."""

    def choose(self, n: int) -> int:
        return n - 1  # of "the runner reads the stop" (0) or "its check was past" (1)


def test_a_stop_that_comes_once_the_check_is_past_lets_that_one_step_run() -> None:
    # With threads, the runner checks for a stop and then calls the task: a cancel
    # answered in between lets that step run. The harness explores it too.
    ran: list[str] = []
    answers: list[Any] = []
    harness: list[Harness] = []
    flow = _flow(ran, lambda job_id: answers.append(harness[0].cancel(job_id)))
    with Harness([flow], runners=1, chooser=SchedulerFirstStopLate()) as h:
        harness.append(h)
        sub = h.schedule("run", {})
        (job,) = h.finish()
    assert answers[0].get() is CancelOutcome.CANCELLED
    assert ran == ["a", "b"]  # b started after the answer; c, after the next check, did not
    assert (job.state, job.step) == (JobState.CANCELLED, "c")
    went_on = [e.detail for e in h.trace if e.job == sub.job_id and e.action == "go on"]
    assert went_on == ["runs 'b': its stop came once its check was past"]


def test_without_the_choice_point_the_cancel_waits_for_the_slice() -> None:
    ran: list[str] = []
    harness: list[Harness] = []
    flow = _flow(ran, lambda job_id: harness[0].cancel(job_id))  # noqa: PLW0108 - made later
    with Harness([flow], runners=1, chooser=SchedulerFirst(), between_steps=False) as h:
        harness.append(h)
        h.schedule("run", {})
        (job,) = h.finish()
    # Steps run back to back in one delivery: the Scheduler hears the cancel after it,
    # so the job ends as it would have; the answer still says it was cancelled too late.
    assert ran == ["a", "b", "c"]
    assert job.state is JobState.DONE


def test_a_cancel_while_a_branch_reports_its_park_ends_the_branch_once() -> None:
    # The branch's runner parks it and reports; the cancel reaches the Scheduler first.
    # The record is the runner's until that report is handled, so the Scheduler notes
    # the cancel and ends the branch when the report brings the record back: once.
    answers: list[Any] = []
    harness: list[Harness] = []

    def x(data: Any, ctx: Any) -> None:
        if not answers:
            answers.append(harness[0].cancel(ctx.case_id))

    flow = Workflow(
        "f",
        [
            ParallelSplit("split", ["x", "y"]),
            Sequential("x", x, next="wx"),
            Wait("wx", 10, next="join"),
            Sequential("y", lambda d: None, next="wy"),
            Wait("wy", 10, next="join"),
            Synchronize("join", next="end"),
            Sequential("end", lambda d: None),
        ],
        "split",
    )
    with Harness([flow], runners=1, chooser=SchedulerFirst(), between_steps=False) as h:
        harness.append(h)
        h.schedule("f", {})
        (job,) = h.finish()
        stats = h.mediator.stats()
    order = [(e.action, e.job) for e in h.trace if e.actor == "scheduler"]
    assert order.index(("CancelJob", "j1")) < order.index(("JobParked", "j2"))
    assert answers[0].get() is CancelOutcome.CANCELLED
    assert job.state is JobState.CANCELLED
    assert stats.cancelled == 3  # the case and its two branches, each counted once


def test_a_cancel_after_the_runner_left_the_ended_job_says_it_came_too_late() -> None:
    # The cancel is handled after the runner's last look for a stop (the join, then "end",
    # in one slice) and after the runner left the job, before its report is handled: the
    # job ends DONE, as it ended, and the answer says so (it was CANCELLED). A DONE job
    # carries no error, in its handle as in the store.
    flow = Workflow(
        "f",
        [
            ParallelSplit("split", ["x", "y"]),
            Sequential("x", lambda d: None, next="join"),
            Sequential("y", lambda d: None, next="join"),
            Synchronize("join", next="end"),
            Sequential("end", lambda d: None),
        ],
        "split",
    )
    late = 0
    for seed in range(20):
        for point in range(4, 16):
            answers: list[Any] = []
            with Harness([flow], runners=2, seed=seed) as h:
                sub = h.schedule("f", {}, job_id="c")
                h.at(point, lambda h=h, answers=answers: answers.append(h.cancel("c")))
                (job,) = h.finish()
                saved = h.mediator.get_job("c")
            order = [(e.action, e.job) for e in h.trace if e.actor == "scheduler"]
            answer = answers[0].get()
            if job.state is JobState.DONE:
                assert answer is CancelOutcome.ALREADY_FINISHED, (seed, point)
                assert (job.error, sub.result().error, saved.error) == (None, None, None)
                if order.index(("CancelJob", "c")) < order.index(("JobEnded", "c")):
                    late += 1  # its runner had left it; its report was on its way
            else:
                assert (answer, job.state) == (CancelOutcome.CANCELLED, JobState.CANCELLED)
    assert late  # the seeds met the race
