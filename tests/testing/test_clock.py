"""VirtualClock: the Clock protocol with time that moves only when told to."""

from __future__ import annotations

import threading

import pytest
from bounds import TIMEOUT

from actors import JobState, Sequential, Wait, Workflow
from actors.testing import VirtualClock


def test_time_stands_still_until_advanced():
    clock = VirtualClock(start=100.0)
    assert clock.now() == 100.0
    clock.advance(2.5)
    assert clock.now() == 102.5


def test_an_alarm_rings_once_when_its_time_comes():
    clock = VirtualClock()
    rang: list[float] = []
    alarm = clock.alarm(lambda: rang.append(clock.now()))
    alarm.set(5.0)
    assert clock.advance(4.0) == 0
    assert clock.advance(10.0) == 1
    assert rang == [5.0]  # it rang with the clock at its due time, not at the end
    assert clock.now() == 14.0
    assert clock.advance(100.0) == 0


def test_setting_an_alarm_replaces_its_time_and_none_disarms_it():
    clock = VirtualClock()
    rang: list[float] = []
    alarm = clock.alarm(lambda: rang.append(clock.now()))
    alarm.set(5.0)
    alarm.set(8.0)
    clock.advance(6.0)
    assert rang == []
    alarm.set(None)
    clock.advance(10.0)
    assert rang == []


def test_a_callback_that_rearms_within_the_window_rings_again():
    clock = VirtualClock()
    rang: list[float] = []

    def ring() -> None:
        rang.append(clock.now())
        if len(rang) < 3:
            alarm.set(clock.now() + 1.0)

    alarm = clock.alarm(ring)
    alarm.set(1.0)
    clock.advance(10.0)
    assert rang == [1.0, 2.0, 3.0]


def test_a_closed_alarm_never_rings():
    clock = VirtualClock()
    alarm = clock.alarm(lambda: pytest.fail("rang after close"))
    alarm.set(1.0)
    alarm.close()
    alarm.set(2.0)
    clock.advance(5.0)
    assert clock.next_alarm() is None


def test_jump_moves_to_the_earliest_alarm_without_ringing_it():
    clock = VirtualClock()
    rang: list[str] = []
    clock.alarm(lambda: rang.append("late")).set(9.0)
    early = clock.alarm(lambda: rang.append("early"))
    early.set(3.0)
    assert clock.jump() == 3.0
    assert rang == []
    assert clock.due() == [early]


def test_waiting_for_an_alarm_is_bounded():
    with pytest.raises(TimeoutError):
        VirtualClock().wait_for_alarm(timeout=0.01)


def test_time_never_moves_backwards():
    with pytest.raises(ValueError, match="forward"):
        VirtualClock().advance(-1.0)


def test_a_real_mediator_runs_timers_on_a_virtual_clock(mediator, virtual_clock):
    flow = Workflow("nap", start="sleep", steps=[
        Wait("sleep", 3600.0, next="wake"),
        Sequential("wake", lambda d: d.update(woke=True)),
    ])  # fmt: skip
    engine = mediator([flow], clock=virtual_clock, runners=1)
    handle = engine.schedule("nap", {})
    assert virtual_clock.wait_for_alarm(timeout=TIMEOUT) == 3600.0  # armed from the engine's thread
    virtual_clock.advance(3600.0)
    job = handle.result(timeout=TIMEOUT)
    assert job.state is JobState.DONE
    assert job.data == {"woke": True}


def test_an_alarm_set_at_or_before_now_rings_at_once_in_the_setting_thread():
    clock = VirtualClock(start=10.0)
    rang: list[tuple[float, str]] = []
    alarm = clock.alarm(lambda: rang.append((clock.now(), threading.current_thread().name)))
    alarm.set(10.0)
    assert rang == [(10.0, threading.current_thread().name)]  # before set() returned
    alarm.set(3.0)
    assert len(rang) == 2
    assert clock.due() == []
    assert clock.next_alarm() is None
    assert clock.advance(100.0) == 0  # it rang once per set, never again


def test_a_callback_that_sets_its_alarm_for_now_rings_again_at_once():
    clock = VirtualClock()
    rang: list[float] = []

    def ring() -> None:
        rang.append(clock.now())
        if len(rang) < 3:
            alarm.set(clock.now())

    alarm = clock.alarm(ring)
    alarm.set(2.0)
    assert clock.advance(5.0) == 1  # advance rang it once; the callback rang it twice more
    assert rang == [2.0, 2.0, 2.0]


def test_a_held_clock_leaves_due_alarms_to_its_driver():
    clock = VirtualClock(start=10.0)
    rang: list[float] = []
    alarm = clock.alarm(lambda: rang.append(clock.now()))
    assert not clock.held
    clock.hold()
    assert clock.held
    alarm.set(10.0)
    assert rang == []
    assert clock.due() == [alarm]
    alarm.ring()
    assert rang == [10.0]
    assert clock.due() == []


def test_the_harness_holds_its_clock_and_rings_a_due_alarm_as_an_action(harness):
    clock = VirtualClock(start=50.0)
    h = harness([Workflow("zero", start="now", steps=[
        Wait("now", 0.0, next="after"),
        Sequential("after", lambda d: d.update(after=True)),
    ])], clock=clock)  # fmt: skip
    assert clock.held
    handle = h.schedule("zero", {})
    h.run_until_quiescent()
    assert handle.result().data == {"after": True}
    assert [e.action for e in h.trace if e.actor == "clock"] == ["ring"]  # its choice
    assert clock.now() == 50.0  # due at once: time never moved


def test_waiting_for_an_alarm_at_or_after_a_time_skips_earlier_ones():
    clock = VirtualClock()
    clock.alarm(lambda: None).set(5.0)
    with pytest.raises(TimeoutError, match="t >= 6"):
        clock.wait_for_alarm(timeout=0.01, at_least=6.0)
    clock.alarm(lambda: None).set(8.0)
    assert clock.wait_for_alarm(timeout=0.01, at_least=6.0) == 8.0
    assert clock.wait_for_alarm(timeout=0.01) == 5.0


def test_an_alarm_set_for_time_zero_counts_as_set():
    clock = VirtualClock(start=-10.0)
    clock.alarm(lambda: None).set(0.0)
    assert clock.wait_for_alarm(timeout=0.01) == 0.0


def test_a_real_mediator_does_not_wait_for_the_test_to_ring_a_timer_already_due(
    mediator, virtual_clock
):
    # A zero wait is due at the clock's now: the engine's alarm must ring without advance().
    flow = Workflow("zero", start="now", steps=[
        Wait("now", 0.0, next="after"),
        Sequential("after", lambda d: d.update(after=True)),
    ])  # fmt: skip
    engine = mediator([flow], clock=virtual_clock, runners=1)
    job = engine.schedule("zero", {}).result(timeout=TIMEOUT)
    assert job.state is JobState.DONE
    assert job.data == {"after": True}
    assert virtual_clock.now() == 0.0
