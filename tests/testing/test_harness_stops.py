"""A test that stops the engine under the harness sees what a threaded run shows.

A host application stops the engine at exit (``shutdown()``, or pykka's
``ActorRegistry.stop_all()``). The cases it left unfinished stay in the store for the
next start: their handles raise ``EngineStoppedError``; that is no lost job and no
deadlock, and a harness on the same store runs them to their end.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors import (
    EngineStoppedError,
    JobState,
    ParallelSplit,
    Sequential,
    Synchronize,
    Wait,
    Workflow,
)
from actors.stores import SqliteStore
from actors.testing import Harness


def bump(data: dict[str, Any]) -> None:
    data["n"] = data.get("n", 0) + 1


FLOW = Workflow(
    "three",
    start="a",
    steps=[Sequential("a", bump, next="b"), Sequential("b", bump, next="c"), Sequential("c", bump)],
)


class Host(pykka.ThreadingActor):
    """An actor of the application, started under the harness."""


def stop_without_drain(h: Harness) -> None:
    h.mediator.shutdown(drain=False)


def stop_every_actor(_h: Harness) -> None:
    pykka.ActorRegistry.stop_all()


@pytest.mark.parametrize("stop", [stop_without_drain, stop_every_actor])
@pytest.mark.parametrize("seed", range(4))
def test_cases_a_stop_leaves_raise_engine_stopped_and_resume_later(
    tmp_path: Path, stop: Any, seed: int
) -> None:
    store = SqliteStore(tmp_path / "jobs.db", commit="step")
    try:  # shutdown() closes the store: the next start opens it again
        with Harness([FLOW], seed=seed, store=store) as h:
            h.actor(Host)
            subs = [h.schedule("three", {}) for _ in range(3)]
            for _ in range(3 + seed % 2):
                h.step()
            stop(h)
            with pytest.raises(EngineStoppedError):
                subs[-1].result()  # as a handle's result() does
            with pytest.raises(EngineStoppedError):
                h.finish()  # not Deadlock, nor InvariantViolation ("nothing holds them")
    finally:
        store.close()
    store = SqliteStore(tmp_path / "jobs.db", commit="step")
    try:
        assert store.unfinished()
        with Harness([FLOW], seed=seed, store=store) as again:  # the next start
            again.run_until_quiescent()
        assert not store.unfinished()
        assert {store.get(sub.job_id).data["n"] for sub in subs} == {3}  # type: ignore[union-attr]
    finally:
        store.close()


def test_a_drained_shutdown_says_so_and_warns_of_no_running_step(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Threaded, shutdown() returns True here and logs no runner "still running a step":
    # the runners are idle, each handles its stop when the call waits for it.
    flow = Workflow("w", start="a", steps=[
        Sequential("a", bump, next="w"), Wait("w", 10.0, next="b"), Sequential("b", bump),
    ])  # fmt: skip
    with Harness([flow], seed=1) as h:
        h.schedule("w", {})
        h.run_until_quiescent(advance_time=False)  # parked on its timer: drained
        with caplog.at_level(logging.WARNING, logger="actors"):
            assert h.mediator.shutdown() is True
        assert not h.probe.runner_cells()  # each runner handled its stop
    assert not [r for r in caplog.records if "still running a step" in r.getMessage()]


SPLIT = Workflow("split", start="fork", steps=[
    ParallelSplit("fork", branches=["quick", "slow"]),
    Sequential("quick", bump, next="join"),
    Wait("slow", 10.0, next="join"),
    Synchronize("join", merge=lambda parent, branches: {"n": len(branches)}),
])  # fmt: skip


def test_a_harness_resumes_a_split_whose_branches_arrived_before_and_schedules_more(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "jobs.db", commit="step")
    try:
        with Harness([SPLIT], seed=0, store=store) as h:
            first = h.schedule("split", {})
            h.run_until_quiescent(advance_time=False)  # "quick" arrived; "slow" waits
            assert h.mediator.shutdown()
    finally:
        store.close()
    store = SqliteStore(tmp_path / "jobs.db", commit="step")
    try:
        with Harness([SPLIT], seed=0, store=store) as again:
            # The join counts the branch that arrived in the first run (no invariant 3
            # violation), and a new case gets an id the first run did not use.
            second = again.schedule("split", {})
            assert second.job_id != first.job_id
            assert [job.data for job in again.finish()] == [{"n": 2}]
        assert store.get(first.job_id).data == {"n": 2}  # type: ignore[union-attr]
    finally:
        store.close()


BOTH = Workflow(
    "both",
    [
        ParallelSplit("s", branches=["a", "b"]),
        Sequential("a", lambda d: None, next="j"),
        Sequential("b", lambda d: None, next="j"),
        Synchronize("j"),
    ],
    "s",
)


def test_finish_after_a_stop_that_closed_the_store_checks_what_it_can(tmp_path: Path) -> None:
    # Every case ended before the stop: finish() answers with them, and does not read
    # the store shutdown() closed for its check of the split's join.
    store = SqliteStore(tmp_path / "jobs.db", commit="step")
    try:
        with Harness([BOTH], seed=0, store=store) as h:
            sub = h.schedule("both", {})
            h.run_until_quiescent()
            h.mediator.shutdown(drain=False)
            assert [job.state for job in h.finish()] == [JobState.DONE]
            assert sub.result().state is JobState.DONE
    finally:
        store.close()
