"""Check that a payment task survives crashes inside its step, and that stock never races.

charge -> ship, with the charge keyed on the step's idempotency key, and a stock count
kept by a pykka actor (put under the harness unchanged) so two branches cannot lose an
update. Hypothesis draws crash plans with every crash point (after the task ran and
before its save was stored; a worker stalled past its lease that wakes and runs the
step again; on SQLite's group commit, a group lost before it is stored), the number of
orders and the seed; each order must be charged exactly once.
"""

from __future__ import annotations

from typing import Any

import pykka
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import JobState, ParallelSplit, Sequential, StepContext, Synchronize, Workflow
from actors.stores import SqliteStore
from actors.testing import FaultPlan, Harness
from actors.testing.strategies import fault_plans

# The payment provider as the outside world sees it: one charge per idempotency key.
CHARGED: dict[str, int] = {}


def charge(order: dict[str, Any], ctx: StepContext) -> None:
    CHARGED.setdefault(ctx.idempotency_key, order["order"])  # a rerun charges nothing


PAY = Workflow("pay", start="charge", steps=[
    Sequential("charge", charge, next="ship"),
    Sequential("ship", lambda order: None),
])  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan=fault_plans(
        points=("before_step", "before_save", "stalled"), max_step=6, stalls=False, events=False
    ),
    orders=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_each_order_is_charged_exactly_once(plan: FaultPlan, orders: int, seed: int) -> None:
    CHARGED.clear()
    with Harness([PAY], seed=seed, runners=2, faults=plan) as h:
        for n in range(orders):
            h.schedule("pay", {"order": n})
        assert all(job.state is JobState.DONE for job in h.finish())
    assert sorted(CHARGED.values()) == list(range(orders))


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    plan=fault_plans(points=("in_group", "before_save"), max_step=6, stalls=False, events=False),
    seed=st.integers(0, 2**16),
)
def test_each_order_is_charged_once_on_sqlite_group_commit(
    tmp_path_factory: pytest.TempPathFactory, plan: FaultPlan, seed: int
) -> None:
    # SQLite's default commit="group": a runner hands its slice to the store's writer and
    # runs on; an "in_group" crash loses a whole group before it is stored.
    CHARGED.clear()
    store = SqliteStore(tmp_path_factory.mktemp("pay") / "jobs.db")
    try:
        with Harness([PAY], seed=seed, runners=2, store=store, faults=plan) as h:
            for n in range(2):
                h.schedule("pay", {"order": n})
            assert all(job.state is JobState.DONE for job in h.finish())
    finally:
        store.close()
    assert sorted(CHARGED.values()) == [0, 1]


class Stock(pykka.ThreadingActor):
    """The stock count: one actor owns it, so each take is one message, never a race."""

    def __init__(self, units: int) -> None:
        super().__init__()
        self.units = units

    def take(self) -> int:
        self.units -= 1
        return self.units


# The stock actor of the run under way (each run starts its own, under its harness).
ACTORS: dict[str, pykka.ActorRef[Stock]] = {}


def take(data: dict[str, Any]) -> None:
    ACTORS["stock"].proxy().take().get()


PICK = Workflow("pick", start="split", steps=[
    ParallelSplit("split", branches=["a", "b", "c"]),
    *(Sequential(b, take, next="join") for b in "abc"),
    Synchronize("join", merge=lambda parent, _: parent),
])  # fmt: skip


def test_branches_that_share_stock_through_an_actor_lose_no_update() -> None:
    for seed in range(30):
        with Harness([PICK], seed=seed, runners=2) as h:
            ACTORS["stock"] = h.actor(Stock, 10)  # the user's ThreadingActor, run by the harness
            h.schedule("pick", {})
            h.finish()
            assert ACTORS["stock"].proxy().units.get() == 7
