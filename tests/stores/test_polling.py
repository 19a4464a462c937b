"""A worker with a backlog in the store claims again soon, not once per poll interval.

A worker claims at most as many cases as it has room for. If every poll waited the full
interval, a worker would run at most ``capacity`` cases per interval however fast it is;
so a claim that fills every free place brings the next poll forward. The clock is manual:
polls happen only when the test advances it, and the test reads when the next one is due.
"""

import time

from flows import counting_flow

from actors import JobState, Mediator, enqueue
from actors.stores import open_store
from actors.testing import VirtualClock

INTERVAL = 10.0


def test_a_full_claim_brings_the_next_poll_forward_until_the_backlog_is_taken(tmp_path):
    flow, ran, wait_for = counting_flow()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = open_store(url)
    ids = [enqueue(store, flow, {"n": n}) for n in range(6)]
    clock = VirtualClock(start=time.time())
    start = clock.now()
    with Mediator(
        [flow], runners=1, capacity=2, store=url, owner="w", clock=clock, poll_interval=INTERVAL
    ):
        wait_for(2)  # the two cases claimed at start
        due = clock.wait_for_alarm()
        assert due == start + INTERVAL
        expected = [start + INTERVAL + INTERVAL / 10, start + INTERVAL + 2 * INTERVAL / 10]
        for n, then in zip((4, 6), expected, strict=True):
            clock.advance(due - clock.now())  # a poll: it fills both free places
            wait_for(n)
            due = clock.wait_for_alarm(at_least=clock.now() + 1e-6)
            assert due == then  # a tenth of the interval later, not a whole one
        clock.advance(due - clock.now())  # this poll finds nothing: back to the interval
        assert clock.wait_for_alarm(at_least=clock.now() + 1e-6) == due + INTERVAL
    assert sorted(ran) == list(range(6))
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
