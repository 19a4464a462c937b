"""A backlogged worker ignores wake-ups: it claims as a quarter of its places free.

Wake-ups (an enqueue in the process, PostgreSQL's ``NOTIFY``, the SQLite store's watch of
its file) tell a worker that a case is free. A backlogged worker (its last claim filled
every place) knows that already, and claims again once a quarter of its places are free
or at its next poll. Claiming at each wake-up took one or two places at a time: on
SQLite, whose watcher wakes at every commit while a case is free, a claim every 10 ms.
"""

import threading
import time
from typing import Any

from bounds import TIMEOUT, wait_until

from actors import JobState, Mediator, Sequential, Workflow, enqueue
from actors.stores import SqliteStore, Store, open_store
from actors.stores._wake import notify
from actors.testing import VirtualClock

INTERVAL = 10.0


def test_a_backlogged_worker_with_a_place_free_is_not_made_to_claim_by_wake_ups(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(SqliteStore, "watch", Store.watch)  # wake-ups only as the test sends
    gates = [threading.Event() for _ in range(16)]

    def step(data: dict[str, Any]) -> None:
        assert gates[data["n"]].wait(TIMEOUT), "the test never opened the gate"

    flow = Workflow("gated", start="one", steps=[Sequential("one", step)])
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = open_store(url)
    ids = [enqueue(store, flow, {"n": n}) for n in range(16)]
    worker = open_store(url)
    claimed: list[int] = []
    claim = worker.claim

    def counted_claim(*args: Any, **kwargs: Any) -> list[Any]:
        taken = claim(*args, **kwargs)
        claimed.append(len(taken))
        return taken

    worker.claim = counted_claim  # type: ignore[method-assign]
    clock = VirtualClock(start=time.time())
    with Mediator(
        [flow], runners=8, capacity=8, store=worker, owner="w", clock=clock, poll_interval=INTERVAL
    ) as mediator:
        wait_until(lambda: mediator.stats().running == 8, "the start's 8 cases to run")
        assert claimed == [8]  # every place filled: backlogged
        gates[0].set()  # one case ends: a place is free, fewer than a quarter of them (2)
        wait_until(lambda: mediator.stats().done == 1, "the first case to end")
        for _ in range(5):
            notify(worker.wake_key)
        # Each stats() is answered after every message sent before it: the wake-ups,
        # then the poll any of them would have set (its alarm rings as it is set).
        mediator.stats()
        mediator.stats()
        assert claimed == [8]
        gates[1].set()  # a quarter of the places free: the worker claims two cases
        wait_until(lambda: len(claimed) == 2, "the claim a quarter of the places brings")
        assert claimed == [8, 2]
        for gate in gates:
            gate.set()
        wait_until(lambda: all(store.get(i).state is JobState.DONE for i in ids), "all cases")
    store.close()
