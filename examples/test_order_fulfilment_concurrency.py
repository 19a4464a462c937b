"""Property-test an order workflow's concurrency with the deterministic harness.

reserve -> split(payment, shipping, notification) -> join -> confirm

Hypothesis picks the engine configuration, the faults (runner crashes between steps and
after a task before its save is stored, workers stalled past their lease, stalls) and
every interleaving of the engine's messages; the harness runs the real Scheduler and
Runners without threads and checks the engine's invariants after every delivery. The
properties here are the workflow's own: every order is confirmed exactly once, after all
three branches, with each side effect performed exactly once, though a crash runs a step
again: each effect is keyed on its step's idempotency key.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import JobState, ParallelSplit, Sequential, StepContext, Synchronize, Workflow
from actors.testing import Harness, explore, replay
from actors.testing.strategies import engine_configs, fault_plans

# Side effects as the outside world sees them (a payment provider, a carrier, a mailer).
# Each is keyed on the step's idempotency key, which a step run again keeps: the outside
# world takes it once. Keyed on anything else, a rerun would do it twice.
EFFECTS: dict[str, tuple[str, int]] = {}
NAMES = ("reserved", "paid", "shipped", "notified", "confirmed")


def effect(name: str):
    def task(order: dict[str, Any], ctx: StepContext) -> None:
        EFFECTS.setdefault(ctx.idempotency_key, (name, order["order"]))
        order[name] = True

    return task


def combine(order: dict[str, Any], branches: list[dict[str, Any]]) -> None:
    for branch in branches:
        order.update({k: v for k, v in branch.items() if v is True})


def confirm(order: dict[str, Any], ctx: StepContext) -> None:
    assert all(order.get(k) for k in ("paid", "shipped", "notified")), order  # after all three
    EFFECTS.setdefault(ctx.idempotency_key, ("confirmed", order["order"]))
    order["confirmed"] = True


def each_effect_once(orders: list[int]) -> bool:
    """Every effect of each of ``orders`` happened once, and nothing else happened."""
    return Counter(EFFECTS.values()) == Counter((n, o) for o in orders for n in NAMES)


ORDER = Workflow("order", start="reserve", steps=[
    Sequential("reserve", effect("reserved"), next="fan_out"),
    ParallelSplit("fan_out", branches=["payment", "shipping", "notification"]),
    Sequential("payment", effect("paid"), next="join"),
    Sequential("shipping", effect("shipped"), next="join"),
    Sequential("notification", effect("notified"), next="join"),
    Synchronize("join", merge=combine, next="confirm"),
    Sequential("confirm", confirm),
])  # fmt: skip


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=engine_configs(),
    faults=fault_plans(events=False),
    orders=st.integers(1, 5),
    data=st.data(),
)
def test_every_order_is_confirmed_exactly_once_after_all_branches(config, faults, orders, data):
    EFFECTS.clear()
    with Harness(
        [ORDER],
        data=data,  # Hypothesis chooses every interleaving: failures shrink
        runners=config.runners,
        capacity=config.capacity,
        full_mode=config.full_mode,
        faults=faults,
    ) as h:
        for n in range(orders):
            h.schedule("order", {"order": n})
        results = h.finish()  # Deadlock / InvariantViolation if the engine misbehaves
    done = [job for job in results if job.state is JobState.DONE]
    assert all(job.state in (JobState.DONE, JobState.SHED) for job in results)
    assert all(job.data["confirmed"] for job in done)
    assert each_effect_once([job.data["order"] for job in done])  # a shed order did nothing


def test_a_seed_replays_the_same_interleaving(harness):
    def scenario(h: Harness) -> None:
        for n in range(3):
            h.schedule("order", {"order": n})
        h.finish()

    first = harness([ORDER], runners=3, capacity=2)
    scenario(first)
    again = replay(scenario, seed=first.seed, workflows=[ORDER], runners=3, capacity=2)
    assert again.trace == first.trace


def test_a_thousand_seeded_schedules_on_every_core():
    # Without Hypothesis: seeds 0..999, shared out to two forked copies of this process.
    # A failure is the lowest failing seed, replayed here with its trace and its seed.
    def scenario(h: Harness) -> None:
        EFFECTS.clear()
        for n in range(2):
            h.schedule("order", {"order": n})
        results = h.finish()
        assert all(job.data["confirmed"] for job in results)
        assert each_effect_once([0, 1])

    assert explore(scenario, runs=1000, workers=2, workflows=[ORDER], runners=3) == 1000
