"""User code that is neither a task nor a handler, run again by a stalled worker.

A worker that stalls past its lease inside a step wakes later and runs that step to its
end, whatever the step's kind: a choice's ``spec``, a dynamic split's ``branches``
function and a failed task's ``on_fault`` run again there, as a task does. Users put
effects in them (a one-use coupon claimed in the test that decides the price, parcels
booked while listing them, a mail sent from the fault path); each is found with a
``"stalled"`` crash, and the version that keeps its effect in a keyed task passes.
"""

from __future__ import annotations

from typing import Any

import pytest

from actors import (
    ExclusiveChoice,
    ParallelSplit,
    Retry,
    Sequential,
    StepContext,
    Synchronize,
    Workflow,
)
from actors.testing import Crash, FaultPlan, Harness, InvariantViolation, explore, replay

BUDGET = 40  # seeds: each bug below shows within its first few


def _report(scenario: Any, flow: Workflow, at_step: int) -> list[str]:
    """The report of the first seed of ``BUDGET`` that fails under a stall at ``at_step``."""
    plan = FaultPlan(crashes=(Crash(at_step, point="stalled"),))
    with pytest.raises(InvariantViolation) as found:
        explore(scenario, runs=BUDGET, workflows=[flow], faults=plan, runners=2)
    return str(found.value).splitlines()


def _passes(scenario: Any, flow: Workflow, at_step: int) -> None:
    plan = FaultPlan(crashes=(Crash(at_step, point="stalled"),))
    explore(scenario, runs=BUDGET, workflows=[flow], faults=plan, runners=2)


def _trace(lines: list[str]) -> list[str]:
    """The trace lines of a report, without their index."""
    return [line.split(None, 1)[1] for line in lines if line[:7].strip().isdigit()]


def _index(lines: list[str], *parts: str) -> int:
    return next(i for i, line in enumerate(lines) if all(p in line for p in parts))


# -- A one-use coupon claimed in a choice's spec -------------------------------------------

coupons: dict[str, str] = {}  # the shop's coupons: code -> the order that used it


def _claim(data: dict[str, Any]) -> bool:
    if data["coupon"] in coupons:
        return False  # used already
    coupons[data["coupon"]] = data["order"]
    return True


def _priced(data: dict[str, Any], price: int) -> None:
    data["price"] = price


def _checkout(spec: Any, before: Any) -> Workflow:
    return Workflow("checkout", start="cart", steps=[
        Sequential("cart", before, next="coupon?"),
        ExclusiveChoice("coupon?", spec=spec, if_true="discount", if_false="full"),
        Sequential("discount", lambda d: _priced(d, 80)),
        Sequential("full", lambda d: _priced(d, 100)),
    ])  # fmt: skip


def _buy_with_coupon(h: Harness) -> None:
    coupons.clear()
    h.schedule("checkout", {"order": "o1", "coupon": "SPRING"}, job_id="o1")
    (job,) = h.finish()
    if coupons.get("SPRING") == "o1" and job.data["price"] != 80:
        h.fail(f"o1 used its coupon and paid {job.data['price']}")


def test_a_coupon_claimed_in_a_choice_s_spec_is_found_when_a_worker_stalls() -> None:
    lines = _report(_buy_with_coupon, _checkout(_claim, lambda d: d), at_step=2)
    assert lines[0] == "o1 used its coupon and paid 100"
    trace = _trace(lines)
    stalled = _index(trace, "stalled", "o1", "before 'coupon?' (step #2)")
    late = _index(trace, "wakes", "o1", "runs 'coupon?' late (spec)")
    full = _index(trace, "RunJob", "o1", "ran 'coupon?', 'full'")
    assert stalled < late < full, trace  # the stalled worker claimed it first
    assert "save fenced" in trace[late + 1]


def test_the_coupon_claimed_in_a_keyed_task_passes() -> None:
    def claim(data: dict[str, Any]) -> None:
        # Claimed for this order: a rerun finds its own claim, not someone else's.
        data["discounted"] = coupons.setdefault(data["coupon"], data["order"]) == data["order"]

    _passes(_buy_with_coupon, _checkout(lambda d: d["discounted"], claim), at_step=1)
    _passes(_buy_with_coupon, _checkout(lambda d: d["discounted"], claim), at_step=2)


# -- Parcels booked in a dynamic split's branches function ---------------------------------

parcels: list[tuple[str, str]] = []  # the carrier's bookings: (order, item)


def _book_parcels(data: dict[str, Any]) -> list[dict[str, Any]]:
    booked = [{"item": item} for item in data["items"]]
    parcels.extend((data["order"], b["item"]) for b in booked)  # booked while listed
    return booked


def _shipping(branches: Any, label: Any) -> Workflow:
    return Workflow("ship", start="split", steps=[
        ParallelSplit("split", branches=branches, each="label"),
        Sequential("label", label, next="join"),
        Synchronize("join"),
    ])  # fmt: skip


def _ship_two_items(h: Harness) -> None:
    parcels.clear()
    h.schedule("ship", {"order": "s1", "items": ["lamp", "desk"]}, job_id="s1")
    h.finish()
    if sorted(parcels) != [("s1", "desk"), ("s1", "lamp")]:
        h.fail(f"the carrier holds {len(parcels)} parcels for 2 items: {sorted(parcels)}")


def test_parcels_booked_in_a_split_s_branches_function_are_found_when_a_worker_stalls() -> None:
    lines = _report(_ship_two_items, _shipping(_book_parcels, lambda d: d), at_step=1)
    assert lines[0].startswith("the carrier holds 4 parcels for 2 items"), lines[0]
    trace = _trace(lines)
    stalled = _index(trace, "stalled", "s1", "before 'split' (step #1)")
    late = _index(trace, "wakes", "s1", "runs 'split' late (branches)")
    assert stalled < late, trace


def test_parcels_booked_by_each_branch_on_its_key_pass() -> None:
    booked: dict[str, tuple[str, str]] = {}

    def label(data: dict[str, Any], ctx: StepContext) -> None:
        booked.setdefault(ctx.idempotency_key, (ctx.job_id, data["item"]))

    def scenario(h: Harness) -> None:
        booked.clear()
        h.schedule("ship", {"order": "s1", "items": ["lamp", "desk"]}, job_id="s1")
        h.finish()
        if sorted(item for _, item in booked.values()) != ["desk", "lamp"]:
            h.fail(f"the carrier holds {sorted(booked.values())} for 2 items")

    flow = _shipping(lambda d: [{"item": i} for i in d["items"]], label)
    for at_step in (1, 2, 3):
        _passes(scenario, flow, at_step)


# -- A mail sent from a failed task's on_fault ---------------------------------------------

mails: list[str] = []


class DeclinedError(Exception):
    """The card was declined."""


def _charge(data: dict[str, Any]) -> None:
    raise DeclinedError(data["order"])


def _payment(on_fault: Any) -> Workflow:
    return Workflow("pay", start="charge", steps=[
        Sequential("charge", _charge, on_fault=on_fault, fault_next="cancel"),
        Sequential("cancel", lambda d: {**d, "cancelled": True}),
    ])  # fmt: skip


def _tell_the_customer(data: dict[str, Any], error: BaseException) -> None:
    mails.append(f"order {data['order']}: payment declined")


def _declined_once(h: Harness) -> None:
    mails.clear()
    h.schedule("pay", {"order": "p1"}, job_id="p1")
    h.finish()
    if len(mails) != 1:
        h.fail(f"sent {len(mails)} mails for one declined payment")


def test_a_mail_sent_from_on_fault_is_found_when_a_worker_stalls() -> None:
    lines = _report(_declined_once, _payment(_tell_the_customer), at_step=1)
    assert lines[0] == "sent 2 mails for one declined payment"
    trace = _trace(lines)
    stalled = _index(trace, "stalled", "p1", "before 'charge' (step #1)")
    late = _index(trace, "wakes", "p1", "runs 'charge' late")
    assert stalled < late, trace


def test_the_mail_sent_once_per_order_passes() -> None:
    sent: dict[str, str] = {}

    def tell(data: dict[str, Any], error: BaseException) -> None:
        sent.setdefault(f"declined:{data['order']}", "payment declined")  # the mailer's key

    def scenario(h: Harness) -> None:
        sent.clear()
        h.schedule("pay", {"order": "p1"}, job_id="p1")
        h.finish()
        assert list(sent) == ["declined:p1"]

    _passes(scenario, _payment(tell), at_step=1)


def test_a_late_run_whose_task_fails_says_so_in_the_trace() -> None:
    # With a retry: the late attempt's failure is what the trace shows, save fenced.
    flow = Workflow("pay", start="charge", steps=[
        Sequential("charge", _charge, retry=Retry(attempts=3)),
    ])  # fmt: skip

    def scenario(h: Harness) -> None:
        h.schedule("pay", {"order": "p1"}, job_id="p1")
        h.finish()

    plan = FaultPlan(crashes=(Crash(1, point="stalled"),))
    run = replay(scenario, seed=3, workflows=[flow], faults=plan)
    late = [str(e).split(None, 1)[1] for e in run.trace if "p1" in str(e)]
    woke = _index(late, "wakes", "runs 'charge' late")
    assert "task raised" in late[woke + 1], late
    assert "step 'charge': DeclinedError: p1 (attempt 1)" in late[woke + 1], late
