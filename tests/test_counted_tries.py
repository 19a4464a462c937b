"""A job taken over from a stopped worker: its counted try lasts until its first save.

Real SQLite stores in one process. The try (and a solo job's turn alone) ends at the
job's first save, which is stored at once even when the store groups a slice's saves,
so a death while the steps after it run is not counted against the job, and the
worker's other jobs start beside it from then on.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from bounds import TIMEOUT, wait_until

from actors import JobState, Mediator, Sequential, Workflow, enqueue
from actors.stores import open_store


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
