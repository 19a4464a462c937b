"""A user's bug that only a slow step shows: time passes while a branch's one step runs.

A task takes time, and timers ring meanwhile. The harness lets virtual time pass while a
runner is about to run a step, the first of its delivery included: so a branch whose
only step is slow (a call to a service) lets a sibling's timer ring before that step's
effect lands. Each test is a bug a user writes; the harness must find it.
"""

from __future__ import annotations

from typing import Any

import pytest

from actors import (
    Discriminator,
    ExclusiveChoice,
    JobState,
    ParallelSplit,
    Sequential,
    Synchronize,
    Wait,
    Workflow,
)
from actors.testing import Harness, InvariantViolation, explore

# -- A polling loop whose exit depends on a sibling's one slow step -----------------------


def _polling_flow(status: dict[str, bool]) -> Workflow:
    """Branch ``poll`` looks for ``status["ready"]`` twice, a second apart, then gives up.

    Branch ``prepare`` sets it in its only step. The user's bug: the poll reads a flag
    the other branch writes (not the case's data), and gives up on a clock that keeps
    running while ``prepare`` works.
    """

    def prepare(data: dict[str, Any]) -> None:
        status["ready"] = True  # at the end of a call that takes a while

    def count_round(data: dict[str, Any]) -> None:
        data["rounds"] = data.get("rounds", 0) + 1

    return Workflow(
        "poll",
        [
            ParallelSplit("split", branches=["round", "prepare"]),
            Sequential("round", count_round, next="ready?"),
            ExclusiveChoice(
                "ready?", spec=lambda d: status.get("ready", False), if_true="use", if_false="more?"
            ),
            ExclusiveChoice(
                "more?", spec=lambda d: d["rounds"] < 2, if_true="pause", if_false="give_up"
            ),
            Wait("pause", duration=1, next="round"),
            Sequential("use", lambda d: {**d, "used": True}, next="join"),
            Sequential("give_up", lambda d: {**d, "gave_up": True}, next="join"),
            Sequential("prepare", prepare, next="join"),
            Synchronize("join", merge=lambda parent, branches: branches[0]),
        ],
        "split",
    )


def test_a_poll_that_gives_up_while_a_sibling_s_only_step_runs_is_found() -> None:
    status: dict[str, bool] = {}

    def scenario(h: Harness) -> None:
        status.clear()
        h.schedule("poll", {})
        (job,) = h.finish()
        if job.data.get("gave_up"):
            h.fail(f"gave up after {job.data['rounds']} rounds")

    with pytest.raises(InvariantViolation) as found:
        explore(scenario, runs=300, workflows=[_polling_flow(status)], runners=2)
    report = str(found.value)
    assert report.startswith("gave up after 2 rounds")
    # The trace shows the runner about to run 'prepare' while the clock jumps past the
    # poll's second and the poll gives up, then 'prepare' going on.
    lines = [line.split(None, 1)[1] for line in report.splitlines() if line[:6].strip().isdigit()]
    paused = next(
        i for i, line in enumerate(lines) if "pause" in line and "before 'prepare'" in line
    )
    jumped = next(i for i, line in enumerate(lines) if line.startswith("clock") and "jump" in line)
    gave_up = next(i for i, line in enumerate(lines) if "'give_up'" in line)
    went_on = next(i for i, line in enumerate(lines) if "go on" in line and "'prepare'" in line)
    assert paused < jumped < gave_up < went_on, lines


def test_the_same_poll_waiting_on_the_case_s_own_data_passes() -> None:
    # The fix: the poll waits for the sibling at a join, instead of reading its flag.
    flow = Workflow(
        "poll_fixed",
        [
            ParallelSplit("split", branches=["prepare", "other"]),
            Sequential("prepare", lambda d: {**d, "ready": True}, next="join"),
            Sequential("other", lambda d: d, next="join"),
            Synchronize("join", merge=lambda parent, branches: branches[0], next="use"),
            ExclusiveChoice("use", spec=lambda d: d["ready"], if_true="used", if_false="gave_up"),
            Sequential("used", lambda d: {**d, "used": True}),
            Sequential("gave_up", lambda d: {**d, "gave_up": True}),
        ],
        "split",
    )

    def scenario(h: Harness) -> None:
        h.schedule("poll_fixed", {})
        (job,) = h.finish()
        assert job.data.get("used"), job.data

    explore(scenario, runs=300, workflows=[flow], runners=2)


# -- A Discriminator's losing branch whose only step is its effect ------------------------


def test_a_losing_branch_s_only_step_can_run_after_the_winner_went_on() -> None:
    log: list[str] = []

    def reserve(name: str) -> Any:
        def task(data: dict[str, Any]) -> None:
            log.append(f"reserve {name}")  # the supplier's quote and reservation, one call

        return task

    flow = Workflow(
        "quote",
        [
            ParallelSplit("split", branches=["a", "b"]),
            Sequential("a", reserve("a"), next="first"),
            Sequential("b", reserve("b"), next="first"),
            Discriminator("first", next="book"),
            Sequential("book", lambda d: log.append("book")),
        ],
        "split",
    )
    found = None
    for seed in range(300):
        log.clear()
        with Harness([flow], seed=seed, runners=2) as h:
            h.schedule("quote", {})
            (job,) = h.finish()
        assert job.state is JobState.DONE
        if log[-1] != "book":
            found = list(log), h
            break
    assert found is not None, "no schedule let the losing branch reserve after the booking"
    late, h = found
    assert late[1:] == ["book", late[-1]] and late[-1] != late[0], late
    went_on = [e.detail for e in h.trace if e.action == "go on" and "check was past" in e.detail]
    assert went_on == [f"runs {late[-1][-1]!r}: its stop came once its check was past"]
