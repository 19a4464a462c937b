"""Cancelling a wide split takes its ready branches from the runners before it saves any.

The Scheduler ended each ready branch in turn, saving it, and runners went on taking the
branches not yet withdrawn: cancelling a split of 20,000 with 15,000 left to run, 10,000
of them still ran to their end (13,690 on PostgreSQL, where each save was a commit of
its own and the cancel took 9 s). Now every ready branch leaves the work channel first,
and a durable store stores the cancel's saves together.
"""

from __future__ import annotations

import threading
from typing import Any

from bounds import TIMEOUT, wait_until

from actors import JobState, Mediator, ParallelSplit, Sequential, Workflow
from actors.stores import MemoryStore

WIDTH = 300


class SlowCancelSaves(MemoryStore):
    """Saving a cancelled job takes a while (a commit), and the first opens the gate."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__()
        self._gate = gate
        self._pause = threading.Event()  # never set: a bounded wait, as a commit takes

    def save(self, job: Any) -> None:
        if job.state is JobState.CANCELLED and job.parent_id is not None:
            self._gate.set()  # the cancel is being carried out: the runners may go on
            self._pause.wait(0.002)
        super().save(job)


def test_a_cancel_leaves_no_ready_branch_for_the_runners_to_take() -> None:
    gate = threading.Event()
    ran: list[int] = []

    def work(item: dict[str, int]) -> None:
        ran.append(item["i"])
        assert gate.wait(TIMEOUT), "the cancel never came"

    flow = Workflow(
        "wide",
        [
            ParallelSplit("split", branches=lambda d: d["items"], each="work"),
            Sequential("work", work),
        ],
        start="split",
    )
    with Mediator([flow], runners=2, store=SlowCancelSaves(gate)) as mediator:
        handle = mediator.schedule("wide", {"items": [{"i": i} for i in range(WIDTH)]})
        # Both runners hold a branch; the rest wait in the work channel.
        wait_until(lambda: len(ran) == 2, "both runners to start a branch")
        mediator.cancel(handle.job_id)
        case = handle.result(timeout=TIMEOUT)
    assert case.state is JobState.CANCELLED
    assert len(ran) == 2, f"{len(ran)} branches ran"
