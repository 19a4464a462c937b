"""A worker keeps nothing of a case once it is over, however the case ended.

A worker runs for months: an entry left in any per-job or per-case structure for each
case that ended, was cancelled, or whose runner died is memory it never gets back.
Many cases go through each path here, and every such structure is empty once the
engine is quiet (``leftovers``). The paths of a case lost to another worker are in
``tests/stores/test_claimed_back_stale_copy.py``.
"""

from __future__ import annotations

import threading
from typing import Any

from bounds import TIMEOUT, wait_until
from leftovers import HeldFlows, leftovers, wait_for_nothing_kept

from actors import (
    CancelOutcome,
    Discriminator,
    EventOutcome,
    JobState,
    Mediator,
    ParallelSplit,
    RequestReaction,
    Sequential,
    Synchronize,
    Wait,
    Workflow,
)
from actors._job import JobRecord
from actors.stores import MemoryStore

CASES = 20  # per path


class _DiesOnce(MemoryStore):
    """Raises (as a failing store would: the runner dies) on the first save at step "b"."""

    def __init__(self) -> None:
        super().__init__(copy_data=True)
        self.died: set[str] = set()

    def save(self, job: JobRecord) -> None:
        if job.step == "b" and job.case_id.startswith("dies") and job.id not in self.died:
            self.died.add(job.id)
            msg = "the process died between two steps"
            raise RuntimeError(msg)
        super().save(job)


def test_cases_that_end_fault_are_cancelled_or_lose_their_runner_leave_nothing_behind():
    asked: list[str] = []
    asked_all = threading.Event()
    entered: dict[str, threading.Event] = {}
    opened = threading.Event()

    def send(data: dict[str, Any], ctx: Any) -> None:
        asked.append(ctx.correlation_id)
        if len(asked) == 2 * CASES:
            asked_all.set()

    def hold(data: dict[str, Any], ctx: Any) -> None:
        if ctx.job_id.startswith("held"):
            entered[ctx.job_id].set()
            assert opened.wait(TIMEOUT), "the test never let the held steps go"
        if ctx.job_id.startswith("faults"):
            raise ValueError("this case faults")

    flows = [
        Workflow(
            "plain",
            [Sequential("a", hold, next="b"), Sequential("b", lambda data: None)],
            "a",
        ),
        Workflow("asks", [RequestReaction("ask", send=send)], "ask"),
    ]
    store = _DiesOnce()
    with Mediator(flows, runners=CASES + 2, store=store) as mediator:
        handles = []
        for i in range(CASES):
            entered[f"held{i}"] = threading.Event()
            for kind in ("done", "faults", "dies", "held"):
                handles.append(mediator.schedule("plain", {}, job_id=f"{kind}{i}"))
            for kind in ("replied", "cancelled"):
                handles.append(mediator.schedule("asks", {}, job_id=f"{kind}{i}"))
        assert asked_all.wait(TIMEOUT), "the requests were not all sent"
        for i in range(CASES):
            assert entered[f"held{i}"].wait(TIMEOUT), "a held step never started"
            assert mediator.cancel(f"held{i}") is CancelOutcome.CANCELLED  # as it runs
            assert mediator.cancel(f"cancelled{i}") is CancelOutcome.CANCELLED  # parked
            mediator.receive_event(f"replied{i}/ask", "yes")
        kept = leftovers(mediator)
        assert kept()["channel.running"] == CASES  # counted live: the held steps
        opened.set()
        ended = {handle.job_id: handle.result(timeout=TIMEOUT).state for handle in handles}
        assert set(store.died) == {f"dies{i}" for i in range(CASES)}
        assert ended["dies0"] is JobState.DONE and ended["held0"] is JobState.CANCELLED
        wait_for_nothing_kept(kept)


def test_a_case_cancelled_as_it_waits_to_run_again_after_its_runner_died_leaves_nothing():
    """Its runner died (counted against the job), and the job was cancelled before it ran.

    The count of deaths in a row went only with the job's next report, and a job
    cancelled while it waits for a runner reports nothing.
    """
    held = HeldFlows()
    first, second, in_reply = held.first, held.second, held.in_reply
    flows = held.flows()
    with Mediator(flows, runners=1, store=_DiesOnce()) as mediator:
        kept = leftovers(mediator)
        asking = mediator.schedule("asks", {}, job_id="asks")
        wait_until(lambda: "correlations" in kept(), "the request to park")
        dying = mediator.schedule("plain", {}, job_id="dies")
        wait_until(lambda: "channel.running" in kept(), "the step to start")
        # Ready before the death: the runner, started again, takes it first.
        assert mediator.receive_event("asks/ask", "yes") is EventOutcome.DELIVERED
        first.set()  # the step's save kills the runner
        assert in_reply.wait(TIMEOUT), "the reply never ran"
        assert mediator.cancel("dies") is CancelOutcome.CANCELLED  # waiting for a runner
        second.set()
        assert dying.result(timeout=TIMEOUT).state is JobState.CANCELLED
        assert asking.result(timeout=TIMEOUT).state is JobState.DONE
        wait_for_nothing_kept(kept)


def test_cases_that_split_join_time_out_or_are_cancelled_with_branches_leave_nothing_behind():
    flows = [
        Workflow(
            "joins",
            [
                ParallelSplit("s", branches=lambda d: range(3), each="t"),
                Sequential("t", lambda d: None, next="j"),
                Synchronize("j"),
            ],
            "s",
        ),
        Workflow(
            "first",
            [
                ParallelSplit("s", branches=["win", "lose"]),
                Sequential("win", lambda d: None, next="d"),
                RequestReaction("lose", send=lambda d, c: None, next="d"),  # cancelled by d
                Discriminator("d"),
            ],
            "s",
        ),
        Workflow(
            "times_out", [RequestReaction("ask", send=lambda d, c: None, timeout=0.01)], "ask"
        ),
        Workflow(
            "asks_twice",
            [
                ParallelSplit("s", branches=["a", "b"]),
                RequestReaction("a", send=lambda d, c: None, next="j"),
                Wait("b", duration=3600.0, next="j"),
                Synchronize("j"),
            ],
            "s",
        ),
    ]
    with Mediator(flows, runners=4) as mediator:
        kept = leftovers(mediator)
        handles = [
            mediator.schedule(name, {}, job_id=f"{name}{i}")
            for name in ("joins", "first", "times_out", "asks_twice")
            for i in range(CASES)
        ]
        ended = {h.job_id: h.result(timeout=TIMEOUT).state for h in handles[: 3 * CASES]}
        assert set(ended.values()) == {JobState.DONE, JobState.FAULTED}  # time-outs fault
        # Each parent waits for its branches: one parked on a reply, one on its timer.
        wait_until(lambda: kept().get("timers") == kept().get("correlations") == CASES)
        for i in range(CASES):
            assert mediator.cancel(f"asks_twice{i}") is CancelOutcome.CANCELLED
        for handle in handles[3 * CASES :]:
            assert handle.result(timeout=TIMEOUT).state is JobState.CANCELLED
        wait_for_nothing_kept(kept)
