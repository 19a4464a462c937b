"""Property: generated workflows take valid paths on the durable stores, on real threads.

The harness checks generated workflows (splits, joins, discriminators, choices, loops)
against the memory store; these run the same shapes through a ``Mediator`` on SQLite (its
writer thread and its writer process) and PostgreSQL with their defaults (group commit),
a store of its own for every example. Each case must end DONE with a log a correct engine
may leave (the log is data, so it went through the codec and every join's merge), and no
step may run twice: with waits and requests on a virtual clock too, and after an engine
stopped without draining, in the next one.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from bounds import TIMEOUT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import Job, JobState, Mediator
from actors.stores import SqliteStore, Store
from actors.stores._postgres import PostgresStore
from actors.testing import VirtualClock
from actors.testing.strategies import workflows

KINDS = ["sqlite", "sqlite-process", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=KINDS)
def new_store(request: Any, tmp_path_factory: Any) -> Any:
    """Makes an empty database of one kind per call (one per Hypothesis example).

    What it returns opens a store on that database each time it is called (an engine
    closes its store as it stops).
    """
    kind = request.param
    url = request.getfixturevalue("pg_url") if kind == "postgres" else None

    def make() -> Callable[[], Store]:
        if url is not None:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    "TRUNCATE jobs, step_history, job_requests, join_arrivals, join_counts, workers"
                )
            return lambda: PostgresStore(url)
        path = tmp_path_factory.mktemp("generated") / "cases.db"
        writer = "process" if kind == "sqlite-process" else "thread"
        return lambda: SqliteStore(path, writer=writer)

    return make


def _examples(n: int) -> Any:
    """Hypothesis settings of these tests: ``n`` examples, each on a store of its own."""
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


def _flags(wf: Any, data: Any) -> list[bool]:
    """The flags that decide ``wf``'s exclusive choices, drawn."""
    return data.draw(st.lists(st.booleans(), min_size=wf.flag_count, max_size=wf.flag_count))


def _on_valid_paths(wf: Any, flags: list[bool], jobs: list[Any]) -> None:
    """Every case ended DONE on a path a correct engine may take; no step ran twice."""
    for job in jobs:
        assert job.state is JobState.DONE, (job.state, job.error)
        assert not wf.problems(job, flags)
    assert not wf.repeated()


@_examples(10)
@given(workflows(waits=False), st.data())
def test_generated_workflows_take_valid_paths_on_every_durable_store(
    new_store: Any, wf: Any, data: Any
) -> None:
    flags = _flags(wf, data)
    runners = data.draw(st.integers(1, 4), label="runners")
    with Mediator([wf], runners=runners, capacity=4, store=new_store()()) as engine:
        handles = [engine.schedule(wf.name, wf.data(flags)) for _ in range(3)]
        jobs = [h.result(timeout=TIMEOUT) for h in handles]
    _on_valid_paths(wf, flags, jobs)


@_examples(8)
@given(workflows(waits=False), st.data())
def test_cases_left_by_a_stopped_engine_end_on_valid_paths_in_the_next(
    new_store: Any, wf: Any, data: Any
) -> None:
    """Stopped without draining wherever the threads were, resumed by a new engine."""
    flags = _flags(wf, data)
    open_store = new_store()
    with Mediator([wf], runners=2, capacity=4, store=open_store()) as first:
        ids = [first.schedule(wf.name, wf.data(flags)).job_id for _ in range(4)]
        first.shutdown(drain=False, timeout=TIMEOUT)  # False: it was not drained
    with Mediator([wf], runners=2, capacity=4, store=open_store()) as second:
        assert second.shutdown(drain=True, timeout=TIMEOUT)
    store = open_store()
    try:
        jobs = [store.stored_job(job_id) for job_id in ids]
    finally:
        store.close()
    assert None not in jobs
    # Runners stop after their current step, saved: nothing runs twice.
    _on_valid_paths(wf, flags, [stored.record for stored in jobs if stored is not None])


@_examples(8)
@given(workflows(requests=True), st.data())
def test_generated_timers_and_requests_take_valid_paths_on_every_durable_store(
    new_store: Any, wf: Any, data: Any
) -> None:
    """Waits and requests too: virtual time, each request answered or left to time out."""
    flags = _flags(wf, data)
    # Drawn before the threads run: how many requests come, and when, is theirs to decide.
    answers = data.draw(st.lists(st.booleans(), min_size=8, max_size=8), label="answers")
    advances = data.draw(st.lists(st.sampled_from([0.5, 5.0, 60.0]), min_size=1, max_size=4))
    steps = itertools.count()
    clock = VirtualClock(start=1_000_000.0)
    answered = 0
    deadline = time.monotonic() + TIMEOUT
    with Mediator([wf], runners=2, capacity=4, store=new_store()(), clock=clock) as engine:
        handles = [engine.schedule(wf.name, wf.data(flags)) for _ in range(3)]
        jobs: dict[int, Job] = {}
        while len(jobs) < len(handles):
            assert time.monotonic() < deadline, f"cases left unfinished: {wf.requests}"
            for correlation_id in wf.requests[answered:]:  # appended by the runners
                answered += 1
                if answers[answered % len(answers)]:
                    engine.receive_event(correlation_id, {"reply": correlation_id})
            for n, handle in enumerate(handles):
                if n not in jobs:
                    with contextlib.suppress(TimeoutError):
                        jobs[n] = handle.result(timeout=0.02)
            if clock.next_alarm() is not None:
                clock.advance(advances[next(steps) % len(advances)])
    _on_valid_paths(wf, flags, list(jobs.values()))
