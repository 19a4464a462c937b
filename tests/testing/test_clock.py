"""VirtualClock: the Clock protocol with time that moves only when told to."""

from __future__ import annotations

import pytest

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
    assert virtual_clock.wait_for_alarm(timeout=5) == 3600.0  # armed from the engine's thread
    virtual_clock.advance(3600.0)
    job = handle.result(timeout=5)
    assert job.state is JobState.DONE
    assert job.data == {"woke": True}
