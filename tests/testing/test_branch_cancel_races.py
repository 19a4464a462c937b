"""Cancelling one branch of a split while that branch runs its last step before the join.

The step finishes (a task is never interrupted). If its runner stops the branch there,
the branch ends CANCELLED and so does the case; if the runner had already stored the
branch's arrival at the join, the branch ends as it ended and its arrival counts: the
join fires and the case goes on (a cancel handled once the runner had left the branch
says it came too late). Never a join that lost an arrival the store counted.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow
from actors._outcomes import CancelOutcome
from actors.testing import Harness


def _flow(cancel: Any, ran: list[str]) -> Workflow:
    def last(data: Any, ctx: Any) -> None:
        data["a"] = True
        cancel(ctx.job_id)  # from outside the runner, while the branch runs this step

    return Workflow(
        "split",
        [
            ParallelSplit("split", branches=["a", "b"]),
            Sequential("a", last, next="join"),
            Sequential("b", lambda d: d.update(b=True), next="join"),
            Synchronize("join", next="after"),
            Sequential("after", lambda d: ran.append("after")),
        ],
        "split",
    )


def _check(case: Any, ran: list[str]) -> None:
    assert case.state in (JobState.DONE, JobState.CANCELLED), (case.state, case.error)
    if case.state is JobState.DONE:
        assert ran == ["after"]
        assert case.data == {"a": True, "b": True}
    else:
        assert ran == []
        assert "cancelled" in (case.error or "")


def _run_seed(seed: int) -> tuple[JobState, CancelOutcome]:
    ran: list[str] = []
    answers: list[Any] = []
    holder: list[Harness] = []
    flow = _flow(lambda job_id: answers.append(holder[0].cancel(job_id)), ran)
    with Harness([flow], runners=2, seed=seed) as h:
        holder.append(h)
        h.schedule("split", {})
        (case,) = h.finish()
    try:
        _check(case, ran)
    except AssertionError as exc:
        raise AssertionError(f"seed {seed}: {exc}") from exc
    return case.state, answers[0].get()


def test_a_branch_cancelled_in_its_last_step_before_the_join_under_every_interleaving() -> None:
    seen = {_run_seed(seed) for seed in range(150)}
    # A branch that arrived ends as it ended, and the cancel says it came too late
    # (ALREADY_FINISHED), whether it came as its runner ran the join (past the runner's
    # last look for a stop: answered with its report) or once the runner had left it.
    assert seen == {
        (JobState.DONE, CancelOutcome.ALREADY_FINISHED),
        (JobState.CANCELLED, CancelOutcome.CANCELLED),
    }


@settings(max_examples=60, deadline=None, database=None)
@given(point=st.integers(min_value=0, max_value=12), data=st.data())
def test_a_branch_cancelled_from_outside_at_any_point_never_loses_its_arrival(
    point: int, data: st.DataObject
) -> None:
    ran: list[str] = []
    answers: list[Any] = []
    flow = _flow(lambda job_id: None, ran)  # the cancel comes from outside, at ``point``
    with Harness([flow], runners=2, data=data) as h:
        h.schedule("split", {}, job_id="c")
        h.at(point, lambda: answers.append(h.cancel("j1")))  # branch "a": the first job made
        (case,) = h.finish()
    if case.state is JobState.FAULTED:
        raise AssertionError(case.error)
    answer = answers[0].get()
    assert (answer is CancelOutcome.CANCELLED) == (case.state is JobState.CANCELLED), answer
    _check(case, ran)


@pytest.mark.parametrize("store", ["memory://", "sqlite"])
def test_a_branch_cancelled_in_its_last_step_before_the_join_on_threads(
    store: str, tmp_path: Any
) -> None:
    url = f"sqlite:///{tmp_path}/cases.db" if store == "sqlite" else store
    holder: list[Mediator] = []
    answers: list[CancelOutcome] = []
    ran: list[str] = []
    flow = _flow(lambda job_id: answers.append(holder[0].cancel(job_id)), ran)
    with Mediator([flow], runners=2, store=url) as mediator:
        holder.append(mediator)
        for _ in range(40):
            ran.clear()
            case = mediator.schedule("split", {}).result(timeout=30)
            _check(case, ran)
    assert set(answers) == {CancelOutcome.CANCELLED}
