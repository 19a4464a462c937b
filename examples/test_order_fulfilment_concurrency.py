"""Property-test an order workflow's concurrency with the deterministic harness.

reserve -> split(payment, shipping, notification) -> join -> confirm

Hypothesis picks the engine configuration, the faults (runner crashes between steps,
stalls) and every interleaving of the engine's messages; the harness runs the real
Scheduler and Runners without threads and checks the engine's invariants after every
delivery. The properties here are the workflow's own: every order is confirmed exactly
once, after all three branches, with each side effect performed exactly once.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import JobState, ParallelSplit, Sequential, StepContext, Synchronize, Workflow
from actors.testing import Harness, explore, replay
from actors.testing.strategies import engine_configs, fault_plans

# Side effects as the outside world sees them (a payment provider, a carrier, a mailer),
# keyed by the step's idempotency key so a repeated step would show up twice.
EFFECTS: list[str] = []


def effect(name: str):
    def task(order: dict[str, Any], ctx: StepContext) -> None:
        EFFECTS.append(f"{name}:{ctx.idempotency_key}")
        order[name] = True

    return task


def combine(order: dict[str, Any], branches: list[dict[str, Any]]) -> None:
    for branch in branches:
        order.update({k: v for k, v in branch.items() if v is True})


def confirm(order: dict[str, Any], ctx: StepContext) -> None:
    assert all(order.get(k) for k in ("paid", "shipped", "notified")), order  # after all three
    EFFECTS.append(f"confirm:{ctx.idempotency_key}")
    order["confirmed"] = True


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
    assert len(EFFECTS) == len(set(EFFECTS))  # no side effect happened twice
    assert sum(e.startswith("confirm:") for e in EFFECTS) == len(done)


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
        assert len(EFFECTS) == len(set(EFFECTS))

    assert explore(scenario, runs=1000, workers=2, workflows=[ORDER], runners=3) == 1000
