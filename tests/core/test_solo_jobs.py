"""The work channel runs a ``solo`` job alone: nothing else runs or starts beside it.

A job whose earlier run, from the point it is at, ended with its worker's process gone
(along with the jobs running beside it) runs alone, so that if the process dies again
the death is the job's own, and the jobs that ran beside it the first time are not
blamed. Its turn comes when nothing runs and every report is read (so the slices before
it are stored), and nothing else starts until its own slice is stored and reported.
"""

from __future__ import annotations

from records import record

from actors._admission import AdmissionGate, FullMode
from actors._channel import WorkChannel
from actors._job import JobState


def channel_with_idle_runners(n: int = 2) -> WorkChannel:
    channel = WorkChannel(AdmissionGate(4, FullMode.BACKPRESSURE), n)
    for runner in range(n):
        assert channel.take(runner) is None  # each parks as idle
    return channel


def test_a_solo_job_waits_for_the_running_ones_then_runs_alone_until_its_report_is_read():
    channel = channel_with_idle_runners(2)
    first = record("first")
    r_first = channel.put(first)
    assert r_first is not None  # an idle runner takes it at once
    solo = record("solo", solo=True)
    assert channel.put(solo) is None  # something runs: not its turn yet
    later = record("later")
    assert channel.put(later) is None  # held back, though a runner is idle
    other = 1 - r_first
    assert channel.take(other) is None
    channel.sent[r_first] += 1  # first's runner reports its slice...
    assert channel.take(r_first, first) is None  # ...which the Scheduler has not read
    assert channel.assign_admitted() == []
    channel.handled += 1
    assert channel.wants_admission()  # the Scheduler hears: the hold may move on
    [(runner, job)] = channel.assign_admitted()
    assert job is solo
    assert job.state is JobState.RUNNING
    assert channel.take(1 - runner) is None  # nothing starts beside it
    assert channel.assign_admitted() == []
    channel.sent[runner] += 1
    assert channel.take(runner, solo) is None  # its slice's report is not read yet
    assert channel.assign_admitted() == []
    channel.handled += 1
    assert channel.assign_admitted() == [(runner, later)]  # the hold is over
    assert channel.put(record("next")) is not None  # and jobs go to idle runners again


def test_solo_jobs_run_one_at_a_time_and_a_cancelled_one_is_skipped():
    channel = channel_with_idle_runners(2)
    one, two, three = (record(i, solo=True) for i in ("one", "two", "three"))
    runner = channel.put(one)
    assert runner is not None  # nothing ran: its turn at once
    assert channel.put(two) is None
    assert channel.put(three) is None
    assert channel.withdraw(two)  # cancelled while it waited
    assert channel.ready == 1
    assert not channel.quiet()
    channel.sent[runner] += 1
    assert channel.take(runner, one) is None
    channel.handled += 1
    [(nxt, job)] = channel.assign_admitted()
    assert job is three
    channel.sent[nxt] += 1
    assert channel.take(nxt, three) is None
    channel.handled += 1
    assert channel.assign_admitted() == []
    assert channel.quiet()


def test_a_runner_that_dies_running_a_solo_job_ends_the_hold():
    channel = channel_with_idle_runners(1)
    solo = record("solo", solo=True)
    runner = channel.put(solo)
    assert runner == 0
    channel.forget_runner(0)
    channel.done(solo, 0)  # the Scheduler's cleanup of a dead runner
    waiting = record("waiting")
    assert channel.put(waiting) is None
    assert channel.take(0) is waiting  # the restarted runner: the hold is over
