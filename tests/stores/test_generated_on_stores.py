"""Property: generated workflows take valid paths on the durable stores, on real threads.

The harness checks generated workflows (splits, joins, discriminators, choices, loops)
against the memory store; these run the same shapes through a ``Mediator`` on SQLite (its
writer thread and its writer process) and PostgreSQL with their defaults (group commit),
a store of its own for every example. Each case must end DONE with a log a correct engine
may leave (the log is data, so it went through the codec and every join's merge), and no
step may run twice.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from bounds import TIMEOUT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import JobState, Mediator
from actors.stores import SqliteStore, Store
from actors.stores._postgres import PostgresStore
from actors.testing.strategies import workflows

KINDS = ["sqlite", "sqlite-process", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=KINDS)
def new_store(request: Any, tmp_path_factory: Any) -> Any:
    """Makes an empty store of one kind per call (one per Hypothesis example)."""
    kind = request.param
    url = request.getfixturevalue("pg_url") if kind == "postgres" else None

    def make() -> Store:
        if url is not None:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    "TRUNCATE jobs, step_history, job_requests, join_arrivals, join_counts, workers"
                )
            return PostgresStore(url)
        path = tmp_path_factory.mktemp("generated") / "cases.db"
        writer = "process" if kind == "sqlite-process" else "thread"
        return SqliteStore(path, writer=writer)

    return make


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(workflows(waits=False), st.data())
def test_generated_workflows_take_valid_paths_on_every_durable_store(
    new_store: Any, wf: Any, data: Any
) -> None:
    flags = data.draw(st.lists(st.booleans(), min_size=wf.flag_count, max_size=wf.flag_count))
    runners = data.draw(st.integers(1, 4), label="runners")
    store = new_store()
    try:
        with Mediator([wf], runners=runners, capacity=4, store=store) as engine:
            handles = [engine.schedule(wf.name, wf.data(flags)) for _ in range(3)]
            jobs = [h.result(timeout=TIMEOUT) for h in handles]
    finally:
        store.close()
    for job in jobs:
        assert job.state is JobState.DONE, job.error
        assert not wf.problems(job, flags)
    assert not wf.repeated()
