"""Under the harness with SQLite's group commit: runs the cancel property found wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors import EngineStoppedError, JobState
from actors._outcomes import CancelOutcome
from actors.stores import SqliteStore
from actors.testing import Crash, FaultPlan, Harness
from actors.testing._shapes import Pause, Request, Seq, Split, Task
from actors.testing.strategies import GeneratedWorkflow


def test_three_runners_in_groups_store_every_case_s_end(tmp_path: Path) -> None:
    """A case admitted while a runner waits between two steps is not saved in its slice.

    The admission joined the paused runner's open slice, stored in a group after the
    case's own DONE: the group wrote each job as last saved, READY.
    """
    wf = GeneratedWorkflow(Task())
    store = SqliteStore(tmp_path / "jobs.db", commit="group")
    try:
        with Harness([wf], seed=2, runners=3, capacity=4, store=store) as h:
            for i in range(3):
                h.at(i * 3, lambda: h.schedule(wf.name, wf.data(())))
            h.finish()
        job = store.get("j3")
        assert job is not None and job.state is JobState.DONE, job
    finally:
        store.close()


def _stop(h: Harness) -> None:
    """``shutdown(drain=False)`` as another thread would: not at a runner's choice point."""
    if h.runtime.delivering:
        h.at(h.actions + 1, lambda: _stop(h))
    else:
        h.mediator.shutdown(drain=False)


@pytest.mark.parametrize("seed", [22, 77, 192])
def test_a_split_case_cancelled_before_a_stop_is_cancelled_on_the_next_start(
    tmp_path: Path, seed: int
) -> None:
    """A branch's cancel mark is stored after the branch's slice the writer held.

    Its runner saved the branch to resume as the stop began and handed the slice over;
    the cancel's mark, stored first, was cleared by it, and the next start ran on.
    """
    wf = GeneratedWorkflow(Split((Task(), Task()), "sync", False))
    path = tmp_path / "jobs.db"
    store = SqliteStore(path, commit="group")
    answers: list[object] = []
    try:
        with Harness([wf], seed=seed, runners=1, capacity=4, store=store) as h:
            for i in range(3):
                h.at(i * 3, lambda: h.schedule(wf.name, wf.data(())))
            h.at(9, lambda: answers.append(h.cancel("j1")))
            h.at(17, lambda: _stop(h))
            with pytest.raises(EngineStoppedError):
                h.finish()
    finally:
        store.close()
    assert str(answers[0].get()) == "CancelOutcome.CANCELLED"  # type: ignore[attr-defined]
    store = SqliteStore(path, commit="group")
    try:
        with Harness([wf], seed=0, store=store) as again:
            again.run_until_quiescent()
        job = store.get("j1")
        assert job is not None and job.state is JobState.CANCELLED, job  # DONE
    finally:
        store.close()


def test_a_cancel_whose_mark_waits_for_a_lost_group_is_marked_and_answered(
    tmp_path: Path,
) -> None:
    """A cancel's mark waits for the slices the writer holds; a group lost is no error of its.

    The case's split slice was in the group the writer lost as the cancel came: the mark
    raised that group's error to the cancel's caller (the case was cancelled all the same).
    """
    wf = GeneratedWorkflow(Split((Task(), Task()), "sync", False))
    store = SqliteStore(tmp_path / "jobs.db", commit="group")
    plan = FaultPlan(crashes=(Crash(1, point="in_group"),))
    answers: list[Any] = []
    try:
        with Harness([wf], seed=2, runners=1, store=store, faults=plan) as h:
            h.schedule(wf.name, wf.data(()))
            h.at(5, lambda: answers.append(h.cancel("j1")))
            h.finish()
            assert "lost before it is stored" in str(h.trace[7])  # the group, as it asked
        assert answers[0].get() is CancelOutcome.CANCELLED  # raised InjectedCrash
        job = store.get("j1")
        assert job is not None and job.state is JobState.CANCELLED, job
    finally:
        store.close()


@pytest.mark.parametrize("runners", [1, 2])
def test_a_request_whose_reply_s_slice_is_lost_runs_once_at_a_time_and_cancels_truly(
    tmp_path: Path, runners: int
) -> None:
    """The request step's empty slice, still queued with the reply's, is not lost with it.

    A request step stores its park at once and reports it, then hands the writer an empty
    slice for its callback. The reply came, the job ran on, and the writer lost the group
    holding both slices: each reported the job's slice lost, so the Scheduler resumed it
    twice. Two runners ran it at once (invariant 2), or a cancel answered ``CANCELLED``
    while the job's other copy ran on to ``DONE``.
    """
    wf = GeneratedWorkflow(Request(timeout=1.0))
    lost = 0
    for seed in range(30):
        for at in range(10, 15):
            answer, job, lost_here = _reply_lost(
                tmp_path / f"{seed}-{at}.db", wf, seed, at, runners
            )
            lost += lost_here
            cancelled = answer is CancelOutcome.CANCELLED
            assert cancelled == (job.state is JobState.CANCELLED), (seed, at, job)  # DONE
    assert lost  # the scenario did lose groups


def _reply_lost(path: Path, wf: Any, seed: int, at: int, runners: int) -> tuple[Any, Any, bool]:
    """The case's answered cancel, its end, and whether the writer lost a group."""
    plan = FaultPlan(crashes=(Crash(2, point="in_group"),))  # the reply's step
    store = SqliteStore(path, commit="group")
    answers: list[Any] = []
    try:
        with Harness([wf], seed=seed, runners=runners, store=store, faults=plan) as h:
            wf.responder = lambda cid: h.receive_event(cid, {"reply": cid})
            h.schedule(wf.name, wf.data(()))
            h.at(at, lambda: answers.append(h.cancel("j1")))
            h.finish()  # raised InvariantViolation: two runners held j1
            lost = any("lost before it is stored" in e.detail for e in h.trace)
        job = store.get("j1")
    finally:
        wf.responder = None
        store.close()
    assert job is not None
    return answers[0].get(), job, lost


@pytest.mark.parametrize(
    ("shape", "seed", "step"),
    [
        (Split((Task(), Task()), "sync", False), 17, "split4"),
        (Seq((Task(), Pause(0.0))), 0, "wait2"),
    ],
)
def test_a_case_cancelled_as_its_runner_splits_or_parks_it_is_cancelled_on_the_next_start(
    tmp_path: Path, shape: Any, seed: int, step: str
) -> None:
    """A stop that comes once its runner's check is past: the split or wait step still runs.

    The cancel marked the case; the runner, not having read the stop, saved the split
    (or the park) as it went on, which cleared the mark, and the engine stopped (not
    draining) before its reports: the next start ran the case on to ``DONE``. The runner
    now looks for a stop before it saves a split or a park, and ends the case
    ``CANCELLED`` instead.
    """
    wf = GeneratedWorkflow(shape)
    path = tmp_path / "jobs.db"
    store = SqliteStore(path, commit="group")
    answers: list[Any] = []
    try:
        with Harness([wf], seed=seed, runners=1, capacity=4, store=store) as h:
            h.schedule(wf.name, wf.data(()))
            h.at(1, lambda: answers.append(h.cancel("j1")))
            h.at(5, lambda: _stop(h))
            with pytest.raises(EngineStoppedError):
                h.finish()
            said = [e.detail for e in h.trace]
        assert f"runs {step!r}: its stop came once its check was past" in said
    finally:
        store.close()
    assert answers[0].get() is CancelOutcome.CANCELLED
    store = SqliteStore(path, commit="group")
    try:
        with Harness([wf], seed=0, store=store) as again:
            again.run_until_quiescent()
        job = store.get("j1")
        assert job is not None and job.state is JobState.CANCELLED, job  # DONE
    finally:
        store.close()


def test_a_cancel_of_a_job_whose_ending_slice_is_lost_answers_how_it_ends(
    tmp_path: Path,
) -> None:
    """An answer waits for the writer's report on the slice that ended the job.

    The runner's slice ended the job ``DONE`` and waited in the writer: a cancel then was
    answered ``ALREADY_FINISHED`` at once. The writer lost that group, the job resumed
    from its stored save, and a second cancel ended it ``CANCELLED``: the first answer
    was not the truth. Each answer now agrees with how the job ended.
    """
    wf = GeneratedWorkflow(Task())
    plan = FaultPlan(crashes=(Crash(1, point="in_group"),))
    for seed in range(20):
        for at in range(1, 10):
            store = SqliteStore(tmp_path / f"{seed}-{at}.db", commit="group")
            answers: list[Any] = []
            try:
                with Harness([wf], seed=seed, runners=1, store=store, faults=plan) as h:
                    h.schedule(wf.name, wf.data(()))
                    for when in (0, at):
                        h.at(when, lambda h=h, answers=answers: answers.append(h.cancel("j1")))
                    h.finish()
                job = store.get("j1")
            finally:
                store.close()
            assert job is not None
            # The first answer says how the job ends; a later one may find it cancelled.
            first, *later = (answer.get() for answer in answers)
            ended = job.state is JobState.CANCELLED
            assert (first is CancelOutcome.CANCELLED) == ended, (seed, at, job.state)
            assert all(answer is not CancelOutcome.CANCELLED or ended for answer in later)
