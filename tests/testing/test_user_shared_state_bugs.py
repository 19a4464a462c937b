"""Bugs users write when cases or branches share more than the engine says they do.

Written as user code, each found with ``explore`` as the harness guide says: cases that
are assumed to run in the order they were scheduled, a module-level "current order"
that two cases overwrite, a step after a ``Discriminator`` that reads what only the
branch the user thought fastest writes, and a compensation in one branch that runs
before the sibling's effect it undoes. Each search is a fixed budget of seeds (the same
runs every time), and the report must let the user see the bug.
"""

from __future__ import annotations

from typing import Any

import pytest

from actors import (
    Discriminator,
    JobState,
    ParallelSplit,
    Sequential,
    StepContext,
    Synchronize,
    Workflow,
)
from actors.testing import Harness, InvariantViolation, explore

BUDGET = 40  # seeds: each bug below shows within its first few


def _found(scenario: Any, flow: Workflow, **options: Any) -> list[str]:
    """The lines of the report of the first seed of ``BUDGET`` that fails ``scenario``."""
    with pytest.raises(InvariantViolation) as found:
        explore(scenario, runs=BUDGET, workflows=[flow], **options)
    return str(found.value).splitlines()


def _trace(lines: list[str]) -> list[str]:
    """The trace lines of a report, without their index."""
    return [line.split(None, 1)[1] for line in lines if line[:7].strip().isdigit()]


def _index(lines: list[str], *parts: str) -> int:
    return next(i for i, line in enumerate(lines) if all(p in line for p in parts))


# -- Cases assumed to run in the order they were scheduled --------------------------------

balances: dict[str, int] = {}


def _apply(data: dict[str, Any]) -> None:
    balance = balances.get(data["account"], 0)
    if data["kind"] == "withdraw" and balance < data["amount"]:
        raise ValueError(f"insufficient funds: {balance} < {data['amount']}")
    sign = 1 if data["kind"] == "deposit" else -1
    balances[data["account"]] = balance + sign * data["amount"]


movement = Workflow("move", start="check", steps=[
    Sequential("check", lambda d: d, next="apply"),  # a fraud check, say
    Sequential("apply", _apply),
])  # fmt: skip


def _deposit_then_withdraw(h: Harness) -> None:
    balances.clear()
    h.schedule("move", {"account": "ann", "kind": "deposit", "amount": 50}, job_id="dep")
    h.schedule("move", {"account": "ann", "kind": "withdraw", "amount": 30}, job_id="wd")
    for job in h.finish():
        if job.state is not JobState.DONE:
            h.fail(f"case {job.id} {job.state.name}: {job.error}")


def test_cases_assumed_to_run_in_the_order_they_were_scheduled_are_found() -> None:
    lines = _found(_deposit_then_withdraw, movement, runners=2)
    assert (
        lines[0]
        == "case wd FAULTED: step 'apply': ValueError: insufficient funds: 0 < 30 (attempt 1)"
    )
    trace = _trace(lines)
    # The withdrawal's 'apply' ran while the deposit's runner paused before its own.
    paused = _index(trace, "pause", "dep", "before 'apply'")
    faulted = _index(trace, "JobEnded", "wd", "faulted at 'apply'")
    went_on = _index(trace, "go on", "dep", "at 'apply'")
    assert paused < faulted < went_on, trace


def test_the_withdrawal_scheduled_once_the_deposit_ended_passes() -> None:
    def scenario(h: Harness) -> None:
        balances.clear()
        deposit = {"account": "ann", "kind": "deposit", "amount": 50}
        assert h.schedule("move", deposit).result().state is JobState.DONE
        h.schedule("move", {"account": "ann", "kind": "withdraw", "amount": 30})
        for job in h.finish():
            assert job.state is JobState.DONE, job.error

    explore(scenario, runs=BUDGET, workflows=[movement], runners=2)


# -- A module-level "current order" that two cases overwrite ------------------------------

current: dict[str, Any] = {}
invoices: list[tuple[int, int]] = []


def _load(data: dict[str, Any]) -> None:
    current["order"] = data["order"]  # the script it came from handled one order at a time


def _invoice(data: dict[str, Any]) -> None:
    invoices.append((data["order"], current["order"]))  # (the case's, the one invoiced)


billing = Workflow("bill", start="load", steps=[
    Sequential("load", _load, next="invoice"),
    Sequential("invoice", _invoice),
])  # fmt: skip


def _bill_two(h: Harness) -> None:
    current.clear()
    invoices.clear()
    for order in (1, 2):
        h.schedule("bill", {"order": order}, job_id=f"o{order}")
    h.finish()
    wrong = [(case, billed) for case, billed in invoices if case != billed]
    if wrong:
        h.fail(f"invoiced the wrong order (case, invoiced): {wrong}")


def test_a_module_level_current_order_two_cases_overwrite_is_found() -> None:
    lines = _found(_bill_two, billing, runners=2)
    assert lines[0] in (
        "invoiced the wrong order (case, invoiced): [(1, 2)]",
        "invoiced the wrong order (case, invoiced): [(2, 1)]",
    )
    trace = _trace(lines)
    late = "o1" if "(1, 2)" in lines[0] else "o2"
    other = "o2" if late == "o1" else "o1"
    # The late case paused before 'invoice' while the other loaded its order.
    paused = _index(trace, "pause", late, "before 'invoice'")
    loaded = _index(trace, "RunJob", other, "ran 'load'")
    went_on = _index(trace, "go on", late, "at 'invoice'")
    assert paused < loaded < went_on, trace


# -- A step after a Discriminator reads what only the "fast" branch writes ----------------


def _price_flow(quote: Any) -> Workflow:
    return Workflow("price", start="split", steps=[
        ParallelSplit("split", branches=["cache", "db"]),
        Sequential("cache", lambda d: {**d, "cached_price": 10}, next="first"),
        Sequential("db", lambda d: d, next="db_read"),  # two calls: the user thinks it slower
        Sequential("db_read", lambda d: {**d, "price": 10}, next="first"),
        Discriminator("first", next="quote"),
        Sequential("quote", quote),
    ])  # fmt: skip


def _quote_once(h: Harness) -> None:
    h.schedule("price", {}, job_id="q1")
    (job,) = h.finish()
    if job.state is not JobState.DONE:
        h.fail(f"q1 {job.state.name}: {job.error}")


def test_a_step_reading_the_field_only_the_fast_branch_writes_is_found() -> None:
    flow = _price_flow(lambda d: {**d, "quote": d["cached_price"] * 2})
    lines = _found(_quote_once, flow, runners=2)
    assert lines[0] == "q1 FAULTED: step 'quote': KeyError: 'cached_price' (attempt 1)"
    trace = _trace(lines)
    # Which branch is which, and that the slow one arrived first and won.
    spawned = _index(trace, "SpawnBranch", "branch 1 of q1 at 'db'")
    arrived = _index(trace, "BranchArrived", "branch 1 of q1 at 'first'")
    quoted = _index(trace, "RunJob", "q1", "ran 'first', 'quote'")
    assert spawned < arrived < quoted, trace
    assert any("stops before 'cache'" in line or "cancelled at 'cache'" in line for line in trace)


def test_the_quote_reading_either_branch_s_field_passes() -> None:
    flow = _price_flow(lambda d: {**d, "quote": d.get("cached_price", d.get("price")) * 2})
    explore(_quote_once, runs=BUDGET, workflows=[flow], runners=2)


# -- A compensation in one branch that runs before the effect it undoes -------------------

ledger: dict[str, int] = {}


def _charge(data: dict[str, Any], ctx: StepContext) -> None:
    ledger[ctx.job_id] = 30  # keyed on the branch, as the guide says: still not enough


def _screen(data: dict[str, Any]) -> None:
    raise RuntimeError("card flagged")


def _refund(data: dict[str, Any]) -> None:
    for key in list(ledger):  # undo whatever has been charged so far
        ledger[key] = 0


flagged_order = Workflow("order", start="split", steps=[
    ParallelSplit("split", branches=["charge", "screen"]),
    Sequential("charge", _charge, next="join"),
    Sequential("screen", _screen, on_fault=lambda d, e: None, fault_next="refund"),
    Sequential("refund", _refund, next="join"),
    Synchronize("join"),
])  # fmt: skip


def _flag_one(h: Harness) -> None:
    ledger.clear()
    h.schedule("order", {})
    h.finish()
    if sum(ledger.values()):
        h.fail(f"a flagged order kept its charge: {ledger}")


def test_a_compensation_that_runs_before_the_sibling_s_effect_is_found() -> None:
    lines = _found(_flag_one, flagged_order, runners=2)
    assert lines[0].startswith("a flagged order kept its charge: {")
    trace = _trace(lines)
    # The screening branch refunded while the charging branch paused before 'charge'.
    paused = _index(trace, "pause", "before 'charge'")
    refunded = _index(trace, "RunJob", "ran 'screen', 'refund'")
    went_on = _index(trace, "go on", "at 'charge'")
    assert paused < refunded < went_on, trace


def test_the_refund_after_the_join_passes() -> None:
    def screen(data: dict[str, Any]) -> None:
        raise RuntimeError("card flagged")

    def settle(data: dict[str, Any]) -> None:
        if data.get("flagged"):
            _refund(data)

    fixed = Workflow("order", start="split", steps=[
        ParallelSplit("split", branches=["charge", "screen"]),
        Sequential("charge", _charge, next="join"),
        Sequential("screen", screen, on_fault=lambda d, e: {**d, "flagged": True},
                   fault_next="join"),
        Synchronize("join", next="settle"),
        Sequential("settle", settle),
    ])  # fmt: skip
    explore(_flag_one, runs=BUDGET, workflows=[fixed], runners=2)
