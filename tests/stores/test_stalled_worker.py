"""A worker frozen past its lease starts no step of a case it may no longer hold.

Worker A runs a case's branch and freezes inside a step (as under SIGSTOP): its clock
jumps past its lease while no thread of it runs. Worker B takes the case over and runs
it to its end. When A wakes, the step in flight finishes, but no other step of the case
starts on A: A renews its leases first, finds the case is B's, and drops it.
"""

import threading
import time

import pytest
from bounds import TIMEOUT

from actors import (
    JobState,
    LeaseLostError,
    Mediator,
    ParallelSplit,
    Sequential,
    Synchronize,
    Workflow,
)
from actors.stores import open_store
from actors.testing import VirtualClock

LEASE = 10.0


def _flow(entered, release, runs):
    def slow(data):
        runs.append("slow")
        if runs.count("slow") == 1:  # worker A freezes inside its first run
            entered.set()
            assert release.wait(TIMEOUT)

    def count(name):
        return lambda data: runs.append(name)

    return Workflow(
        "fan",
        start="split",
        steps=[
            ParallelSplit("split", branches=["slow", "other"]),
            Sequential("slow", slow, next="after"),
            Sequential("after", count("after"), next="join"),
            Sequential("other", count("other"), next="join"),
            Synchronize("join", next="end"),
            Sequential("end", count("end")),
        ],
    )


@pytest.fixture
def store_url(make_sql_store):
    if make_sql_store.kind == "sqlite":
        return f"sqlite:///{make_sql_store.path}"
    return make_sql_store.url


@pytest.mark.parametrize("commit", ["step", "slice"])
def test_a_frozen_worker_starts_no_step_of_a_case_taken_over(store_url, commit):
    entered, release, runs = threading.Event(), threading.Event(), []
    flow = _flow(entered, release, runs)
    clock = VirtualClock(start=time.time())
    options = {"lease_seconds": LEASE, "poll_interval": 1000.0}  # polls only when told
    a = Mediator(
        [flow], runners=1, store=open_store(store_url, commit=commit), owner="A",
        clock=clock, **options,
    )  # fmt: skip
    try:
        handle = a.schedule("fan", {})
        assert entered.wait(TIMEOUT)  # A's one runner is inside "slow"; "other" waits behind it
        # A is frozen: time passes, and no alarm of A's comes due to wake one of its threads
        assert clock.advance(50 * LEASE) == 0
        b_clock = VirtualClock(start=clock.now() + 1)
        with Mediator(
            [flow], runners=2, store=open_store(store_url, commit=commit), owner="B",
            clock=b_clock, **options,
        ):  # fmt: skip
            pass  # B took the case over at start and runs it to its end (drained)
        store = open_store(store_url)
        try:
            assert store.get(handle.job_id).state is JobState.DONE
        finally:
            store.close()
        assert sorted(runs) == ["after", "end", "other", "slow", "slow"]
        release.set()  # A wakes: "slow" ends; nothing of the case may start after it
        with pytest.raises(LeaseLostError):
            handle.result(timeout=TIMEOUT)
        a.shutdown()  # drains: whatever A still had of the case would run now
        assert sorted(runs) == ["after", "end", "other", "slow", "slow"]
    finally:
        release.set()
        a.shutdown()


def test_a_worker_that_cannot_vouch_for_its_leases_renews_them_and_runs_on(store_url):
    """A clock jump with no takeover: the job is handed back, the lease renewed, and it runs."""
    done = threading.Event()
    clock = VirtualClock(start=time.time())
    steps = []

    def first(data):
        steps.append("first")
        # frozen for longer than the lease, inside a step: no alarm of A's comes due meanwhile
        assert clock.advance(50 * LEASE) == 0

    flow = Workflow(
        "two",
        start="first",
        steps=[
            Sequential("first", first, next="second"),
            Sequential("second", lambda d: (steps.append("second"), done.set())),
        ],
    )
    with Mediator(
        [flow], runners=1, store=store_url, owner="A", clock=clock, lease_seconds=LEASE,
        poll_interval=1000.0,
    ) as a:  # fmt: skip
        job = a.schedule("two", {}).result(timeout=TIMEOUT)
    assert job.state is JobState.DONE
    assert steps == ["first", "second"]
