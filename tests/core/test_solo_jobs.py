"""The work channel's watch on jobs taken over from a worker that stopped.

Such a job (``taken_over``) counts a try before it runs. A ``solo`` one (a counted try of
it, from the point it is at, already ended with its worker's process) runs alone among
them: if the process dies again, the death is its own, and the jobs taken over beside
it are not blamed. Nothing of the worker's own starts beside it either: its own cases
count no tries, but one that ends the process would end the solo job's try with it.
"""

from __future__ import annotations

from records import record

from actors._admission import AdmissionGate, FullMode
from actors._channel import WorkChannel
from actors._job import JobState


def channel_with_idle_runners(n: int) -> WorkChannel:
    channel = WorkChannel(AdmissionGate(4, FullMode.BACKPRESSURE), n)
    for runner in range(n):
        assert channel.take(runner) is None  # each parks as idle
    return channel


def watched(job_id: str, *, solo: bool = False):
    return record(job_id, taken_over=True, solo=solo)


def test_jobs_taken_over_run_side_by_side_until_one_must_run_alone():
    channel = channel_with_idle_runners(4)
    a, b = watched("a"), watched("b")
    [(ra, _)], [(rb, _)] = channel.put(a), channel.put(b)  # no solo job: they run at once
    solo, later = watched("solo", solo=True), watched("later")
    assert channel.put(solo) == []  # a and b run: it waits for them to end
    assert channel.put(later) == []  # a solo job waits: the others wait their turn
    assert channel.take(ra, a) is None  # b still runs
    assert channel.take(rb, b) is solo  # nothing runs: its turn
    assert solo.state is JobState.RUNNING
    assert channel.assign_admitted() == []  # the idle runners get nothing beside it
    assert channel.take(rb, solo) is later  # alone no more: the next one goes


def test_while_a_solo_job_waits_the_others_run_one_at_a_time():
    channel = channel_with_idle_runners(3)
    first = watched("first")
    [(r_first, _)] = channel.put(first)
    one, two = watched("one", solo=True), watched("two", solo=True)
    plain = watched("plain")
    for job in (one, two, plain):
        assert channel.put(job) == []
    order = []
    runner, job = r_first, first
    while True:
        job = channel.take(runner, job)
        if job is None:
            break
        order.append(job.id)
        assert channel.assign_admitted() == []  # the idle runners get none beside it
    assert order == ["one", "two", "plain"]
    assert channel.quiet()


def test_a_waiting_job_cancelled_or_withdrawn_with_its_case_is_skipped():
    channel = channel_with_idle_runners(1)
    blocker = watched("blocker")
    assert channel.put(blocker) == [(0, blocker)]
    solo = watched("solo", solo=True)
    gone = record("gone", case_id="lost-case", taken_over=True)
    kept = watched("kept")
    for job in (solo, gone, kept):
        assert channel.put(job) == []
    assert channel.withdraw(solo)  # cancelled while it waited
    assert channel.withdraw_case("lost-case") == 1
    assert channel.ready == 1
    assert not channel.quiet()
    assert channel.take(0, blocker) is kept
    assert channel.take(0, kept) is None
    assert channel.quiet()


def test_a_runner_that_dies_running_a_solo_job_lets_the_next_one_run():
    channel = channel_with_idle_runners(1)
    solo = watched("solo", solo=True)
    assert channel.put(solo) == [(0, solo)]
    waiting = watched("waiting")
    assert channel.put(waiting) == []
    channel.forget_runner(0)
    channel.done(solo, 0)  # the Scheduler's cleanup of a dead runner
    assert channel.take(0) is waiting  # the restarted runner takes the next one


def test_a_solo_job_runs_alone_among_the_workers_own_jobs_too():
    # A case of the worker's own whose step ends the process would end the solo job's
    # counted try with it: an innocent job faulted after three such deaths beside it.
    gate = AdmissionGate(4, FullMode.BACKPRESSURE)
    channel = WorkChannel(gate, 3)
    for runner in range(3):
        assert channel.take(runner) is None
    own = record("own")
    [(r_own, _)] = channel.put(own)
    solo = watched("solo", solo=True)
    assert channel.put(solo) == []  # the worker's own job runs: not its turn yet
    fresh = record("fresh")
    assert channel.put(fresh) == []  # held back, though runners are idle
    admitted = record("admitted")
    gate.reserve(block=False)
    gate.commit(admitted)
    assert channel.wants_admission()  # the Scheduler asks; the channel gives nothing
    assert channel.assign_admitted() == []
    assert channel.take(r_own, own) is solo  # nothing runs: its turn
    assert channel.assign_admitted() == []  # nothing starts beside it
    assert len(gate) == 1
    assert channel.take(r_own, solo) is fresh  # alone no more: the held jobs go
    assert channel.wants_admission()  # and the idle runners are given the rest
    [(runner, job)] = channel.assign_admitted()
    assert job is admitted
    assert runner != r_own
    assert channel.put(record("next")) != []  # handed to an idle runner again


def test_a_job_taken_over_is_put_while_others_wait_their_turn_each_runner_gets_its_own():
    # A solo job stores its try (``tried``): the jobs it held back may start, and the
    # Scheduler is told so; a job put before it hands them out starts them instead.
    # Each runner must be told the job the channel started on it: a runner told to run
    # the job put, while the channel recorded another on it, left that other one
    # "running" for ever (its case stuck, held by a live worker), and the job put ran
    # outside the channel's books, so it could be started a second time beside it.
    channel = channel_with_idle_runners(3)
    solo = watched("solo", solo=True)
    [(r_solo, _)] = channel.put(solo)
    held_back = watched("held_back")
    assert channel.put(held_back) == []  # the solo job runs alone
    assert channel.tried("solo")  # its try is stored: the others may start beside it
    late = watched("late")
    started = channel.put(late)
    assert {job.id for _, job in started} == {"held_back", "late"}
    for runner, job in started:
        assert channel.runner_of(job.id) == runner
        assert runner != r_solo
    assert channel.take(r_solo, solo) is None
    for runner, job in started:
        assert channel.take(runner, job) is None
    assert channel.quiet()
