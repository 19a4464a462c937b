"""The trace lists the steps a runner's delivery ran, and no step it did not run.

A runner paused between two steps, whose job was cancelled meanwhile (a Discriminator's
losing branch), stopped before the next step, yet its ``RunJob`` entry listed that step
as run, and the job's ``JobEnded`` did not say it was cancelled: a reader checking
whether a loser's step had its effect read that it ran. A crash before a step listed
that step too. An event's delivery did not say what became of the event, so a case
left waiting for an event the test had sent (too early: no job waited on it yet) showed
the event delivered.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import pytest

from actors import (
    DeferredChoice,
    Discriminator,
    EventOutcome,
    JobState,
    ParallelSplit,
    RequestReaction,
    Sequential,
    StepContext,
    Workflow,
)
from actors.testing import Crash, Deadlock, FaultPlan, Harness, TraceEntry

RAN: dict[str, list[str]] = defaultdict(list)  # job id -> the steps whose task ran


def task(data: Any, ctx: StepContext) -> None:
    RAN[ctx.job_id].append(ctx.step)


FIRST = Workflow("first", start="split", steps=[
    ParallelSplit("split", branches=["a1", "b1"]),
    *(Sequential(f"{b}{n}", task, next=f"{b}{n + 1}" if n < 3 else "win")
      for b in "ab" for n in (1, 2, 3)),
    Discriminator("win", next="after"),
    Sequential("after", task),
])  # fmt: skip


def listed(trace: list[TraceEntry]) -> dict[str, list[str]]:
    """The task steps each job's RunJob entries say they ran, in order."""
    steps: dict[str, list[str]] = defaultdict(list)
    for entry in trace:
        if entry.action == "RunJob" and entry.job is not None and "; ran " in entry.detail:
            names = re.findall(r"'([^']+)'", entry.detail.split("; ran ", 1)[1])
            steps[entry.job] += [n for n in names if n not in ("split", "win")]
    return steps


def test_a_cancelled_losers_next_step_is_not_listed_as_run() -> None:
    stopped = 0
    for seed in range(60):
        RAN.clear()
        with Harness([FIRST], seed=seed, runners=3) as h:
            h.schedule("first", {})
            (job,) = h.finish()
        assert job.state is JobState.DONE
        assert listed(h.trace) == RAN, (seed, "\n".join(map(str, h.trace)))
        stops = [e for e in h.trace if e.action == "go on" and "stops before" in e.detail]
        for stop in stops:
            ended = next(e for e in h.trace if e.action == "JobEnded" and e.job == stop.job)
            assert ended.detail.startswith("cancelled at "), ended
        stopped += len(stops)
    assert stopped  # some seeds stop a loser between two of its steps


def test_a_step_a_crash_came_before_is_not_listed_as_run() -> None:
    RAN.clear()
    flow = Workflow("two", start="x", steps=[
        Sequential("x", task, next="y"),
        Sequential("y", task),
    ])  # fmt: skip
    with Harness([flow], seed=1, faults=FaultPlan(crashes=(Crash(2),))) as h:
        h.schedule("two", {})
        h.finish()
    assert listed(h.trace) == RAN == {"j1": ["x", "y"]}, "\n".join(map(str, h.trace))


def test_an_events_delivery_says_what_became_of_it() -> None:
    flow = Workflow("pay", start="which", steps=[
        DeferredChoice("which", events={"paid": "ship"}),
        Sequential("ship", task),
    ])  # fmt: skip
    with Harness([flow], seed=2) as h:
        h.schedule("pay", {}, job_id="o7")
        early = h.receive_event("o7/which/paid")  # before the job waits at the choice
        with pytest.raises(Deadlock, match=r"DeliverEvent +o7 +o7/which/paid -> unknown"):
            h.finish()
    assert early is not None
    assert early.get() is EventOutcome.UNKNOWN
    with Harness([flow], seed=2) as h:
        sub = h.schedule("pay", {}, job_id="o8")
        h.run_until_quiescent(advance_time=False)
        h.receive_event("o8/which/paid")
        h.receive_event("o8/which/paid")
        h.finish()
    assert sub.result().state is JobState.DONE
    said = [e.detail for e in h.trace if e.action == "DeliverEvent"]
    assert said == ["o8/which/paid -> delivered", "o8/which/paid -> duplicate"], said


def test_a_stalled_step_is_listed_where_its_task_runs() -> None:
    RAN.clear()
    flow = Workflow("one", start="x", steps=[Sequential("x", task)])
    with Harness([flow], seed=0, faults=FaultPlan(crashes=(Crash(1, point="stalled"),))) as h:
        h.schedule("one", {})
        h.finish()
    lines = "\n".join(map(str, h.trace))
    assert RAN == {"j1": ["x", "x"]}, lines  # the late run, and the new owner's
    assert listed(h.trace) == {"j1": ["x"]}, lines  # the new owner's RunJob
    assert "wakes         j1     runs 'x' late" in lines, lines


ANSWERED = Workflow("answered", start="ask", steps=[
    RequestReaction("ask", send=lambda d, ctx: None, next="which", timeout=10,
                    on_timeout="which", on_fault=lambda d, e: None, fault_next="which"),
    DeferredChoice("which", events={"paid": "end"}, timeout=10, on_timeout="end",
                   on_fault=lambda d, n, e: None, fault_next="end"),
    Sequential("end", task),
])  # fmt: skip


@pytest.mark.parametrize(
    ("answers", "said"),
    [
        ([("c1/ask", False), ("c1/which/paid", False)],
         ["'ask' (reply)", "'which' (event 'paid')"]),
        ([("c1/ask", True), ("c1/which/paid", True)],
         ["'ask' (fault reply)", "'which' (fault event 'paid')"]),
        ([], ["'ask' (timeout)", "'which' (timeout)"]),
    ],
)  # fmt: skip
def test_a_wait_resumed_says_what_it_applied(answers: list[Any], said: list[str]) -> None:
    # Its handler (on_reply, on_event, on_fault) is the user's code that ran then.
    with Harness([ANSWERED], seed=0) as h:
        h.schedule("answered", {}, job_id="c1")
        for correlation_id, fault in answers:
            h.run_until_quiescent(advance_time=False)
            h.receive_event(correlation_id, {}, fault=fault)
        (job,) = h.finish()
    assert job.state is JobState.DONE, job.error
    ran = [e.detail.split("; ran ", 1)[1] for e in h.trace if e.action == "RunJob"]
    annotated = [step for steps in ran for step in steps.split(", ") if "(" in step]
    assert annotated == said, "\n".join(map(str, h.trace))
