"""An event that reaches no job says what the job it names waits on instead.

A misspelt event name or step is the commonest stray event: the log line that records it
names the ids the job does wait on, so the sender can see the mistake.
"""

from __future__ import annotations

import logging

import pytest
from bounds import TIMEOUT, wait_until

from actors import DeferredChoice, EventOutcome, JobState, Mediator, Sequential, Workflow

checkout = Workflow("checkout", start="which", steps=[
    DeferredChoice("which", events={"paid": "ship", "cancelled": "refund"}),
    Sequential("ship", lambda d: None),
    Sequential("refund", lambda d: None),
])  # fmt: skip


def test_a_misspelt_event_s_log_line_names_what_the_job_waits_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Mediator([checkout]) as mediator:
        handle = mediator.schedule("checkout", {}, job_id="order-7")
        parked = mediator.get_job  # the choice has no timeout: no alarm tells when it parks
        wait_until(lambda: parked("order-7").state is JobState.WAITING, "the park")
        with caplog.at_level(logging.INFO, logger="actors"):
            assert mediator.receive_event("order-7/which/payed") is EventOutcome.UNKNOWN
            assert mediator.receive_event("order-7/whcih/paid") is EventOutcome.UNKNOWN
        assert mediator.receive_event("order-7/which/paid") is EventOutcome.DELIVERED
        handle.result(timeout=TIMEOUT)
    lines = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
    waits = "job order-7 waits on 'order-7/which/cancelled', 'order-7/which/paid'"
    assert lines == [
        f"event for 'order-7/which/payed' not delivered: unknown ({waits})",
        f"event for 'order-7/whcih/paid' not delivered: unknown ({waits})",
    ]


def test_an_event_for_a_job_that_waits_on_nothing_says_only_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Mediator([checkout]) as mediator, caplog.at_level(logging.INFO, logger="actors"):
        assert mediator.receive_event("no-such-job/which/paid") is EventOutcome.UNKNOWN
    lines = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
    assert lines == ["event for 'no-such-job/which/paid' not delivered: unknown"]
