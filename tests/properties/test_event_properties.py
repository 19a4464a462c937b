"""Property: random replies, duplicates, late events, timeouts and cancels over waiting jobs.

Every job advances at most once per step and ends in exactly one final state, which is
decided by the first effective action on it.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from bounds import TIMEOUT
from budget import budget
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import (
    CancelOutcome,
    EventOutcome,
    JobState,
    Mediator,
    RequestReaction,
    Sequential,
    StepContext,
    Workflow,
)
from actors.testing import VirtualClock

JOBS = 4
TIMEOUT_S = 100.0

actions = st.lists(
    st.one_of(
        st.tuples(st.just("reply"), st.integers(0, JOBS - 1)),
        st.tuples(st.just("fault"), st.integers(0, JOBS - 1)),
        st.tuples(st.just("cancel"), st.integers(0, JOBS - 1)),
        st.tuples(st.just("advance"), st.floats(1, 60)),
    ),
    max_size=14,
)


@settings(max_examples=budget(40), deadline=None)
@given(script=actions, runners=st.integers(1, 3))
def test_each_waiting_job_advances_once_and_ends_once(script: list[Any], runners: int) -> None:
    clock = VirtualClock(start=1_000_000.0)
    applied: Counter[str] = Counter()
    lock = threading.Lock()
    parked = threading.Semaphore(0)
    corr: dict[int, str] = {}

    def send(data: Any, ctx: StepContext) -> None:
        corr[data["n"]] = ctx.correlation_id
        parked.release()

    def count(kind: str) -> Any:
        def apply(data: Any, payload: Any) -> None:
            with lock:
                applied[f"{data['n']}:{kind}"] += 1

        return apply

    flow = Workflow(
        "req",
        [
            RequestReaction(
                "ask",
                send=send,
                on_reply=count("reply"),
                on_fault=count("fault"),
                next="ok",
                fault_next="failed",
                timeout=TIMEOUT_S,
                on_timeout="expired",
            ),
            Sequential("ok", lambda d: d.update(end="ok")),
            Sequential("failed", lambda d: d.update(end="failed")),
            Sequential("expired", lambda d: d.update(end="expired")),
        ],
        start="ask",
    )
    with Mediator([flow], runners=runners, clock=clock) as m:
        handles = [m.schedule("req", {"n": n}) for n in range(JOBS)]
        for _ in range(JOBS):
            assert parked.acquire(timeout=TIMEOUT)
        clock.wait_for_alarm()
        while m.stats().timers < JOBS:  # every job is parked with its timer
            clock.wait_for_alarm()
        first: dict[int, str] = {}
        elapsed = 0.0
        for action, arg in script:
            if action == "advance":
                elapsed += arg
                clock.advance(arg)
                if elapsed >= TIMEOUT_S:
                    for n in range(JOBS):
                        if first.setdefault(n, "expired") == "expired":
                            handles[n].result(timeout=TIMEOUT)
                continue
            n = arg
            if action == "cancel":
                outcome = m.cancel(handles[n].job_id)
                if n not in first:
                    assert outcome is CancelOutcome.CANCELLED
                    first[n] = "cancelled"
                else:
                    assert outcome is CancelOutcome.ALREADY_FINISHED
                continue
            result = m.receive_event(corr[n], action, fault=action == "fault")
            if n in first:
                assert result in (EventOutcome.DUPLICATE, EventOutcome.LATE, EventOutcome.FINISHED)
            else:
                assert result is EventOutcome.DELIVERED
                first[n] = "ok" if action == "reply" else "failed"
                # Let it finish, so a later cancel meets a finished job rather than
                # racing the steps after the reply (which it could legitimately stop).
                handles[n].result(timeout=TIMEOUT)
        clock.advance(TIMEOUT_S * 2)  # whatever is still waiting times out now
        jobs = [h.result(timeout=TIMEOUT) for h in handles]
    for n, job in enumerate(jobs):
        decided = first.get(n, "expired")
        if decided == "cancelled":
            assert job.state is JobState.CANCELLED
            assert "end" not in job.data
        else:
            assert job.state is JobState.DONE
            assert job.data["end"] == decided
        assert applied[f"{n}:reply"] == (decided == "ok")
        assert applied[f"{n}:fault"] == (decided == "failed")
