"""A worker with a backlog in the store claims again soon, not once per poll interval.

A worker claims at most as many cases as it has room for. If every poll waited the full
interval, a worker would run at most ``capacity`` cases per interval however fast it is;
so a claim that fills every free place brings the next poll forward, and while the
backlog lasts the worker claims again as soon as a quarter of its places are free. The
clock is manual: polls happen only when the test advances it, or when a case ends while
the worker is backlogged, and the test reads when the next one is due.
"""

import threading
import time
from typing import Any

from flows import counting_flow

from actors import JobState, Mediator, Sequential, Workflow, enqueue
from actors.stores import open_store
from actors.testing import VirtualClock

INTERVAL = 10.0


def _gated_flow() -> tuple[Workflow, list[int], threading.Event, Any]:
    """A one-step flow whose steps wait for ``gate``; ``wait_for(n)``: n steps began."""
    began: list[int] = []
    cond = threading.Condition()
    gate = threading.Event()

    def step(data: dict[str, Any]) -> None:
        with cond:
            began.append(data["n"])
            cond.notify_all()
        assert gate.wait(30), "the test never opened the gate"

    def wait_for(n: int) -> None:
        with cond:
            assert cond.wait_for(lambda: len(began) >= n, 30), f"{len(began)} of {n} began"

    flow = Workflow("gated", start="one", steps=[Sequential("one", step)])
    return flow, began, gate, wait_for


def test_a_backlogged_worker_claims_as_places_free_and_renews_once_per_interval(tmp_path):
    # A claim that fills every free place brings the next poll forward (a tenth of the
    # interval), and while that backlog lasts, every case that ends claims again at once:
    # the clock never moves, yet all 8 cases run. Those claims renew no lease (the
    # renewal locks every case the worker holds): one renewal per interval.
    flow, began, gate, wait_for = _gated_flow()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = open_store(url)
    ids = [enqueue(store, flow, {"n": n}) for n in range(8)]
    clock = VirtualClock(start=time.time())
    start = clock.now()
    worker = open_store(url)
    renewals: list[float] = []
    heartbeat = worker.heartbeat

    def counted(owner: str, now: float, lease_seconds: float) -> int:
        renewals.append(now)
        return heartbeat(owner, now, lease_seconds)

    worker.heartbeat = counted  # type: ignore[method-assign]
    with Mediator(
        [flow], runners=1, capacity=2, store=worker, owner="w", clock=clock, poll_interval=INTERVAL
    ):
        wait_for(1)  # two cases claimed at start, one running (waiting on the gate)
        due = clock.wait_for_alarm()
        assert due == start + INTERVAL
        clock.advance(due - clock.now())  # the first poll: renews, and fills the free place
        due = clock.wait_for_alarm(at_least=clock.now() + 1e-6)
        assert due == start + INTERVAL + INTERVAL / 10  # backlogged: a tenth later
        assert renewals == [start + INTERVAL]
        gate.set()  # every case ends now; the clock stays where it is
        wait_for(8)
        # The last claim found nothing more: the next poll is the renewal, an interval on.
        assert clock.wait_for_alarm(at_least=due + 1e-6) == start + 2 * INTERVAL
        assert renewals == [start + INTERVAL]  # the claims in between renewed nothing
    assert sorted(began) == list(range(8))
    assert all(store.get(i).state is JobState.DONE for i in ids)
    store.close()


def test_a_worker_restarted_under_its_name_runs_all_its_cases_not_only_what_fits(tmp_path):
    # The worker held 6 cases when it died; it comes back under the same name with room
    # for 2. It takes 2 back at once; its heartbeats must not keep the other 4 leased to
    # it, unrun, for ever: they are free, and its next polls claim them.
    flow, ran, wait_for = counting_flow()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = open_store(url)
    ids = [enqueue(store, flow, {"n": n}) for n in range(6)]
    clock = VirtualClock(start=time.time())
    assert len(store.claim("w", clock.now(), 60.0, limit=6)) == 6  # the worker that died
    with Mediator(
        [flow], runners=1, capacity=2, store=url, owner="w", clock=clock, poll_interval=INTERVAL
    ):
        wait_for(2)  # the two it took back at start
        for n in (4, 6):
            due = clock.wait_for_alarm(at_least=clock.now() + 1e-6)
            clock.advance(due - clock.now())  # a poll, well within the old leases' 60 s
            wait_for(n)
    assert sorted(ran) == list(range(6))
    assert all(store.get(i).state is JobState.DONE for i in ids)
    store.close()
