"""Bugs users write around the control-flow patterns, found as the harness guide says.

Written as user code: the workflow, the scenario, the check that fails on the bug. Each
is searched for by Hypothesis (the interleaving and the moment an outside call comes),
the same search on every run; the report must show what the bug did.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from actors import (
    DeferredChoice,
    JobState,
    ParallelSplit,
    RequestReaction,
    Sequential,
    SimpleMerge,
    Synchronize,
    Workflow,
)
from actors.testing import Harness

SEARCH = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,  # the same search on every run: found, or a bug to fix
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)


def _report(test: Any) -> str:
    """The failure report of the shrunk example of ``test`` (a Hypothesis test)."""
    with pytest.raises(AssertionError) as failed:
        test()
    return "\n".join([str(failed.value), *getattr(failed.value, "__notes__", ())])


def test_a_step_that_assumes_the_reply_came_is_found_when_the_timeout_wins() -> None:
    # The timeout leads to the same step as the reply, which reads the reply's field.
    flow = Workflow(
        "approval",
        [
            RequestReaction(
                "ask",
                send=lambda data, ctx: None,
                on_reply=lambda data, reply: {**data, "approved": reply["approved"]},
                next="book",
                timeout=30,
                on_timeout="book",
            ),
            Sequential("book", lambda data: {**data, "booked": data["approved"]}),
        ],
        "ask",
    )

    @SEARCH
    @given(at=st.integers(0, 20), data=st.data())
    def approved_orders_book(at: int, data: st.DataObject) -> None:
        with Harness([flow], data=data, runners=2) as h:
            h.schedule("approval", {}, job_id="a1")
            h.at(at, lambda: h.receive_event("a1/ask", {"approved": True}))
            (job,) = h.finish()
            assert job.state is JobState.DONE, job.error

    report = _report(approved_orders_book)
    assert "step 'book': KeyError: 'approved'" in report
    assert "TimerDue" in report  # the timeout moved the job on: the reply came late,
    assert "a1/ask -> late" in report or "a1/ask -> unknown" in report  # or before the ask


def test_a_payment_captured_for_an_order_that_expired_is_found() -> None:
    # The webhook captures the payment, then sends the event, and ignores its outcome.
    ledger = {"captured": 0, "shipped": 0}
    flow = Workflow(
        "checkout",
        [
            Sequential("prepare", lambda d: None, next="which"),
            DeferredChoice("which", events={"paid": "ship"}, timeout=3600, on_timeout="expire"),
            Sequential("ship", lambda d: ledger.update(shipped=ledger["shipped"] + 1)),
            Sequential("expire", lambda d: None),
        ],
        "prepare",
    )

    def webhook(h: Harness) -> None:
        ledger["captured"] += 1
        h.receive_event("o1/which/paid", {"amount": 30})

    @SEARCH
    @given(at=st.integers(0, 20), data=st.data())
    def every_capture_ships(at: int, data: st.DataObject) -> None:
        ledger.update(captured=0, shipped=0)
        with Harness([flow], data=data, runners=2) as h:
            h.schedule("checkout", {}, job_id="o1")
            h.at(at, lambda: webhook(h))
            h.finish()
            assert ledger["captured"] == ledger["shipped"], ledger

    report = _report(every_capture_ships)
    assert "done at 'expire'" in report
    assert "o1/which/paid -> late" in report  # or unknown: sent before the job waited
    # The fix: the webhook refunds when the outcome is not DELIVERED (not shown here).


def test_a_step_reading_a_cache_a_sibling_branch_fills_is_found() -> None:
    cache: dict[str, float] = {}

    def fetch_rate(data: dict[str, Any]) -> None:
        cache["rate"] = 1.2

    def price(data: dict[str, Any]) -> None:
        data["price"] = 100 * cache.get("rate", 1.0)  # assumes fetch_rate ran first

    flow = Workflow(
        "quote",
        [
            ParallelSplit("split", branches=["fetch_rate", "price"]),
            Sequential("fetch_rate", fetch_rate, next="join"),
            Sequential("price", price, next="join"),
            Synchronize("join", merge=lambda parent, branches: branches[1]),
        ],
        "split",
    )

    @SEARCH
    @given(runners=st.integers(1, 3), data=st.data())
    def priced_at_the_rate(runners: int, data: st.DataObject) -> None:
        cache.clear()
        with Harness([flow], data=data, runners=runners) as h:
            h.schedule("quote", {})
            (job,) = h.finish()
            assert job.data["price"] == 120, job.data

    report = _report(priced_at_the_rate)
    assert "runners=2" in report  # one runner takes the branches in order
    # The trace shows 'price' run before 'fetch_rate' (whose runner may have paused).
    lines = report.splitlines()
    priced = next(i for i, line in enumerate(lines) if "ran 'price'" in line)
    fetched = [i for i, line in enumerate(lines) if "go on" in line and "'fetch_rate'" in line]
    fetched = fetched or [i for i, line in enumerate(lines) if "ran 'fetch_rate'" in line]
    assert priced < fetched[0], report


def test_a_simple_merge_where_a_join_was_meant_runs_the_next_step_twice() -> None:
    mails: list[int] = []
    flow = Workflow(
        "order",
        [
            ParallelSplit("split", branches=["pay", "ship"]),
            Sequential("pay", lambda d: {**d, "paid": True}, next="merge"),
            Sequential("ship", lambda d: {**d, "shipped": True}, next="merge"),
            SimpleMerge("merge", next="confirm"),  # a Synchronize was meant
            Sequential("confirm", lambda d: mails.append(d["order"])),
        ],
        "split",
    )

    @SEARCH
    @given(data=st.data())
    def one_mail(data: st.DataObject) -> None:
        mails.clear()
        with Harness([flow], data=data, runners=2) as h:
            h.schedule("order", {"order": 1})
            h.finish()
            assert mails == [1]

    report = _report(one_mail)
    runs = [line for line in report.splitlines() if "'confirm'" in line and "RunJob" in line]
    assert len(runs) == 2, report  # each branch went through the merge and confirmed


def test_a_cancel_during_a_two_step_compensation_is_found() -> None:
    ledger: dict[str, bool] = {}

    def ship(data: dict[str, Any]) -> None:
        raise RuntimeError("carrier down")

    flow = Workflow(
        "order",
        [
            Sequential("charge", lambda d: ledger.update(charged=True), next="ship"),
            Sequential("ship", ship, on_fault=lambda d, error: None, fault_next="refund"),
            Sequential("refund", lambda d: ledger.update(charged=False), next="release"),
            Sequential("release", lambda d: ledger.update(released=True)),
        ],
        "charge",
    )

    @SEARCH
    @given(at=st.integers(0, 12), data=st.data())
    def compensation_completes(at: int, data: st.DataObject) -> None:
        ledger.clear()
        with Harness([flow], data=data, runners=2) as h:
            h.schedule("order", {}, job_id="o1")
            h.at(at, lambda: h.cancel("o1"))
            h.finish()
            if ledger.get("charged") is False:
                assert ledger.get("released"), ledger

    report = _report(compensation_completes)
    assert "cancelled at 'release'" in report
    assert "pause         o1     before 'refund'" in report
