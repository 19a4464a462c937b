"""A user's guard kept in a worker's memory: a takeover sends the mail again.

A task mails the customer once per order, and remembers in a set (the worker's memory)
the orders it mailed, to skip them when its step runs again. A runner the engine
restarts in the same process keeps that set, so a crash with no lost lease never shows
the bug. But a case taken over after its lease lapsed (the worker died, or stalled) runs
on another worker, in another process, whose set is empty: the mail goes out again. The
harness runs every worker in the test's process, so it needs to be told what a worker's
memory is: ``h.on_takeover(handled.clear)``. Then an expired lease finds the bug in
every seed and a stalled worker in most; the guard kept by the mail service, keyed on
the step's idempotency key, passes both.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from actors import Sequential, StepContext, Workflow
from actors.testing import Crash, FaultPlan, Harness, InvariantViolation, explore
from actors.testing.strategies import fault_plans

BUDGET = 40  # seeds

handled: set[int] = set()  # the worker's memory: orders mailed by this process
mails: list[int] = []  # the mail service: one entry per mail sent


def _mail_once(data: dict[str, Any]) -> None:
    if data["order"] in handled:
        return  # mailed already, as far as this process knows
    mails.append(data["order"])
    handled.add(data["order"])


welcome = Workflow("welcome", start="mail", steps=[
    Sequential("mail", _mail_once, next="done"),
    Sequential("done", lambda d: d),
])  # fmt: skip


def _one_order(forget: bool) -> Any:
    def scenario(h: Harness) -> None:
        handled.clear()
        mails.clear()
        if forget:
            h.on_takeover(handled.clear)
        h.schedule("welcome", {"order": 1}, job_id="w1")
        h.finish()
        if mails != [1]:
            h.fail(f"sent {len(mails)} mails for order 1")

    return scenario


def _search(scenario: Any, point: str, lease: bool, flow: Workflow = welcome) -> None:
    plan = FaultPlan(crashes=(Crash(1, point=point, lease=lease),))  # type: ignore[arg-type]
    explore(scenario, runs=BUDGET, workflows=[flow], faults=plan)


@pytest.mark.parametrize("point", ["before_save", "stalled"])
def test_a_guard_in_the_worker_s_memory_is_found_once_the_harness_forgets_it(point: str) -> None:
    with pytest.raises(InvariantViolation) as found:
        _search(_one_order(forget=True), point, lease=True)
    lines = str(found.value).splitlines()
    assert lines[0] == "sent 2 mails for order 1"
    assert any("once its lease lapsed" in line for line in lines), lines


def test_an_expired_lease_finds_it_in_every_seed() -> None:
    plan = FaultPlan(crashes=(Crash(1, point="before_save", lease=True),))
    for seed in range(BUDGET):
        with pytest.raises(InvariantViolation), Harness([welcome], seed=seed, faults=plan) as h:
            _one_order(forget=True)(h)


def test_fault_plans_find_it_and_shrink_it_to_one_expired_lease() -> None:
    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        derandomize=True,  # the same search on every run
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(plan=fault_plans(max_step=2, stalls=False, events=False), seed=st.integers(0, 2**16))
    def each_order_is_mailed_once(plan: FaultPlan, seed: int) -> None:
        with Harness([welcome], seed=seed, faults=plan) as h:
            _one_order(forget=True)(h)

    with pytest.raises(InvariantViolation) as found:
        each_order_is_mailed_once()
    assert str(found.value).splitlines()[0] == "sent 2 mails for order 1"
    shrunk = "\n".join(getattr(found.value, "__notes__", ()))
    assert "crashes=(Crash(at_step=1, lease=True, point='before_save'),)" in shrunk, shrunk


@pytest.mark.parametrize("point", ["before_save", "stalled"])
def test_without_on_takeover_the_harness_cannot_tell_the_memory_is_lost(point: str) -> None:
    _search(_one_order(forget=False), point, lease=True)


def test_a_runner_restarted_in_the_same_process_keeps_its_memory() -> None:
    # No lease lost: pykka restarts the runner at once, in the same process.
    _search(_one_order(forget=True), "before_save", lease=False)


@pytest.mark.parametrize("point", ["before_save", "stalled"])
def test_the_guard_kept_by_the_mail_service_passes(point: str) -> None:
    sent: dict[str, int] = {}  # the mail service: idempotency key -> order

    def mail(data: dict[str, Any], ctx: StepContext) -> None:
        sent.setdefault(ctx.idempotency_key, data["order"])

    def scenario(h: Harness) -> None:
        sent.clear()
        h.on_takeover(handled.clear)
        h.schedule("welcome", {"order": 1}, job_id="w1")
        h.finish()
        assert list(sent.values()) == [1]

    flow = Workflow("welcome", start="mail", steps=[
        Sequential("mail", mail, next="done"),
        Sequential("done", lambda d: d),
    ])  # fmt: skip
    _search(scenario, point, lease=True, flow=flow)


def test_on_takeover_takes_a_callable() -> None:
    with Harness([welcome], seed=1) as h:
        with pytest.raises(TypeError, match=r"Harness.on_takeover\(forget\) must be callable"):
            h.on_takeover(handled)  # type: ignore[arg-type]
        h.close()
