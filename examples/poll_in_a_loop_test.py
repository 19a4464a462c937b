from pathlib import Path
from typing import Any

import pytest

from actors import (
    EventOutcome,
    ExclusiveChoice,
    JobState,
    RequestReaction,
    Sequential,
    Spec,
    StepContext,
    Wait,
    Workflow,
)
from actors.testing import Harness
from poll_in_a_loop import PAUSE_S, TIMEOUT_S, ReportService, main, next_round, poller_workflow


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_late_reply_and_its_copy_send_the_round_back_to_ask(store: str, tmp_path: Path) -> None:
    url = "memory://" if store == "memory" else f"sqlite:///{tmp_path / 'poll.db'}"
    data, requests, outcomes = main(url)
    # Round 1's "failed" came after its timeout, twice, each while round 2 waited: both
    # were delivered to round 2, which kept neither and asked again.
    assert data["outcome"] == "fetched"
    assert [r["round"] for r in requests] == [1, 2, 2, 2]
    assert outcomes == [EventOutcome.DELIVERED] * 3


def naive_workflow(service: ReportService) -> Workflow:
    """The same poller, taking whatever reply comes as the current round's."""

    def ask(data: dict[str, Any], ctx: StepContext) -> None:
        service.ask(data["round"], ctx.correlation_id)

    return Workflow("poll", start="next_round", steps=[
        Sequential("next_round", next_round, next="ask"),
        RequestReaction("ask", send=ask, on_reply=lambda d, r: d.update(status=r["status"]),
                        next="ready?", timeout=TIMEOUT_S, on_timeout="pause"),
        ExclusiveChoice("ready?", Spec(lambda d: d["status"] == "ready", "ready"),
                        if_true="fetch", if_false="failed?"),
        ExclusiveChoice("failed?", Spec(lambda d: d["status"] == "failed", "failed"),
                        if_true="give_up", if_false="pause"),
        Wait("pause", duration=PAUSE_S, next="next_round"),
        Sequential("fetch", lambda d: d.update(outcome="fetched")),
        Sequential("give_up", lambda d: d.update(outcome="gave up")),
    ])  # fmt: skip


def late_reply(make: Any, seed: int) -> tuple[Any, list[dict[str, Any]]]:
    """Round 1 times out; its reply comes once round 2 waits; then round 2's own reply."""
    service = ReportService()
    with Harness([make(service)], seed=seed) as h:
        case = h.schedule("poll", {}, job_id="report-1")
        h.run_until_quiescent(advance_time=False)  # round 1 asked
        h.advance(TIMEOUT_S)  # no reply in time
        h.run_until_quiescent(advance_time=False)  # the case pauses
        h.advance(PAUSE_S)
        h.run_until_quiescent(advance_time=False)  # round 2 asked
        h.receive_event("report-1/ask", {"round": 1, "status": "failed"})
        h.run_until_quiescent(advance_time=False)
        h.receive_event("report-1/ask", {"round": 2, "status": "ready"})
        h.finish()
    return case.result(), service.requests


@pytest.mark.parametrize("seed", range(5))
def test_the_harness_shows_a_poller_that_takes_an_earlier_round_s_reply(seed: int) -> None:
    job, requests = late_reply(naive_workflow, seed)
    # The bug: round 1's late "failed" is taken as round 2's answer, and the case gives
    # up though the report is ready; round 2's own reply is DUPLICATE and changes nothing.
    assert (job.state, job.data["outcome"]) == (JobState.DONE, "gave up")
    assert [r["round"] for r in requests] == [1, 2]


@pytest.mark.parametrize("seed", range(5))
def test_the_keyed_poller_keeps_only_its_round_s_reply(seed: int) -> None:
    job, requests = late_reply(poller_workflow, seed)
    assert (job.state, job.data["outcome"]) == (JobState.DONE, "fetched")
    assert [r["round"] for r in requests] == [1, 2, 2]
