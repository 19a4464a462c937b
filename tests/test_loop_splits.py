"""A loop through a split: without a join each turn nests one level deeper, and stays."""

from __future__ import annotations

from typing import Any

import pytest
from bounds import TIMEOUT

from actors import (
    ExclusiveChoice,
    JobState,
    Mediator,
    ParallelSplit,
    Sequential,
    Spec,
    Synchronize,
    Wait,
    Workflow,
)
from actors.testing import VirtualClock

TURNS = 5


def ticker(joined: bool) -> Workflow:
    """Each turn notifies and naps; the nap goes round the loop, joined with the notice or not."""
    nap_next, notify_next = ("join", "join") if joined else ("tick", None)
    steps = [
        Sequential("tick", lambda d: d.update(turn=d.get("turn", 0) + 1), next="more"),
        ExclusiveChoice("more", Spec(lambda d: d["turn"] <= TURNS, "more"), "split", "done"),
        ParallelSplit("split", branches=["nap", "notify"]),
        Wait("nap", duration=60, next=nap_next),
        Sequential("notify", lambda d: None, next=notify_next),
        Sequential("done", lambda d: None),
    ]
    if joined:
        steps.append(Synchronize("join", next="tick"))
    return Workflow("ticker", steps, start="tick")


def waiting_by_turn(flow: Workflow, clock: VirtualClock) -> tuple[list[int], Any]:
    waiting = []
    with Mediator([flow], clock=clock) as mediator:
        handle = mediator.schedule("ticker", {})
        for _ in range(TURNS):
            clock.wait_for_alarm(timeout=TIMEOUT, at_least=clock.now() + 60)  # turn's nap
            waiting.append(mediator.stats().waiting)
            clock.advance(60)
        job = handle.result(timeout=TIMEOUT)
    return waiting, job


@pytest.mark.parametrize("joined", [False, True])
def test_a_split_in_a_loop_without_a_join_keeps_a_waiting_parent_per_turn(
    joined: bool, clock: VirtualClock
) -> None:
    waiting, job = waiting_by_turn(ticker(joined), clock)
    assert job.state is JobState.DONE
    if joined:  # the nap and the job at its join: the same two every turn
        assert waiting == [2] * TURNS
    else:  # the nap, and the parent of every turn so far, waiting for its branches
        assert waiting == [2, 3, 4, 5, 6]
