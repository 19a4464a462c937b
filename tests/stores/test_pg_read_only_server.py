"""A PostgreSQL server that takes no writes (a standby after a failover) faults no job.

Every write fails there with ``cannot execute ... in a read-only transaction``, which is
no fault of the job's: a job whose slice it refused ran its steps again at once, four
times, and was then faulted as a job whose saves always fail. It now waits, as in an
outage, for the first poll that finds the server writable, and goes on.

The server is made so for the test's own database (``default_transaction_read_only``,
its sessions ended so that the pool's new ones take it). The poll comes only when the
test advances the virtual clock.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import psycopg
import pytest
from bounds import TIMEOUT, wait_until

from actors import JobState, Mediator, Sequential, Workflow
from actors.stores._postgres import PostgresStore

pytestmark = pytest.mark.postgres

POLL = 1.0


def _writable(url: str, *, on: bool) -> None:
    """The database's new sessions take writes (``on``) or not; its other sessions end."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")  # this session writes
        name = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        setting = "off" if on else "on"
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {setting}')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def test_a_job_whose_saves_a_read_only_server_refuses_waits_for_the_next_poll(
    pg_database: Any, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="actors")
    url = pg_database("actors_read_only_server")
    entered, go = threading.Event(), threading.Event()
    runs: list[int] = []

    def work(data: dict[str, int]) -> None:
        runs.append(1)
        entered.set()
        go.wait(TIMEOUT)
        data["done"] = len(runs)

    flow = Workflow("w", start="work", steps=[Sequential("work", work)])
    store = PostgresStore(url)
    with Mediator(
        [flow], runners=1, store=store, clock=clock, poll_interval=POLL, owner="w1"
    ) as mediator:
        handle = mediator.schedule("w", {})
        assert entered.wait(TIMEOUT)
        _writable(url, on=False)
        try:
            go.set()
            wait_until(
                lambda: "cannot be reached" in caplog.text or len(runs) > 2,
                "the store's failure to be noted",
            )
            assert len(runs) == 1, f"the step ran {len(runs)} times while the server refused"
        finally:
            _writable(url, on=True)
        clock.advance(POLL)  # the poll renews the lease, then takes the job back
        job = handle.result(timeout=TIMEOUT)
    assert (job.state, job.data) == (JobState.DONE, {"done": 2})
    assert "in a read-only transaction" in caplog.text
