"""Wait timers, RequestReaction events, DeferredChoice, cancellation and retry backoff.

Timers run on a VirtualClock (the `clock` fixture in tests/conftest.py): no test sleeps
to let time pass.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from bounds import TIMEOUT
from flows import Gate, setter

from actors import (
    CancelOutcome,
    DeferredChoice,
    EventOutcome,
    JobState,
    Mediator,
    ParallelSplit,
    RequestReaction,
    Retry,
    Sequential,
    Step,
    StepContext,
    Synchronize,
    Wait,
    Workflow,
)
from actors.testing import VirtualClock


def wait_flow(seconds: float = 60) -> Workflow:
    return Workflow(
        "wait",
        [Wait("pause", duration=seconds, next="after"), Sequential("after", setter("after"))],
        start="pause",
    )


def test_wait_parks_then_fires_at_its_due_time(clock: VirtualClock) -> None:
    with Mediator([wait_flow(60)], runners=1, clock=clock) as m:
        handle = m.schedule("wait", {})
        due = clock.wait_for_alarm()
        assert due == clock.now() + 60
        assert m.stats().waiting == 1
        assert m.stats().timers == 1
        clock.advance(59.9)
        with pytest.raises(TimeoutError):
            handle.result(timeout=0.05)  # never before its due time
        clock.advance(0.1)
        job = handle.result(timeout=TIMEOUT)
    assert job.state is JobState.DONE
    assert job.data == {"after": True}


def test_overdue_timers_fire_at_once_in_due_order(clock: VirtualClock) -> None:
    order: list[int] = []
    flow = Workflow(
        "w",
        [
            Wait("pause", duration=lambda d: d["s"], next="after"),
            Sequential("after", lambda d: order.append(d["s"])),
        ],
        start="pause",
    )
    with Mediator([flow], runners=1, clock=clock) as m:
        handles = [m.schedule("w", {"s": s}) for s in (30, 10, 20)]
        clock.wait_for_alarm()
        while m.stats().timers < 3:
            clock.wait_for_alarm()
        clock.advance(3600)  # far past every due time: all fire, earliest first
        for h in handles:
            assert h.result(timeout=TIMEOUT).state is JobState.DONE
    assert order == [10, 20, 30]


def approval_flow(send: Any, timeout: float | None = None) -> Workflow:
    # Without a timeout there is no on_timeout, nor the step it would lead to.
    late: list[Step] = [] if timeout is None else [Sequential("escalate", setter("escalated"))]
    return Workflow(
        "approve",
        [
            RequestReaction(
                "ask",
                send=send,
                on_reply=lambda d, reply: d.update(answer=reply),
                on_fault=lambda d, err: d.update(error=err),
                next="done",
                fault_next="rejected",
                timeout=timeout,
                on_timeout=None if timeout is None else "escalate",
            ),
            Sequential("done", setter("done")),
            Sequential("rejected", setter("rejected")),
            *late,
        ],
        start="ask",
    )


class Inbox:
    """A responder that records requests; the test answers them."""

    def __init__(self) -> None:
        self.requests: list[tuple[Any, StepContext]] = []
        self.arrived = threading.Event()

    def __call__(self, data: Any, ctx: StepContext) -> None:
        self.requests.append((data, ctx))
        self.arrived.set()


def test_reply_resumes_the_job_once_and_duplicates_are_reported() -> None:
    inbox = Inbox()
    with Mediator([approval_flow(inbox)], runners=1) as m:
        handle = m.schedule("approve", {"amount": 5})
        assert inbox.arrived.wait(TIMEOUT)
        _, ctx = inbox.requests[0]
        assert ctx.correlation_id == f"{handle.job_id}/ask"
        assert m.receive_event(ctx.correlation_id, "yes") is EventOutcome.DELIVERED
        assert m.receive_event(ctx.correlation_id, "again") is EventOutcome.DUPLICATE
        job = handle.result(timeout=TIMEOUT)
        assert m.receive_event(ctx.correlation_id, "late") is EventOutcome.DUPLICATE
    assert job.data == {"amount": 5, "answer": "yes", "done": True}


def test_reply_from_a_synchronous_responder_is_applied_exactly_once() -> None:
    holder: dict[str, Mediator] = {}

    def answer_now(data: Any, ctx: StepContext) -> None:
        outcome = holder["m"].receive_event(ctx.correlation_id, "instant")
        data_seen.append(outcome)

    data_seen: list[EventOutcome] = []
    with Mediator([approval_flow(answer_now)], runners=2) as m:
        holder["m"] = m
        job = m.schedule("approve", {}).result(timeout=TIMEOUT)
    assert data_seen == [EventOutcome.DELIVERED]
    assert job.data == {"answer": "instant", "done": True}


def test_fault_reply_takes_the_fault_path() -> None:
    inbox = Inbox()
    with Mediator([approval_flow(inbox)], runners=1) as m:
        handle = m.schedule("approve", {})
        assert inbox.arrived.wait(TIMEOUT)
        m.receive_event(inbox.requests[0][1].correlation_id, "no budget", fault=True)
        job = handle.result(timeout=TIMEOUT)
    assert job.data == {"error": "no budget", "rejected": True}


def test_a_send_that_raises_is_a_fault_reply() -> None:
    def broken(data: Any, ctx: StepContext) -> None:
        raise ConnectionError("approver offline")

    with Mediator([approval_flow(broken)], runners=1) as m:
        job = m.schedule("approve", {}).result(timeout=TIMEOUT)
    assert job.data == {"error": "ConnectionError: approver offline", "rejected": True}


def test_timeout_takes_the_timeout_path_and_a_later_reply_is_late(clock: VirtualClock) -> None:
    inbox = Inbox()
    with Mediator([approval_flow(inbox, timeout=300)], runners=1, clock=clock) as m:
        handle = m.schedule("approve", {})
        assert inbox.arrived.wait(TIMEOUT)
        clock.wait_for_alarm()
        clock.advance(300)
        job = handle.result(timeout=TIMEOUT)
        outcome = m.receive_event(inbox.requests[0][1].correlation_id, "too late")
    assert job.data == {"escalated": True}
    assert outcome is EventOutcome.LATE


def test_events_for_unknown_or_finished_jobs_do_not_raise() -> None:
    with Mediator([wait_flow(0)], runners=1) as m:
        job = m.schedule("wait", {}).result(timeout=TIMEOUT)
        assert m.receive_event("nobody/nothing", 1) is EventOutcome.UNKNOWN
        assert m.receive_event(f"{job.id}/pause", 1) is EventOutcome.FINISHED


def choice_flow() -> Workflow:
    return Workflow(
        "choose",
        [
            DeferredChoice(
                "which",
                events={"paid": "ship", "cancelled": "refund"},
                timeout=3600,
                on_timeout="expire",
                on_event=lambda d, name, payload: d.update(event=name, payload=payload),
            ),
            Sequential("ship", setter("shipped")),
            Sequential("refund", setter("refunded")),
            Sequential("expire", setter("expired")),
        ],
        start="which",
    )


def test_deferred_choice_first_event_wins_others_withdrawn(clock: VirtualClock) -> None:
    with Mediator([choice_flow()], runners=1, clock=clock) as m:
        handle = m.schedule("choose", {})
        clock.wait_for_alarm()
        base = f"{handle.job_id}/which"
        assert m.receive_event(f"{base}/cancelled", "by customer") is EventOutcome.DELIVERED
        assert m.receive_event(f"{base}/paid", 10) is EventOutcome.LATE
        job = handle.result(timeout=TIMEOUT)
        assert m.stats().timers == 0
    assert job.data == {"event": "cancelled", "payload": "by customer", "refunded": True}


def test_deferred_choice_timer_decides(clock: VirtualClock) -> None:
    with Mediator([choice_flow()], runners=1, clock=clock) as m:
        handle = m.schedule("choose", {})
        clock.wait_for_alarm()
        clock.advance(3600)
        job = handle.result(timeout=TIMEOUT)
        assert m.receive_event(f"{handle.job_id}/which/paid", 1) is EventOutcome.LATE
    assert job.data == {"expired": True}


def test_a_fault_event_at_a_deferred_choice_takes_its_fault_path(clock: VirtualClock) -> None:
    """A fault event runs on_fault and goes to fault_next (undo what was done before)."""
    flow = Workflow(
        "ship_or_cancel",
        [
            Sequential("charge", setter("charged"), next="which"),
            DeferredChoice(
                "which",
                events={"ship": "ship", "cancel": "refund"},
                on_fault=lambda d, name, payload: d.update(failed=name, why=payload),
                fault_next="refund",
                timeout=3600,  # its timer tells the test that the job has parked
            ),
            Sequential("ship", setter("shipped")),
            Sequential("refund", setter("refunded")),
        ],
        start="charge",
    )
    with Mediator([flow], runners=1, clock=clock) as m:
        handle = m.schedule("ship_or_cancel", {})
        clock.wait_for_alarm()
        outcome = m.receive_event(f"{handle.job_id}/which/ship", "carrier lost it", fault=True)
        assert outcome is EventOutcome.DELIVERED
        job = handle.result(timeout=TIMEOUT)
    assert job.state is JobState.DONE
    assert job.data == {
        "charged": True, "failed": "ship", "why": "carrier lost it", "refunded": True,
    }  # fmt: skip


def test_a_fault_event_handled_by_on_fault_alone_ends_the_job_done(clock: VirtualClock) -> None:
    flow = Workflow(
        "choose",
        [
            DeferredChoice(
                "which",
                events={"paid": "ship"},
                timeout=3600,
                on_fault=lambda d, name, payload: d.update(compensated=payload),
            ),
            Sequential("ship", setter("shipped")),
        ],
        start="which",
    )
    with Mediator([flow], runners=1, clock=clock) as m:
        handle = m.schedule("choose", {})
        clock.wait_for_alarm()
        m.receive_event(f"{handle.job_id}/which/paid", "bounced", fault=True)
        job = handle.result(timeout=TIMEOUT)
    assert (job.state, job.data) == (JobState.DONE, {"compensated": "bounced"})


def test_a_fault_event_without_a_fault_path_still_faults_the_job(clock: VirtualClock) -> None:
    with Mediator([choice_flow()], runners=1, clock=clock) as m:
        handle = m.schedule("choose", {})
        clock.wait_for_alarm()
        m.receive_event(f"{handle.job_id}/which/paid", "declined", fault=True)
        job = handle.result(timeout=TIMEOUT)
    assert job.state is JobState.FAULTED
    assert "fault event 'paid': 'declined'" in (job.error or "")


def test_retry_backoff_waits_on_the_timer_not_in_the_runner(clock: VirtualClock) -> None:
    attempts: list[float] = []

    def flaky(data: Any, ctx: StepContext) -> None:
        attempts.append(clock.now())
        if ctx.attempt < 3:
            raise ConnectionError("busy")

    flow = Workflow(
        "retry", [Sequential("call", flaky, retry=Retry(attempts=3, backoff=10))], start="call"
    )
    with Mediator([flow], runners=1, clock=clock) as m:
        handle = m.schedule("retry", {})
        first = clock.wait_for_alarm()
        assert m.stats().waiting == 1  # parked, the runner is free
        clock.advance(10)
        clock.wait_for_alarm(at_least=first + 1)
        clock.advance(20)
        job = handle.result(timeout=TIMEOUT)
    assert job.state is JobState.DONE
    assert job.attempt == 1
    assert [t - attempts[0] for t in attempts] == [0, 10, 30]


def test_retry_backoff_grows_by_its_multiplier_up_to_max_backoff(clock: VirtualClock) -> None:
    attempts: list[float] = []

    def flaky(data: Any, ctx: StepContext) -> None:
        attempts.append(clock.now())
        if ctx.attempt < 5:
            raise ConnectionError("busy")

    retry = Retry(attempts=5, backoff=1, multiplier=3, max_backoff=5)
    flow = Workflow("retry", [Sequential("call", flaky, retry=retry)], start="call")
    with Mediator([flow], runners=1, clock=clock) as m:
        handle = m.schedule("retry", {})
        due = clock.wait_for_alarm()
        for retry_number in range(1, 5):  # four failures, four timers
            clock.advance(due - clock.now())
            if retry_number < 4:
                due = clock.wait_for_alarm(at_least=due + 0.001)
        job = handle.result(timeout=TIMEOUT)
    assert job.state is JobState.DONE
    # 1, then 1 * 3, then 9 and 27, each capped at 5
    assert [t - attempts[0] for t in attempts] == [0, 1, 4, 9, 14]


def test_cancel_a_waiting_job_withdraws_its_timer(clock: VirtualClock) -> None:
    with Mediator([wait_flow(60)], runners=1, clock=clock) as m:
        handle = m.schedule("wait", {})
        clock.wait_for_alarm()
        assert m.cancel(handle.job_id) is CancelOutcome.CANCELLED
        job = handle.result(timeout=TIMEOUT)
        assert m.stats().timers == 0
        assert m.cancel(handle.job_id) is CancelOutcome.ALREADY_FINISHED
        assert m.cancel("missing") is CancelOutcome.NOT_FOUND
    assert job.state is JobState.CANCELLED


def test_cancel_a_waiting_request_withdraws_its_correlation() -> None:
    inbox = Inbox()
    with Mediator([approval_flow(inbox)], runners=1) as m:
        handle = m.schedule("approve", {})
        assert inbox.arrived.wait(TIMEOUT)
        m.cancel(handle.job_id)
        assert handle.result(timeout=TIMEOUT).state is JobState.CANCELLED
        cid = inbox.requests[0][1].correlation_id
        assert m.receive_event(cid, "yes") is EventOutcome.FINISHED  # as the guide says


def test_cancel_a_running_job_stops_after_the_current_step() -> None:
    gate = Gate()
    after: list[int] = []
    flow = Workflow(
        "run", [Sequential("a", gate, next="b"), Sequential("b", lambda d: after.append(1))], "a"
    )
    with Mediator([flow], runners=1) as m:
        handle = m.schedule("run", {})
        assert gate.entered.wait(TIMEOUT)
        assert m.cancel(handle.job_id) is CancelOutcome.CANCELLED
        gate.opened.set()
        job = handle.result(timeout=TIMEOUT)
    assert job.state is JobState.CANCELLED
    assert after == []


def test_cancel_a_case_cancels_every_branch(clock: VirtualClock) -> None:
    flow = Workflow(
        "fan",
        [
            ParallelSplit("split", branches=["x", "y", "z"]),
            Wait("x", duration=100, next="join"),
            Wait("y", duration=200, next="join"),
            Wait("z", duration=300, next="join"),
            Synchronize("join", next="end"),
            Sequential("end", setter("end")),
        ],
        start="split",
    )
    with Mediator([flow], runners=2, clock=clock) as m:
        handle = m.schedule("fan", {})
        while m.stats().timers < 3:
            clock.wait_for_alarm()
        m.cancel(handle.job_id)
        job = handle.result(timeout=TIMEOUT)
        stats = m.stats()
    assert job.state is JobState.CANCELLED
    assert stats.timers == 0
    assert stats.cancelled == 4


def test_cancelling_one_branch_cancels_its_split(clock: VirtualClock) -> None:
    """A Synchronize never fires with a branch missing: the parent ends CANCELLED."""
    branch_ids: list[str] = []

    def remember(data: Any, ctx: StepContext) -> None:
        branch_ids.append(ctx.job_id)

    flow = Workflow(
        "fan",
        [
            ParallelSplit("split", branches=["x", "y"]),
            Sequential("x", remember, next="wx"),
            Wait("wx", duration=100, next="join"),
            Sequential("y", setter("y"), next="join"),
            Synchronize("join", next="end"),
            Sequential("end", setter("end")),
        ],
        start="split",
    )
    with Mediator([flow], runners=2, clock=clock) as m:
        handle = m.schedule("fan", {})
        clock.wait_for_alarm()
        assert m.cancel(branch_ids[0]) is CancelOutcome.CANCELLED
        job = handle.result(timeout=TIMEOUT)
    assert job.state is JobState.CANCELLED
    assert "end" not in job.data


def test_real_clock_short_wait_end_to_end() -> None:
    with Mediator([wait_flow(0.05)], runners=1) as m:
        job = m.schedule("wait", {}).result(timeout=TIMEOUT)
    assert job.data == {"after": True}


@pytest.mark.parametrize(
    ("given", "words"),
    [
        (float("nan"), "nan is not a finite number of seconds"),
        (float("inf"), "inf is not a finite number of seconds"),
        (1.7e12, "1700000000000.0 seconds is more than a century"),
        ("1", "'1' is not a number of seconds"),
    ],
)
def test_a_wait_whose_duration_no_timer_can_hold_faults_alone(
    clock: VirtualClock, given: Any, words: str
) -> None:
    """One bad duration faults its own job; the other timers of the engine go on."""
    computed = Workflow(
        "computed",
        [Wait("w", duration=lambda d: d["secs"], next="b"), Sequential("b", setter("after"))],
        start="w",
    )
    with Mediator([computed, wait_flow(5)], clock=clock, runners=1) as m:
        bad = m.schedule("computed", {"secs": given})
        job = bad.result(timeout=TIMEOUT)
        assert job.state is JobState.FAULTED
        assert f"step 'w': duration returned {words}" in (job.error or "")
        good = m.schedule("wait", {})
        clock.wait_for_alarm(TIMEOUT)
        clock.advance(5)
        assert good.result(timeout=TIMEOUT).data == {"after": True}


def test_the_system_clock_outlives_a_due_time_past_what_a_thread_can_wait_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from actors import _clock

    waited = threading.Event()

    class Watched(threading.Condition):
        def wait(self, timeout: float | None = None) -> bool:
            if timeout is not None:
                waited.set()  # the alarm's thread is waiting for the due time it was given
            return super().wait(timeout)

    monkeypatch.setattr(_clock.threading, "Condition", Watched)
    rang = threading.Event()
    clock = _clock.SystemClock()
    alarm = clock.alarm(rang.set)
    try:
        alarm.set(clock.now() + 1e12)  # from a damaged row, say: waiting that long raised
        assert waited.wait(TIMEOUT)
        alarm.set(clock.now() + 0.01)
        assert rang.wait(TIMEOUT)  # the alarm's thread is still alive
    finally:
        alarm.close()


def test_a_failed_attempt_s_changes_to_the_data_stay_for_the_next_one() -> None:
    """As documented: the data is saved as the failed attempt left it."""

    def bill(data: dict[str, Any], ctx: Any) -> None:
        data["lines"].append("fee")  # then the call that fails, once
        if ctx.attempt == 1:
            raise ConnectionError("busy")

    flow = Workflow("bill", [Sequential("bill", bill, retry=Retry(attempts=2))], "bill")
    with Mediator([flow]) as mediator:
        job = mediator.schedule("bill", {"lines": []}).result(timeout=TIMEOUT)
    assert job.state is JobState.DONE
    assert job.data["lines"] == ["fee", "fee"]
