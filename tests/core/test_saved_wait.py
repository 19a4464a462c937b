"""Which saved jobs still fit their step when its kind changed under the same version.

Every saved state a job can be resumed in, against every step kind it could meet at its
step: the pairs a workflow could have saved (or whose step still takes what the job
holds) resume; the others fault on resume, with a reason naming the step, the saved
wait and the step's kind now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from records import record

from actors import (
    DeferredChoice,
    Discriminator,
    ExclusiveChoice,
    JobState,
    ParallelSplit,
    RequestReaction,
    Retry,
    Sequential,
    SimpleMerge,
    Synchronize,
    Wait,
)
from actors._saved_wait import saved_wait_problem


def noop(data: Any, *rest: Any) -> None:
    return None


KINDS: dict[str, Any] = {
    "sequential": Sequential("x", noop),
    "retrying": Sequential("x", noop, retry=Retry(attempts=3, backoff=1.0)),
    "choice": ExclusiveChoice("x", spec=noop, if_true="y", if_false="y"),
    "split": ParallelSplit("x", branches=["y", "y2"]),
    "sync": Synchronize("x"),
    "first": Discriminator("x"),
    "merge": SimpleMerge("x"),
    "wait": Wait("x", duration=1, next="y"),
    "request": RequestReaction("x", send=noop),
    "timed request": RequestReaction("x", send=noop, timeout=5.0),
    "choice of events": DeferredChoice("x", events={"go": "y"}),
    "timed choice of events": DeferredChoice("x", events={"go": "y"}, timeout=5.0),
}
TIMED = {"sequential", "retrying", "wait", "timed request", "timed choice of events"}
REQUESTS = {"request", "timed request"}
CHOICES = {"choice of events", "timed choice of events"}
EVERY = set(KINDS)
# Steps that run on past a reply or event they do not take, resumed or not.
IGNORE = {"sequential", "retrying", "choice", "split", "merge", "wait"}

WAITING = JobState.WAITING
SAVED: dict[str, tuple[dict[str, Any], set[str]]] = {
    # saved as: (record fields, the kinds it fits)
    "ready": ({}, EVERY),
    "running": ({"state": JobState.RUNNING}, EVERY),
    "ended": ({"state": JobState.FAULTED, "error": "x"}, EVERY),
    "on its branches": ({"state": WAITING, "split_total": 2}, {"split"}),
    "on a timer": ({"state": WAITING, "due": 5.0}, TIMED),
    "on an event": ({"state": WAITING}, REQUESTS | CHOICES),
    "its timer rang": ({"event": ("timer", "", None)}, TIMED),
    "a reply": ({"event": ("reply", "", 1)}, REQUESTS | IGNORE),
    "a fault reply": ({"event": ("fault", "", 1)}, REQUESTS | IGNORE),
    "event go": ({"event": ("reply", "go", 1)}, CHOICES | IGNORE),
    "event stop": ({"event": ("reply", "stop", 1)}, IGNORE),
    "a fault of event stop": ({"event": ("fault", "stop", 1)}, CHOICES | IGNORE),
    "its join": ({"event": ("join", "x", None)}, {"sync", "first"}),
}


@dataclass
class Flow:
    """What the check reads of a workflow."""

    steps: dict[str, Any]
    name: str = "w"
    version: int = 1


@pytest.mark.parametrize("saved", SAVED)
@pytest.mark.parametrize("kind", KINDS)
def test_a_saved_job_resumes_only_at_a_step_that_takes_what_it_was_saved_with(
    saved: str, kind: str
) -> None:
    fields, fits = SAVED[saved]
    job = record("j", step="x", **fields)
    problem = saved_wait_problem(job, Flow({"x": KINDS[kind]}))  # type: ignore[arg-type]
    if kind in fits:
        assert problem is None, problem
    elif saved == "event stop" and kind in CHOICES:  # the same kind, lacking the event
        assert problem is not None
        assert "has no event 'stop': it was sent by hand" in problem
    else:
        assert problem is not None
        assert "at step 'x', but step 'x' of workflow 'w' v1 is now " in problem
        assert "change a step's kind in a new workflow version (version=2)" in problem


def test_an_event_a_choice_lacks_is_not_blamed_on_a_change_of_the_step_s_kind() -> None:
    # Sent by hand to a case no live worker held, unchecked (a typo, or a name of the
    # workflow's next version): the step is still a DeferredChoice, and a retry helps.
    job = record("j", step="x", event=("reply", "accept", None))
    problem = saved_wait_problem(job, Flow({"x": KINDS["choice of events"]}, "dc"))  # type: ignore[arg-type]
    assert problem == (
        "saved released by event 'accept' at step 'x', but step 'x' of workflow 'dc' v1 "
        "(a DeferredChoice with no timeout) has no event 'accept': it was sent by hand "
        "without the workflow to check it, or the step's events were renamed within v1; "
        "actors jobs retry sets the job waiting there again (rename events in a new "
        "workflow version, version=2)"
    )


def test_the_reason_says_what_the_job_waited_on_and_what_the_step_lacks() -> None:
    job = record("j", step="x", state=WAITING)
    problem = saved_wait_problem(job, Flow({"x": KINDS["wait"]}, "ord"))  # type: ignore[arg-type]
    assert problem == (
        "saved waiting on an event at step 'x', but step 'x' of workflow 'ord' v1 is now "
        "a Wait, which waits on no event; change a step's kind in a new workflow version "
        "(version=2) and keep serving v1 until its cases end (if step 'x' was a Wait when the "
        "job was saved, its row's due time was emptied by hand: 'actors jobs retry j' runs "
        "the step again)"
    )
    timed = record("j", step="x", state=WAITING, due=5.0)
    problem = saved_wait_problem(timed, Flow({"x": KINDS["request"]}))  # type: ignore[arg-type]
    assert problem is not None
    assert "saved waiting on a timer at step 'x'" in problem
    assert "is now a RequestReaction with no timeout, which has no timer" in problem


def test_branches_that_met_at_a_step_that_is_no_join_now_fault_their_parent() -> None:
    parent = record("p", step="x", state=WAITING, split_total=2, join_step="j")
    steps = {"x": KINDS["split"], "j": Sequential("j", noop)}
    problem = saved_wait_problem(parent, Flow(steps))  # type: ignore[arg-type]
    assert problem is not None
    assert problem.startswith(
        "saved waiting on its branches at step 'x', but step 'j', where its branches met, "
        "of workflow 'w' v1 is now a Sequential, which is no join"
    )
    steps["j"] = Discriminator("j")
    assert saved_wait_problem(parent, Flow(steps)) is None  # type: ignore[arg-type]
