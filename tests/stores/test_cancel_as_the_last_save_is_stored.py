"""A cancel that comes after a runner's last look for a stop answers how the job ended.

Once a job's last step has returned (or a branch is at its join), its runner looks for
a stop one last time, then saves the slice's end and leaves the job. A cancel in
between (with ``commit="step"`` that includes the save) was answered ``CANCELLED``
while the job ended ``DONE`` (or ``FAULTED``). The answer now waits for the runner's
report: here the save of the job's end is held until the Scheduler has taken the cancel
up.
"""

from __future__ import annotations

import threading
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
    Workflow,
)
from actors.admin import Admin


def _noop(data: Any) -> None:
    return None


def _fail(data: Any) -> None:
    raise ValueError("the last step failed (test)")


_FLOWS = {
    # The job's own end: the save of its DONE (FAULTED) record is held.
    "done": Workflow("flow", steps=[Sequential("last", _noop)], start="last"),
    "faulted": Workflow("flow", steps=[Sequential("last", _fail)], start="last"),
    # A branch at its join: the save of the first arrival (DONE) is held.
    "arrived": Workflow(
        "flow",
        steps=[
            ParallelSplit("split", branches=["b1", "b2"]),
            Sequential("b1", _noop, next="join"),
            Sequential("b2", _noop, next="join"),
            Synchronize("join", next="end"),
            Sequential("end", _noop),
        ],
        start="split",
    ),
}


def _cancel_as_the_end_is_saved(
    store: Any, flow: str, by: str, *, die: bool = False
) -> tuple[Any, Any, str]:
    """Cancel the job whose end's save is held; its answer, its case's end, the job's state.

    ``die``: the runner dies in that save instead (nothing of it is stored).
    """
    held, marked = threading.Event(), threading.Event()
    real_save, real_mark = store.save, store.mark_cancel
    target: list[str] = []

    def save(job: Any) -> None:
        if job.state in (JobState.DONE, JobState.FAULTED) and not held.is_set():
            target.append(job.id)
            held.set()  # the runner looked for a stop a last time, and saves the end
            assert marked.wait(TIMEOUT), "the cancel was never taken up"
            if die:
                raise RuntimeError("the runner dies saving the job's end (test)")
        real_save(job)

    def mark_cancel(job_id: str, why: str) -> None:
        real_mark(job_id, why)
        marked.set()  # the Scheduler has taken the cancel up (it told the runner)

    store.save, store.mark_cancel = save, mark_cancel
    answers: list[Any] = []
    with Mediator([_FLOWS[flow]], runners=1, store=store) as mediator:
        handle = mediator.schedule("flow", {}, job_id="c1")
        assert held.wait(TIMEOUT), "the job's end was never saved"

        def cancel() -> None:
            if by == "mediator":
                answers.append(mediator.cancel(target[0]))
                return
            # An operator's, through this Mediator, or left in the store for its worker.
            with Admin(store, mediator=mediator if by == "admin" else None, operator="ops") as a:
                answers.append(CancelOutcome(a.cancel(target[0]).outcome))

        asker = threading.Thread(target=cancel)
        asker.start()
        try:
            assert marked.wait(TIMEOUT), "the cancel never reached the Scheduler"
        finally:
            marked.set()
        asker.join(TIMEOUT)
        assert not asker.is_alive(), "the cancel was never answered"
        case = handle.result(TIMEOUT)
        return answers[0], case, mediator.get_job(target[0]).state


@pytest.mark.parametrize("by", ["mediator", "admin"])
@pytest.mark.parametrize("flow", sorted(_FLOWS))
@pytest.mark.parametrize("make_store", ["memory", "sqlite"], indirect=True)
def test_a_cancel_as_the_end_is_saved_is_answered_as_the_job_ended(make_store, flow, by):
    store = make_store() if make_store.kind == "memory" else make_store(commit="step")
    outcome, case, state = _cancel_as_the_end_is_saved(store, flow, by)
    end = JobState.FAULTED if flow == "faulted" else JobState.DONE
    assert state is end
    assert case.state is end, (case, case.error)
    assert outcome is CancelOutcome.ALREADY_FINISHED


@pytest.mark.parametrize("flow", sorted(_FLOWS))
@pytest.mark.parametrize("make_store", ["sqlite"], indirect=True)
def test_an_operators_request_its_worker_takes_as_the_end_is_saved(make_store, flow):
    # ``actors jobs cancel`` with no Mediator: the worker serves the request at its poll
    # and finishes it once its runner has reported.
    store = make_store(commit="step")
    outcome, case, _ = _cancel_as_the_end_is_saved(store, flow, "worker")
    end = JobState.FAULTED if flow == "faulted" else JobState.DONE
    assert (outcome, case.state) == (CancelOutcome.ALREADY_FINISHED, end)


@pytest.mark.parametrize("make_store", ["memory", "sqlite"], indirect=True)
def test_a_cancel_whose_runner_dies_in_that_save_is_answered_as_the_resumed_job_ends(
    make_store,
):
    # The job resumes from its last save, before its last step; the cancel's mark ends it.
    store = make_store() if make_store.kind == "memory" else make_store(commit="step")
    outcome, case, state = _cancel_as_the_end_is_saved(store, "done", "mediator", die=True)
    assert (outcome, case.state, state) == (CancelOutcome.CANCELLED,) + (JobState.CANCELLED,) * 2
