"""A user's check-then-act across cases: the last item sold twice.

A shop's workflow looks at the stock in one step, lets an ``ExclusiveChoice`` decide on
what it saw, and takes the item in a later step. Two cases for the last item both see
it in stock when one looks between the other's look and take: the choice point between
steps lets the second case's runner act there, as a thread switch would. Found by
``explore`` within its first few seeds with two runners; the take that checks and
decrements in one step passes every seed.
"""

from __future__ import annotations

from typing import Any

import pytest

from actors import ExclusiveChoice, Sequential, Workflow
from actors.testing import Harness, InvariantViolation, explore

BUDGET = 40  # seeds: the bug shows within the first few

stock = {"lamp": 1}


def _look(data: dict[str, Any]) -> None:
    data["in_stock"] = stock[data["item"]] > 0


def _take(data: dict[str, Any]) -> None:
    stock[data["item"]] -= 1  # it was in stock when the case looked


def _sorry(data: dict[str, Any]) -> None:
    data["sold_out"] = True


shop = Workflow("buy", start="look", steps=[
    Sequential("look", _look, next="in_stock?"),
    ExclusiveChoice("in_stock?", spec=lambda d: d["in_stock"], if_true="take", if_false="sorry"),
    Sequential("take", _take),
    Sequential("sorry", _sorry),
])  # fmt: skip


def _two_buyers(h: Harness) -> None:
    stock["lamp"] = 1
    h.schedule("buy", {"item": "lamp"}, job_id="b1")
    h.schedule("buy", {"item": "lamp"}, job_id="b2")
    h.finish()
    if stock["lamp"] < 0:
        h.fail(f"sold {1 - stock['lamp']} lamps of 1 in stock")


def _trace(lines: list[str]) -> list[str]:
    """The trace lines of a report, without their index."""
    return [line.split(None, 1)[1] for line in lines if line[:7].strip().isdigit()]


def _index(lines: list[str], *parts: str) -> int:
    return next(i for i, line in enumerate(lines) if all(p in line for p in parts))


def test_two_cases_that_both_saw_the_last_item_in_stock_are_found() -> None:
    with pytest.raises(InvariantViolation) as found:
        explore(_two_buyers, runs=BUDGET, workflows=[shop], runners=2)
    lines = str(found.value).splitlines()
    assert lines[0] == "sold 2 lamps of 1 in stock"
    trace = _trace(lines)
    # One case looked, then paused; the other looked and took; then the first took too.
    paused = next(i for i, line in enumerate(trace) if "pause" in line)
    first = trace[paused].split()[2]
    other = "b2" if first == "b1" else "b1"
    took = _index(trace, "RunJob", other, "ran 'look', 'in_stock?', 'take'")
    went_on = _index(trace, "go on", first)
    assert "before 'in_stock?'" in trace[paused] or "before 'take'" in trace[paused], trace
    assert paused < took < went_on, trace


def test_the_take_that_checks_and_decrements_in_one_step_passes() -> None:
    def take_if_left(data: dict[str, Any]) -> None:
        # One step: no other runner acts between the check and the decrement.
        data["taken"] = stock[data["item"]] > 0
        if data["taken"]:
            stock[data["item"]] -= 1

    fixed = Workflow("buy", start="take", steps=[
        Sequential("take", take_if_left, next="taken?"),
        ExclusiveChoice("taken?", spec=lambda d: d["taken"], if_true="ship", if_false="sorry"),
        Sequential("ship", lambda d: d),
        Sequential("sorry", _sorry),
    ])  # fmt: skip
    explore(_two_buyers, runs=BUDGET, workflows=[fixed], runners=2)
