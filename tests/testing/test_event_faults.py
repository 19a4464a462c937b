"""Event faults: every external event is perturbed, and a delay lasts what it says.

``EventFault`` counts and perturbs every event that reaches the engine, whatever sent
it: ``Harness.receive_event``, ``Mediator.receive_event`` (from the test, a task or a
user's actor) and an ``Admin`` given the harness's Mediator. A delay in actions, and a
reorder, take no virtual time: when nothing else can run, the event arrives before the
clock moves. A delay in seconds lasts that much virtual time, like a timer.
"""

from __future__ import annotations

from typing import Any

import pykka
import pytest

from actors import DeferredChoice, EventOutcome, JobState, RequestReaction, Sequential, Workflow
from actors.admin import Admin
from actors.testing import EventFault, FaultPlan, Harness

SEEDS = range(20)


def _ask(timeout: float | None = 60.0) -> Workflow:
    # Without a timeout there is no on_timeout, nor the step it would lead to.
    late = [] if timeout is None else [Sequential("late", lambda d: d.update(end="late"))]
    return Workflow("ask", start="ask", steps=[
        RequestReaction("ask", send=lambda d, ctx: None, on_reply=lambda d, r: d.update(got=r),
                        next="ok", timeout=timeout, on_timeout=timeout and "late"),
        Sequential("ok", lambda d: d.update(end="ok")),
        *late,
    ])  # fmt: skip


def _parked(fault: EventFault, seed: int = 0, timeout: float | None = 60.0) -> Harness:
    """A harness under ``fault`` whose one case, a1, waits for its reply (the clock at 0)."""
    h = Harness([_ask(timeout)], seed=seed, faults=FaultPlan(events=(fault,)))
    h.schedule("ask", {}, job_id="a1")
    h.run_until_quiescent(advance_time=False)
    return h


def _replied(fault: EventFault, seed: int) -> Harness:
    """The reply sent once a1 waits, under ``fault``; run to the end."""
    with _parked(fault, seed) as h:
        h.receive_event("a1/ask", "yes")
        h.finish()
    return h


def _end(h: Harness) -> str:
    return str(h.mediator.get_job("a1").data["end"])


# -- a delay lasts what it says -------------------------------------------------------------


def test_a_delay_in_actions_never_loses_to_a_timer_not_yet_due() -> None:
    # The reply is sent as the job parks, held for 3 actions: the run has nothing else
    # to do first, so it arrives then, at t=0, and never after the minute's timeout.
    ends = [_end(_replied(EventFault(1, "delay", by=3), seed)) for seed in SEEDS]
    assert ends == ["ok"] * len(SEEDS)


def test_a_reorder_with_no_next_event_arrives_before_the_clock_moves() -> None:
    ends = [_end(_replied(EventFault(1, "reorder"), seed)) for seed in SEEDS]
    assert ends == ["ok"] * len(SEEDS)


@pytest.mark.parametrize(("seconds", "end"), [(30.0, "ok"), (59.0, "ok"), (90.0, "late")])
def test_a_delay_in_seconds_is_a_timer_s(seconds: float, end: str) -> None:
    for seed in SEEDS:
        h = _replied(EventFault(1, "delay", seconds=seconds), seed)
        assert _end(h) == end, seed
        held = next(e for e in h.trace if e.action == "event held (delay)")
        assert held.detail == f"a1/ask until t={seconds:g}"
        sent = next(e for e in h.trace if e.action == "event")
        jumps = [e.detail for e in h.trace[: sent.index] if e.action == "jump"]
        assert jumps[-1] == f"t={seconds}"  # to the event's time, past the timer or not
        delivered = next(e for e in h.trace if e.action == "DeliverEvent")
        assert delivered.detail.endswith("delivered" if end == "ok" else "late")


def test_a_delay_in_seconds_as_long_as_the_timeout_races_it() -> None:
    # Both come due at t=60: the chooser picks which goes first, so both ends are seen.
    ends = {_end(_replied(EventFault(1, "delay", seconds=60), seed)) for seed in SEEDS}
    assert ends == {"ok", "late"}


def test_a_delay_in_seconds_with_no_timer_set_moves_the_clock_to_its_end() -> None:
    with _parked(EventFault(1, "delay", seconds=5), timeout=None) as h:
        outcome = h.receive_event("a1/ask", "yes")
        (job,) = h.finish()
    assert outcome is not None and outcome.get() is EventOutcome.DELIVERED
    assert job.data["end"] == "ok" and h.clock.now() == 5.0


def test_event_fault_seconds_are_checked_and_described() -> None:
    with pytest.raises(ValueError, match="only a 'delay' takes seconds"):
        EventFault(1, "drop", seconds=5)
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match=r"EventFault\.seconds"):
            EventFault(1, "delay", seconds=bad)
    plan = FaultPlan(events=(EventFault(1, "delay", seconds=90), EventFault(2, "delay", by=4),
                             EventFault(3, "reorder")))  # fmt: skip
    assert plan.describe() == (
        "delay event #1 by 90 s; delay event #2 by 4 action(s); reorder event #3"
    )


# -- every path an event takes to the engine ---------------------------------------------------


def test_an_event_sent_through_the_mediator_is_dropped() -> None:
    with _parked(EventFault(1, "drop")) as h:
        with pytest.raises(TimeoutError, match="did not answer within 30s"):
            h.mediator.receive_event("a1/ask", "yes")  # never answered, as with threads
        (job,) = h.finish()
    assert job.data["end"] == "late"
    assert [e.detail for e in h.trace if e.action == "event dropped"] == ["a1/ask"]


def test_an_event_sent_through_the_mediator_is_duplicated() -> None:
    with _parked(EventFault(1, "duplicate")) as h:
        assert h.mediator.receive_event("a1/ask", "yes") is EventOutcome.DELIVERED
        (job,) = h.finish()
    assert job.data["end"] == "ok"
    outcomes = [e.detail for e in h.trace if e.action == "DeliverEvent"]
    assert outcomes == ["a1/ask -> delivered", "a1/ask -> duplicate"]


def test_an_event_sent_through_the_mediator_is_delayed() -> None:
    with _parked(EventFault(1, "delay", seconds=20)) as h:
        assert h.mediator.receive_event("a1/ask", "yes") is EventOutcome.DELIVERED
        assert h.clock.now() == 20.0  # the call waited for it, as a thread would
        (job,) = h.finish()
    assert job.data["end"] == "ok"


def test_an_admin_event_through_the_mediator_is_held() -> None:
    with _parked(EventFault(1, "delay", by=2)) as h:
        with Admin(h.store, mediator=h.mediator) as admin:
            result = admin.send_event("a1/ask", "yes")
            assert (result.outcome, result.via) == ("delivered", "mediator")
        (job,) = h.finish()
    assert job.data == {"got": "yes", "end": "ok"}
    assert [e.action for e in h.trace if e.actor == "harness"] == ["event held (delay)", "event"]


def test_events_are_counted_over_every_path() -> None:
    # The 1st event goes through the harness, the 2nd through the Mediator: the plan's
    # EventFault(2, ...) is the Mediator's.
    flow = Workflow("two", start="first", steps=[
        DeferredChoice("first", events={"go": "second"}),
        DeferredChoice("second", events={"go": "done"}, timeout=60, on_timeout="late"),
        Sequential("done", lambda d: d.update(end="ok")),
        Sequential("late", lambda d: d.update(end="late")),
    ])  # fmt: skip
    with Harness([flow], seed=0, faults=FaultPlan(events=(EventFault(2, "drop"),))) as h:
        h.schedule("two", {}, job_id="t1")
        h.run_until_quiescent(advance_time=False)
        h.receive_event("t1/first/go")
        h.run_until_quiescent(advance_time=False)
        with pytest.raises(TimeoutError):
            h.mediator.receive_event("t1/second/go")
        (job,) = h.finish()
    assert job.data["end"] == "late"
    assert h.faults.events == 2


def test_a_cancel_is_no_event() -> None:
    with _parked(EventFault(1, "drop")) as h:
        with Admin(h.store, mediator=h.mediator) as admin:
            assert admin.cancel("a1").outcome == "cancelled"
        (job,) = h.finish()
    assert job.state is JobState.CANCELLED
    assert h.faults.events == 0


def test_a_user_actor_s_event_is_perturbed_as_the_harness_s() -> None:
    class Webhook(pykka.ThreadingActor):
        def __init__(self, mediator: Any) -> None:
            super().__init__()
            self.mediator = mediator

        def on_receive(self, message: Any) -> Any:
            return self.mediator.receive_event(message, "yes")

    with _parked(EventFault(1, "duplicate")) as h:
        webhook = h.actor(Webhook, h.mediator)
        assert webhook.ask("a1/ask", timeout=5) is EventOutcome.DELIVERED
        h.finish()
    outcomes = [e.detail for e in h.trace if e.action == "DeliverEvent"]
    assert outcomes == ["a1/ask -> delivered", "a1/ask -> duplicate"]
