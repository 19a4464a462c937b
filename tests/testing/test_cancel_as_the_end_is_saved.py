"""Under the harness: a cancel handled as a runner saves its job's end waits for its report.

The harness runs the Scheduler inside the runner's save of the job's ``DONE`` record
(after the runner's last look for a stop), as another thread would with
``commit="step"``. The cancel's answer comes with the runner's report, deterministically,
and agrees with the job's end; one whose Mediator shuts down first is told so.
"""

from __future__ import annotations

from typing import Any

import pytest

from actors import EngineStoppedError, JobState, Sequential, Workflow
from actors._outcomes import CancelOutcome
from actors.testing import Harness

FLOW = Workflow("one", [Sequential("last", lambda d: None)], "last")


def _cancel_in_the_save(h: Harness, then: Any = None) -> list[Any]:
    """Have ``h`` cancel job "c" as its DONE record is saved; the cancel's futures."""
    store = h.mediator._engine.store
    real_save, real_mark = store.save, store.mark_cancel
    answers: list[Any] = []
    marked: list[str] = []

    def save(job: Any) -> None:
        if job.state is JobState.DONE and not answers:
            answers.append(h.cancel("c"))
            h.runtime.drive_until(lambda: bool(marked), None, what="the cancel taken up")
            assert not answers[0].resolved  # it waits for the runner's report
            if then is not None:
                then()
        real_save(job)

    def mark_cancel(job_id: str, why: str) -> None:
        marked.append(job_id)
        real_mark(job_id, why)

    store.save, store.mark_cancel = save, mark_cancel
    return answers


@pytest.mark.parametrize("seed", range(3))
def test_a_cancel_as_the_end_is_saved_is_answered_with_the_report(seed: int) -> None:
    with Harness([FLOW], seed=seed) as h:
        answers = _cancel_in_the_save(h)
        sub = h.schedule("one", {}, job_id="c")
        h.finish()
        job = sub.result()
        assert job.state is JobState.DONE
        assert answers[0].get() is CancelOutcome.ALREADY_FINISHED
        order = [(e.action, e.job) for e in h.trace if e.actor == "scheduler"]
        assert order.index(("CancelJob", "c")) < order.index(("JobEnded", "c"))


def test_a_cancel_still_waiting_as_the_mediator_stops_is_told_so() -> None:
    with Harness([FLOW], seed=0) as h:
        answers = _cancel_in_the_save(h, then=h.mediator.scheduler.stop)
        h.schedule("one", {}, job_id="c")
        with pytest.raises(EngineStoppedError, match="before the case ended"):
            h.finish()
        with pytest.raises(EngineStoppedError, match="cancel's outcome is not known"):
            answers[0].get()
