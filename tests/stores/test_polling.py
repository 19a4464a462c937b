"""A worker with a backlog in the store claims again soon, not once per poll interval.

A worker claims at most as many cases as it has room for. If every poll waited the full
interval, a worker would run at most ``capacity`` cases per interval however fast it is;
so a claim that fills every free place brings the next poll forward, and while the
backlog lasts the worker claims again as soon as a quarter of its places are free. The
clock is manual: polls happen only when the test advances it, or when a case ends while
the worker is backlogged, and the test reads when the next one is due. The SQLite store's
watch of its file (which wakes a worker when a case is free, whoever wrote it) is off
here: this is the schedule a worker keeps without wake-ups.
"""

import threading
import time
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until
from flows import counting_flow

from actors import JobState, Mediator, Sequential, Wait, Workflow, enqueue, enqueue_many
from actors.stores import SqliteStore, Store, open_store
from actors.testing import VirtualClock

INTERVAL = 10.0


@pytest.fixture(autouse=True)
def _polls_only(monkeypatch):
    monkeypatch.setattr(SqliteStore, "watch", Store.watch)


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


def test_a_backlogged_worker_holds_capacity_cases_claims_as_they_end_and_renews_once(tmp_path):
    # The start fills both places (capacity 2): the first poll comes a tenth of the
    # interval on, not a whole interval. While both cases run, polls claim nothing more
    # (two runners are idle, yet a place is a case in progress, not a queued job). Once
    # cases end, each end claims again at once: the clock never moves, yet all 8 cases
    # run. Those claims renew no lease (the renewal locks every case the worker holds):
    # one renewal per interval.
    flow, began, gate, wait_for = _gated_flow()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = open_store(url)
    ids = [enqueue(store, flow, {"n": n}) for n in range(8)]
    clock = VirtualClock(start=time.time())
    start = clock.now()
    worker = open_store(url)
    renewals: list[float] = []
    claimed: list[int] = []
    heartbeat, claim = worker.heartbeat, worker.claim

    def counted(owner: str, now: float, lease_seconds: float) -> int:
        renewals.append(now)
        return heartbeat(owner, now, lease_seconds)

    def counted_claim(*args: Any, **kwargs: Any) -> list[Any]:
        taken = claim(*args, **kwargs)
        claimed.append(len(taken))
        return taken

    worker.heartbeat = counted  # type: ignore[method-assign]
    worker.claim = counted_claim  # type: ignore[method-assign]
    with Mediator(
        [flow], runners=4, capacity=2, store=worker, owner="w", clock=clock, poll_interval=INTERVAL
    ):
        wait_for(2)  # the two cases claimed at start run (and wait on the gate)
        first = start + INTERVAL / 10
        for n in range(3):  # polls a tenth apart while both places are busy
            due = clock.wait_for_alarm(at_least=clock.now() + 1e-6)
            assert due == pytest.approx(first + n * INTERVAL / 10, rel=0, abs=1e-6)
            clock.advance(due - clock.now())
        clock.wait_for_alarm(at_least=clock.now() + 1e-6)  # the last poll is over
        assert claimed == [2] and len(began) == 2  # the start's claim alone
        assert renewals == [first]
        gate.set()  # every case ends now; the clock stays where it is
        wait_for(8)
        # The last claim found the store short: the next poll is the renewal, an interval
        # on (waited for: the last cases end, and that claim runs, after they began).
        due = clock.wait_for_alarm(at_least=first + INTERVAL / 2)
        assert due == pytest.approx(first + INTERVAL, rel=0, abs=1e-6)
        assert renewals == [first]  # the claims in between renewed nothing
    assert max(claimed) <= 2 and sum(claimed) == 8
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


def _napping_flow() -> tuple[Workflow, list[int], threading.Condition]:
    """A flow whose first step records ``data["n"]`` (under ``cond``), then naps an hour."""
    began: list[int] = []
    cond = threading.Condition()

    def first(data: dict[str, Any]) -> None:
        with cond:
            began.append(data["n"])
            cond.notify_all()

    flow = Workflow(
        "napping",
        start="first",
        steps=[
            Sequential("first", first, next="nap"),
            Wait("nap", 3600, next="last"),
            Sequential("last", lambda data: None),
        ],
    )
    return flow, began, cond


def test_a_case_waiting_on_a_timer_frees_its_place(tmp_path):
    # Capacity 1: the start takes one case, which parks on an hour's timer. Its place is
    # free again, and the worker is backlogged (the start filled every place): a parked
    # case frees a place as an ended one does, so it claims the second case at once,
    # the clock standing, long before the first one's timer or the next poll.
    flow, began, cond = _napping_flow()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = open_store(url)
    for n in range(2):
        enqueue(store, flow, {"n": n})
    clock = VirtualClock(start=time.time())
    with (
        Mediator(
            [flow], runners=1, capacity=1, store=url, owner="w", clock=clock,
            poll_interval=INTERVAL,
        ) as mediator,
        cond,
    ):  # fmt: skip
        assert cond.wait_for(lambda: began == [0, 1], TIMEOUT), began
        wait_until(lambda: mediator.stats().waiting == 2, "both cases to park")
    store.close()


def test_a_worker_holding_many_parked_cases_claims_new_ones_at_their_full_number(tmp_path):
    # 300 cases park on an hour's timer, each freeing its place as it parks: the worker
    # holds all of them and still claims as many new cases as it has places (4), no
    # fewer (the parked ones take none) and no more (the 4 it runs take all). The count a
    # claim reads is kept as jobs change, not recounted over the 300 held.
    napping, napped, cond = _napping_flow()
    gated, began, gate, wait_for = _gated_flow()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = open_store(url)
    enqueue_many(store, napping, [{"n": n} for n in range(300)])
    clock = VirtualClock(start=time.time())
    worker = open_store(url)
    claims: list[tuple[int, int]] = []  # (room, cases taken) of each claim
    claim = worker.claim

    def counted_claim(*args: Any, **kwargs: Any) -> list[Any]:
        taken = claim(*args, **kwargs)
        claims.append((kwargs["limit"], len({job.case_id for job in taken})))
        return taken

    worker.claim = counted_claim  # type: ignore[method-assign]
    with Mediator(
        [napping, gated], runners=4, capacity=4, store=worker, owner="w", clock=clock,
        poll_interval=INTERVAL,
    ) as mediator:  # fmt: skip
        # The start takes 4; each case that parks frees its place, and the worker, backlogged,
        # claims again at once: all 300 are claimed and parked with the clock standing.
        wait_until(lambda: mediator.stats().waiting == 300, "300 cases to park")
        with cond:
            assert sorted(napped) == list(range(300))
        # The claim the last parks made found the store empty (the backlog ended there).
        wait_until(lambda: claims[-1][1] < claims[-1][0], "a claim to find the store empty")
        assert sum(taken for _, taken in claims) == 300  # the start's claim too
        claims.clear()
        enqueue_many(store, gated, [{"n": n} for n in range(8)])  # 8 at once: one commit
        due = clock.wait_for_alarm(at_least=clock.now() + 1e-6)
        clock.advance(due - clock.now())  # by this poll: 4 places free, 4 cases taken
        wait_for(4)
        for _ in range(3):  # polls a tenth apart while the 4 run: no place is free
            due = clock.wait_for_alarm(at_least=clock.now() + 1e-6)
            clock.advance(due - clock.now())
        clock.wait_for_alarm(at_least=clock.now() + 1e-6)  # the last poll is over
        assert [c for c in claims if c[1]] == [(4, 4)] and len(began) == 4
        gate.set()
        wait_for(8)
        wait_until(lambda: mediator.stats().waiting == 300, "the gated cases to end")
    assert sorted(began) == list(range(8))
    store.close()
