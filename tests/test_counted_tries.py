"""A job taken over from a stopped worker: its counted try lasts until its first save.

Real SQLite stores in one process. The try (and a solo job's turn alone) ends at the
job's first save, which is stored at once even when the store groups a slice's saves,
so a death while the steps after it run is not counted against the job, and the
worker's other jobs start beside it from then on. Only tries alone count toward the
limit: the first try after a takeover runs beside other jobs (or waits for its turn,
counted in a batch), so the death that ends it may be any job's.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from bounds import TIMEOUT, wait_until

from actors import JobState, Mediator, Sequential, StepContext, Workflow, enqueue
from actors._job import JobRecord
from actors._runner_failures import LIMIT
from actors.stores import open_store
from actors.testing import VirtualClock


def _flows(gate: threading.Event) -> list[Workflow]:
    def first(data: dict) -> None:
        data["first"] = True

    def held(data: dict) -> None:
        assert gate.wait(2 * TIMEOUT), "the test never opened the gate"  # it fails first

    def other(data: dict) -> None:
        data["other"] = True

    return [
        Workflow(
            "slow",
            [
                Sequential("a", first, next="b"),
                Sequential("b", held, next="c"),
                Sequential("c", other),
            ],
            start="a",
        ),
        Workflow("other", [Sequential("x", other)], start="x"),
    ]


def _stopped_twice(url: str, case: str) -> None:
    """Two workers held ``case`` and stopped; the second counted a try of it first."""
    store = open_store(url)
    try:
        now = time.time()
        store.owner = "gone-1"
        assert store.claim("gone-1", now=now - 100, lease_seconds=1.0, limit=10)
        store.owner = "gone-2"
        [job] = store.claim("gone-2", now=now - 50, lease_seconds=1.0, limit=10)
        assert job.taken_over
        assert store.count_try(job) == 1
    finally:
        store.close()


@pytest.mark.parametrize("commit", ["slice", "group"])
def test_a_solo_jobs_try_ends_at_its_first_save_and_the_others_run_beside_it(
    tmp_path: Path, commit: str
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    gate = threading.Event()
    flows = _flows(gate)
    case = enqueue(url, flows[0], {}, job_id="slow-1")
    _stopped_twice(url, case)
    reader = open_store(url)
    try:
        with Mediator(
            flows,
            runners=2,
            store=open_store(url, commit=commit),
            owner="alive",
            lease_seconds=30.0,
            poll_interval=0.05,
        ) as mediator:
            # Step a's save is stored while step b runs: the count starts again there.
            wait_until(lambda: reader.get(case).step == "b", "step a's save to be stored")
            # The job ran alone until that save; the worker's own work runs beside it now.
            done = mediator.schedule("other", {}).result(timeout=TIMEOUT)
            assert done.state is JobState.DONE
            gate.set()
            wait_until(lambda: reader.get(case).state.is_final, "the case to end")
        assert reader.get(case).state is JobState.DONE
    finally:
        gate.set()
        reader.close()


def _tried(url: str, *, alone: int) -> None:
    """Workers held the one case and stopped, each with a try of its job counted.

    The first ran it from the start (no try counted), the next counted a try beside its
    other jobs (not a suspect yet), and ``alone`` more ran it alone, a suspect.
    """
    store = open_store(url)
    try:
        now = time.time() - 100
        store.owner = "gone-0"
        assert store.claim("gone-0", now=now, lease_seconds=1.0, limit=10)
        for i in range(1, alone + 2):
            store.owner = f"gone-{i}"
            [job] = store.claim(f"gone-{i}", now=now + 10 * i, lease_seconds=1.0, limit=10)
            assert job.taken_over
            assert job.solo is (i > 1)  # a try of it had ended with its worker
            assert store.count_try(job) == i
    finally:
        store.close()


ONE = Workflow("one", [Sequential("x", lambda data: None)], start="x")


def _run_taken_over(url: str) -> JobState:
    """A live worker takes the case over and runs its job: how the job ends."""
    with Mediator(
        [ONE],
        store=open_store(url),
        owner="alive",
        lease_seconds=30.0,
        poll_interval=0.05,
    ):
        reader = open_store(url)
        try:
            wait_until(lambda: reader.get("case").state.is_final, "the case to end")
            return reader.get("case").state
        finally:
            reader.close()


def test_a_death_beside_other_jobs_is_not_counted_toward_the_limit(tmp_path: Path) -> None:
    # Three workers died with a try of the job counted, but the first ran it beside its
    # other jobs: only two deaths are the job's own, one short of the limit. It was
    # faulted here, as if all three had been.
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    enqueue(url, ONE, {}, job_id="case")
    _tried(url, alone=LIMIT - 1)
    assert _run_taken_over(url) is JobState.DONE


def test_a_job_whose_tries_alone_all_ended_with_their_workers_faults(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    enqueue(url, ONE, {}, job_id="case")
    _tried(url, alone=LIMIT)
    assert _run_taken_over(url) is JobState.FAULTED
    store = open_store(url)
    try:
        error = store.get("case").error or ""
    finally:
        store.close()
    assert "the last 4 workers to run it from step 'x' (attempt 1) stopped before" in error
    assert "the last 3 while it ran alone" in error


def test_a_suspect_handed_back_unrun_runs_alone_when_it_runs_on(tmp_path: Path) -> None:
    # A suspect (a try of it already ended with its worker) counts its try, and then its
    # worker cannot vouch for its lease (frozen past it): the runner hands it back unrun.
    # When it runs on after the renewal, its try is still open (nothing saved since the
    # count), so it must run alone: it ran beside the worker's other jobs, where a death
    # would have been counted as one alone.
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    seen: list[tuple[str | None, bool]] = []
    clock = VirtualClock(start=time.time())
    store = open_store(url)
    real_count = store.count_try
    counted: list[int] = []

    def count_try(job: JobRecord) -> int:
        counted.append(real_count(job))
        clock.advance(50 * 30.0)  # frozen past the lease, just after the count
        return counted[-1]

    store.count_try = count_try  # type: ignore[method-assign]

    def step(data: dict, ctx: StepContext) -> None:
        watch = mediator._engine.channel._watch
        seen.append((watch.solo_running, watch.holding))

    flow = Workflow("one", [Sequential("x", step)], start="x")
    enqueue(url, flow, {}, job_id="case")
    _stopped_twice(url, "case")
    reader = open_store(url)
    try:
        with Mediator(
            [flow],
            runners=2,
            store=store,
            owner="alive",
            clock=clock,
            lease_seconds=30.0,
            poll_interval=10.0,
        ) as mediator:
            wait_until(lambda: reader.get("case").state.is_final, "the case to end")
        assert reader.get("case").state is JobState.DONE
    finally:
        reader.close()
    assert counted == [2]  # counted once: the run after the renewal is that try
    assert seen == [("case", True)]  # it ran as the solo job, nothing beside it
