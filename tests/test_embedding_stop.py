"""The host application stops the engine: ``pykka.ActorRegistry.stop_all()``, ``shutdown()``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pykka
from bounds import TIMEOUT

from actors import JobState, Mediator, Sequential, Workflow
from actors.stores import open_store


def test_stop_all_stops_the_runners_between_steps_and_the_next_start_resumes(
    tmp_path: Path,
) -> None:
    """A stop from the registry is no drain: the cases a runner would still run stay saved."""
    ran: list[tuple[int, str]] = []
    entered, release = threading.Event(), threading.Event()

    def step(name: str) -> Any:
        def task(data: dict[str, Any]) -> None:
            ran.append((data["n"], name))
            if name == "a" and data["n"] == 0:
                entered.set()
                assert release.wait(TIMEOUT)

        return task

    flow = Workflow(
        "three",
        start="a",
        steps=[
            Sequential("a", step("a"), next="b"),
            Sequential("b", step("b"), next="c"),
            Sequential("c", step("c")),
        ],
    )
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    m = Mediator([flow], runners=1, store=url)
    handles = [m.schedule("three", {"n": n}) for n in range(3)]
    assert entered.wait(TIMEOUT)  # the only runner is inside case 0's first step
    stopping = pykka.ActorRegistry.stop_all(block=False)  # the stops are queued now
    release.set()
    for stopped in stopping:
        stopped.get(timeout=TIMEOUT)
    assert ran == [(0, "a")]  # not the rest of case 0, nor cases 1 and 2
    m.shutdown()  # still safe; closes the store
    store = open_store(url)
    try:
        left = {job.id: job.step for job in store.unfinished()}
    finally:
        store.close()
    assert left == {handles[0].job_id: "b", handles[1].job_id: "a", handles[2].job_id: "a"}
    with Mediator([flow], runners=1, store=url) as again:  # resumes them
        for handle in handles:
            assert again.get_job(handle.job_id).state is not JobState.FAULTED
    assert sorted(ran) == sorted((n, s) for n in range(3) for s in "abc")  # no step twice
