"""A cancel that comes once a job's runner has left it, before its report, answers what happened.

A runner leaves a job (``WorkChannel.done``) before it reports on it; with group commit
it hands the slice to the store's writer thread first, which tells the Scheduler once
the slice is stored. A cancel in between was answered ``CANCELLED`` for a job whose
slice had ended it: it then ended ``DONE`` (or ``FAULTED``). Such a cancel comes too
late and says so (``ALREADY_FINISHED``); one of a job whose slice parked it is carried
out when the report comes, and its answer is ``CANCELLED``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from bounds import TIMEOUT

from actors import (
    CancelOutcome,
    JobState,
    Mediator,
    ParallelSplit,
    Sequential,
    Synchronize,
    Wait,
    Workflow,
)
from actors.admin import Admin


def _fail(data: Any) -> None:
    raise ValueError("the last step failed (test)")


def _noop(data: Any) -> None:
    return None


# What the slice held in the window does: (its steps from "last" on, the answer, the end).
_ENDS: dict[str, tuple[list[Any], CancelOutcome, JobState]] = {
    "done": ([Sequential("last", _noop)], CancelOutcome.ALREADY_FINISHED, JobState.DONE),
    "faulted": ([Sequential("last", _fail)], CancelOutcome.ALREADY_FINISHED, JobState.FAULTED),
    "parked": (
        [Wait("last", duration=3600.0, next="end"), Sequential("end", _noop)],
        CancelOutcome.CANCELLED,
        JobState.CANCELLED,
    ),
    "split": (
        [
            ParallelSplit("last", branches=["b1", "b2"]),
            Sequential("b1", _noop, next="join"),
            Sequential("b2", _noop, next="join"),
            Synchronize("join", next="end"),
            Sequential("end", _noop),
        ],
        CancelOutcome.CANCELLED,
        JobState.CANCELLED,
    ),
}

# Where the job is stored: each store kind, saving every step or a slice at a time
# (SQLite's group commit on the writer thread's connection and in a writer process).
_STORES = [
    ("memory", "step"),
    ("sqlite", "step"),
    ("sqlite", "group"),
    ("sqlite-process", "group"),
    pytest.param("postgres", "step", marks=pytest.mark.postgres),
    pytest.param("postgres", "group", marks=pytest.mark.postgres),
]


def _cancel_in_the_window(
    store: Any, slice_: str, end: str, cancel: Callable[[Mediator], Any]
) -> tuple[Any, Any]:
    """``cancel(mediator)`` of c1 once its runner left the slice ending ``end``: its answer, c1.

    ``slice_`` "later": the job parks first, so that the slice held is one the Scheduler
    handed out (its record held in the case tree), not the one started from the gate.
    """
    steps = list(_ENDS[end][0])
    start = "last"
    if slice_ == "later":
        steps.append(Wait("nap", duration=0.0, next="last"))
        start = "nap"
    flow = Workflow("flow", steps=steps, start=start)
    window, asked = threading.Event(), threading.Event()
    with Mediator([flow], runners=1, store=store) as mediator:
        channel = mediator._engine.channel
        real_done = channel.done

        def done(job: Any, runner: int) -> None:
            real_done(job, runner)  # also from ``handed_over``, before the writer has it
            # The slice that ran step "last" (not the nap's), the first time it is left.
            if job.id == "c1" and job.step == "last" and not window.is_set():
                window.set()  # the runner left the job; its report is not told yet
                assert asked.wait(TIMEOUT), "the cancel never came"

        channel.done = done
        # The cancel is handled once it is answered or, for a slice that ended the job
        # and waits for the store's writer, once its mark is asked for (its answer then
        # comes with the writer's report, which waits for the runner held here).
        handled = threading.Event()
        real_mark = store.mark_cancel

        def mark_cancel(job_id: str, why: str) -> None:
            handled.set()
            real_mark(job_id, why)

        store.mark_cancel = mark_cancel
        answers: list[Any] = []

        def ask() -> None:
            try:
                answers.append(cancel(mediator))
            finally:
                handled.set()

        handle = mediator.schedule("flow", {}, job_id="c1")
        assert window.wait(TIMEOUT), "c1's slice never ended"
        asking = threading.Thread(target=ask)
        asking.start()
        try:
            assert handled.wait(TIMEOUT), "the cancel was never handled"
        finally:
            asked.set()
            asking.join(TIMEOUT)
        assert answers, "the cancel was never answered"
        return answers[0], handle.result(TIMEOUT)


@pytest.mark.parametrize("end", sorted(_ENDS))
@pytest.mark.parametrize("slice_", ["first", "later"])
@pytest.mark.parametrize(("make_store", "commit"), _STORES, indirect=["make_store"])
def test_a_cancel_between_the_runner_leaving_and_its_report(make_store, commit, slice_, end):
    store = make_store() if make_store.kind == "memory" else make_store(commit=commit)
    outcome, job = _cancel_in_the_window(store, slice_, end, lambda m: m.cancel("c1"))
    assert (outcome, job.state) == _ENDS[end][1:], (job, job.error)


@pytest.mark.parametrize("end", ["done", "parked"])
@pytest.mark.parametrize("slice_", ["first", "later"])
@pytest.mark.parametrize("make_store", ["sqlite", "sqlite-process"], indirect=True)
def test_an_operators_cancel_in_the_window_says_the_same(make_store, slice_, end):
    # ``Admin.cancel`` (``actors jobs cancel``) through the worker: the same answer.
    def cancel(mediator: Mediator) -> str:
        with Admin(store, mediator=mediator, operator="ops") as admin:
            return admin.cancel("c1").outcome

    store = make_store(commit="group")
    outcome, job = _cancel_in_the_window(store, slice_, end, cancel)
    answer, state = _ENDS[end][1:]
    assert (outcome, job.state) == (answer.value, state), (job, job.error)
