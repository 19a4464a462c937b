"""A user's bug: an idempotency key built from the time, which a rerun after a takeover changes.

The payment service deduplicates on the key the task sends. A key made of the order and
the time the task runs (read from the engine's clock, as the harness guide says a task
should read time) is the same on every run within one second, so a rerun at the same
instant is deduplicated; but a case is taken over only once its worker's lease has
lapsed, and the rerun then sends a new key: the order is charged twice. The harness
must let the lease's time pass before the takeover, or it never shows this.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from actors import JobState, Sequential, StepContext, Workflow
from actors.testing import Crash, FaultPlan, Harness, InvariantViolation, VirtualClock
from actors.testing.strategies import fault_plans

charges: dict[str, int] = {}  # the payment service: key -> order, the first charge wins


def _flow(now: Any, *, keyed: bool) -> Workflow:
    def charge(data: dict[str, Any], ctx: StepContext) -> None:
        key = ctx.idempotency_key if keyed else f"order-{data['order']}-{now():.0f}"
        charges.setdefault(key, data["order"])

    return Workflow("pay", start="charge", steps=[
        Sequential("charge", charge, next="ship"),
        Sequential("ship", lambda data: {**data, "shipped": True}),
    ])  # fmt: skip


def _charged_twice(seed: int, crash: Crash, *, keyed: bool = False) -> str | None:
    """The report of ``crash``'s run under ``seed`` if the order was charged twice."""
    charges.clear()
    clock = VirtualClock()
    try:
        flow = _flow(clock.now, keyed=keyed)
        with Harness([flow], seed=seed, clock=clock, faults=FaultPlan(crashes=(crash,))) as h:
            h.schedule("pay", {"order": 1}, job_id="o1")
            (job,) = h.finish()
            assert job.state is JobState.DONE
            if len(charges) > 1:
                h.fail(f"order 1 charged {len(charges)} times: {sorted(charges)}")
    except InvariantViolation as found:
        return str(found)
    return None


def test_a_key_built_from_the_time_is_found_by_an_expired_lease() -> None:
    """The rerun comes a lease later, with a new key: found in every seed."""
    crash = Crash(1, point="before_save", lease=True)
    found = [seed for seed in range(500) if _charged_twice(seed, crash)]
    assert found == list(range(500))
    report = _charged_twice(0, crash)
    assert report is not None
    assert "['order-1-0', 'order-1-15']" in report
    assert "taken over at t=15, once its lease lapsed" in report


def test_a_runner_restarted_at_once_reruns_at_the_same_instant() -> None:
    """A crash of a runner alone is no takeover: pykka restarts it at once, no time passes."""
    crash = Crash(1, point="before_save")
    assert [seed for seed in range(500) if _charged_twice(seed, crash)] == []


def test_the_key_the_engine_gives_passes_every_takeover() -> None:
    for point in ("before_step", "before_save", "stalled"):
        crash = Crash(1, point=point, lease=True)
        assert [seed for seed in range(100) if _charged_twice(seed, crash, keyed=True)] == []


def test_a_stalled_worker_s_case_is_taken_over_once_its_lease_lapsed() -> None:
    """A stall is a lost lease too: the resumed step runs a lease later."""
    seen: list[float] = []
    clock = VirtualClock()
    flow = Workflow("pay", start="charge", steps=[
        Sequential("charge", lambda data: seen.append(clock.now())),
    ])  # fmt: skip
    plan = FaultPlan(crashes=(Crash(1, point="stalled"),))
    with Harness([flow], seed=3, clock=clock, faults=plan) as h:
        h.schedule("pay", {})
        h.finish()
    assert seen == [15.0, 15.0]  # the takeover's run, and the stalled worker's late one


_no_explain = [p for p in Phase if p is not Phase.explain]


def test_hypothesis_finds_it_and_shrinks_it_to_one_expired_lease() -> None:
    """As the guide draws crashes that rerun a step: the lease's time shows the bug."""
    plans = fault_plans(points=("before_save", "stalled"), max_step=4, stalls=False, events=False)

    @settings(max_examples=300, deadline=None, database=None, phases=_no_explain,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(plan=plans, seed=st.integers(0, 2**16))
    def search(plan: FaultPlan, seed: int) -> None:
        charges.clear()
        clock = VirtualClock()
        with Harness([_flow(clock.now, keyed=False)], seed=seed, clock=clock, faults=plan) as h:
            h.schedule("pay", {"order": 1})
            h.finish()
            assert len(charges) == 1, sorted(charges)

    try:
        search()
    except AssertionError as found:
        shrunk = "\n".join([str(found), *getattr(found, "__notes__", [])])
    else:
        raise AssertionError("no plan charged the order twice")
    assert "lease-expired" in shrunk
    assert "order-1-15" in shrunk
