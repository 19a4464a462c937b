"""The system clock's alarm follows the wall clock when it steps.

An NTP correction, a virtual machine resumed or a laptop woken from sleep moves
``time.time()`` at once, while a thread's timed wait counts the time it slept. The
alarm must notice the step, not sleep on for what it computed before it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from bounds import TIMEOUT, wait_until

from actors import (
    EventOutcome,
    JobState,
    Mediator,
    RequestReaction,
    Sequential,
    SystemClock,
    Wait,
    Workflow,
    _clock,
)

HOUR = 3600.0


class SteppedClock(SystemClock):
    """The system clock, stepped by hand: what a worker sees when the machine's clock moves."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def long_wait(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set once an alarm's thread waits with a timeout: it has read the clock for its due time.

    (The patch reaches every ``Condition`` made from now on: only the alarm's thread counts.)
    """
    waiting = threading.Event()

    class Watched(threading.Condition):
        def wait(self, timeout: float | None = None) -> bool:
            if timeout is not None and threading.current_thread().name == "actors-alarm":
                waiting.set()
            return super().wait(timeout)

    monkeypatch.setattr(_clock.threading, "Condition", Watched)
    return waiting


def test_an_alarm_rings_once_the_clock_steps_past_its_due_time(
    long_wait: threading.Event,
) -> None:
    clock = SteppedClock()
    rang = threading.Event()
    alarm = clock.alarm(rang.set)
    try:
        alarm.set(clock.now() + HOUR)
        assert long_wait.wait(TIMEOUT)  # the alarm's thread waits for the hour
        clock.offset = HOUR  # the machine wakes from an hour's sleep
        assert rang.wait(TIMEOUT), "the alarm slept on after its due time had come"
    finally:
        alarm.close()


def test_an_alarm_due_soon_rings_after_the_clock_steps_back_and_forth(
    long_wait: threading.Event,
) -> None:
    # A worker's poll is an alarm a second ahead. The clock steps back an hour (the thread
    # waited that hour) and is put right again: the poll, the lease renewal, the claims
    # and every timer waited for that hour.
    clock = SteppedClock()
    rang = threading.Event()
    alarm = clock.alarm(rang.set)
    try:
        clock.offset = 0.0
        due = clock.now() + 1.0
        clock.offset = -HOUR
        alarm.set(due)
        assert long_wait.wait(TIMEOUT)
        clock.offset = 0.0
        assert rang.wait(TIMEOUT), "the alarm slept on after its due time had come"
    finally:
        alarm.close()


def test_a_wait_ends_once_the_clock_steps_past_it(long_wait: threading.Event) -> None:
    clock = SteppedClock()
    flow = Workflow(
        "nap",
        [Wait("nap", duration=HOUR, next="woke"), Sequential("woke", lambda d: {"woke": True})],
        start="nap",
    )
    with Mediator([flow], clock=clock) as mediator:
        handle = mediator.schedule("nap", {})
        assert long_wait.wait(TIMEOUT)  # parked, its timer armed an hour ahead
        clock.offset = HOUR
        job = handle.result(timeout=TIMEOUT)
    assert job.state is JobState.DONE
    assert job.data == {"woke": True}


def test_a_worker_renews_its_leases_after_the_clock_steps_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The poll (which renews the leases) was due at a time the clock stepped back from:
    # for an hour the worker renewed nothing, so a worker dying in that hour had its
    # cases taken over only once the hour had passed.
    offset = [0.0]
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + offset[0])
    flow = Workflow(
        "asks",
        [
            RequestReaction("ask", send=lambda d, ctx: None, next="done"),
            Sequential("done", lambda d: None),
        ],
        start="ask",
    )
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    with Mediator([flow], store=store, poll_interval=0.2, lease_seconds=1.0) as mediator:
        mediator.schedule("asks", {}, job_id="a1")
        wait_until(lambda: mediator.get_job("a1").state is JobState.WAITING, "the park")

        def expiry() -> float:
            return max(expires for _, _, expires in mediator.store.leases_held(time.time() - 10))

        first = expiry()
        wait_until(lambda: expiry() > first, "a lease renewal")  # the worker renews, polling
        offset[0] = -HOUR
        wait_until(lambda: expiry() < real() - HOUR / 2, "a lease renewal after the step")
        assert mediator.receive_event("a1/ask") is EventOutcome.DELIVERED


def test_a_closed_alarm_s_thread_has_ended_when_close_returns() -> None:
    """A shutdown() that returned left the alarm's thread behind, now and then."""
    entered = threading.Event()
    holding = threading.Event()  # never set: the ring holds the alarm's thread a while

    def ring() -> None:
        entered.set()
        holding.wait(0.5)

    before = set(threading.enumerate())
    alarm = SystemClock().alarm(ring)
    (its_thread,) = set(threading.enumerate()) - before
    alarm.set(0.0)  # due at once
    assert entered.wait(TIMEOUT)
    alarm.close()  # while the ring still runs
    assert not its_thread.is_alive()
