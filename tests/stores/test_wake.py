"""A case enqueued for a running worker starts without waiting for the worker's next poll.

The clock is manual and the poll interval an hour: the worker polls only when woken.
Within one process ``enqueue`` wakes the workers of the same database directly; on
PostgreSQL a ``NOTIFY`` also wakes workers in other processes.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flows import counting_flow

from actors import JobState, Mediator, enqueue
from actors.stores import open_store
from actors.testing import VirtualClock

HOUR = 3600.0
TESTS = Path(__file__).resolve().parents[1]


def _worker(flow, url, clock):
    return Mediator([flow], runners=1, store=url, owner="w", clock=clock, poll_interval=HOUR)


def _url(kind, tmp_path, request):
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    return request.getfixturevalue("fresh_pg_url")


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_enqueue_in_the_same_process_wakes_the_worker(kind, tmp_path, request):
    flow, ran, wait_for = counting_flow()
    url = _url(kind, tmp_path, request)
    client = open_store(url)
    clock = VirtualClock(start=time.time())
    try:
        with _worker(flow, url, clock):
            first = enqueue(client, flow, {"n": 1})
            wait_for(1)  # woken: the clock has not moved, the next poll is an hour away
            clock.advance(0.01)
            second = enqueue(url, flow, {"n": 2})  # through a store of its own, too
            wait_for(2)
        assert ran == [1, 2]
        assert client.get(first).state is JobState.DONE
        assert client.get(second).state is JobState.DONE
    finally:
        client.close()


@pytest.mark.postgres
def test_enqueue_in_another_process_wakes_a_postgres_worker_by_notify(fresh_pg_url):
    flow, ran, wait_for = counting_flow()
    clock = VirtualClock(start=time.time())
    script = (
        "from flows import counting_flow; from actors import enqueue; import sys; "
        "enqueue(sys.argv[1], counting_flow()[0], {'n': 7})"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])}
    with _worker(flow, fresh_pg_url, clock):
        subprocess.run([sys.executable, "-c", script, fresh_pg_url], env=env, check=True)
        wait_for(1)  # the clock has not moved: only the NOTIFY can have woken it
    assert ran == [7]


def test_a_stopped_worker_is_no_longer_woken(tmp_path):
    flow, ran, _ = counting_flow()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    from actors.stores import _wake

    with _worker(flow, url, VirtualClock(start=time.time())):
        assert _wake._watchers  # watching while it runs
    assert not _wake._watchers
    enqueue(url, flow, {"n": 1})  # nobody to wake: nothing raises
    assert ran == []
