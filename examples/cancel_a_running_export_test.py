"""A cancelled export starts at most one chunk once its cancel is answered, in any interleaving."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import CancelOutcome, JobState
from actors.testing import Harness
from cancel_a_running_export import CHUNKS, export_workflow, main


def test_the_export_stops_before_its_next_chunk() -> None:
    job, outcome, written = main()
    assert outcome is CancelOutcome.CANCELLED
    assert (job.state, job.step) == (JobState.CANCELLED, "chunk1")
    assert written == [0]
    assert job.data["written"] == [0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cancel_at=st.integers(0, 12), data=st.data())
def test_at_most_one_chunk_starts_after_the_cancel_is_answered(cancel_at: int, data: Any) -> None:
    answers: list[Any] = []
    late: list[int] = []  # chunks that started after the Scheduler answered the cancel

    def write(name: str, n: int) -> None:
        if answers and answers[0].resolved:
            late.append(n)

    with Harness([export_workflow(write)], data=data, runners=2) as h:
        sub = h.schedule("export", {"export": "orders.csv"})
        h.at(cancel_at, lambda: answers.append(h.cancel(sub.job_id)))
        (job,) = h.finish()
    assert len(late) <= 1  # the chunk its runner was starting (its check was past)
    outcome = answers[0].get()
    if outcome is CancelOutcome.CANCELLED:
        assert job.state is JobState.CANCELLED
        assert job.data.get("written", []) == list(range(len(job.data.get("written", []))))
        assert len(job.data.get("written", [])) < CHUNKS or job.step == "done"
    else:
        assert outcome is CancelOutcome.ALREADY_FINISHED
        assert job.state is JobState.DONE
