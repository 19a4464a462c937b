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

import pykka
from bounds import TIMEOUT, wait_until

from actors import JobState, Mediator, ParallelSplit, Sequential, Wait, Workflow
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


def _told(handle: Any) -> bool:
    """Whether the handle's future holds the case's end already (it never waits here)."""
    try:
        handle._future.get(timeout=0)
    except pykka.Timeout:
        return False
    return True


class WatchedCommit(MemoryStore):
    """Notes, as the Scheduler stores a cancel's saves, whether the case's handle was told."""

    def __init__(self) -> None:
        super().__init__()
        self.handle: Any = None
        self.told_before_stored: list[bool] = []
        self._root_saved_on: int | None = None

    def save(self, job: Any) -> None:
        super().save(job)
        if job.parent_id is None and job.state is JobState.CANCELLED:
            self._root_saved_on = threading.get_ident()

    def end_slice(self, then: Any = None) -> None:
        if self._root_saved_on == threading.get_ident():  # the cancel's saves, stored now
            self._root_saved_on = None
            self.told_before_stored.append(_told(self.handle))
        super().end_slice(then)


def test_a_cancelled_case_is_told_to_its_handle_once_its_saves_are_stored() -> None:
    """The handle resolved before the cancel's grouped saves were committed."""
    flow = Workflow(
        "parked",
        [
            ParallelSplit("split", branches=lambda d: d["items"], each="nap"),
            Wait("nap", duration=3600, next="done"),
            Sequential("done", lambda d: None),
        ],
        start="split",
    )
    store = WatchedCommit()
    with Mediator([flow], runners=2, store=store) as mediator:
        handle = mediator.schedule("parked", {"items": [{"i": i} for i in range(20)]})
        store.handle = handle
        wait_until(lambda: store.counts()[JobState.WAITING] == 21, "every branch to park")
        mediator.cancel(handle.job_id)
        assert handle.result(timeout=TIMEOUT).state is JobState.CANCELLED
    assert store.told_before_stored == [False]
