"""The work channel's batches of jobs taken over whose tries one runner counts together.

A runner about to count its job's try takes the next waiting jobs taken over with it
(``batch_of``): out of line until their tries are stored (``counted``), so no runner
starts one before. None while a solo job waits or runs: jobs then go one at a time.
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


def watched(job_id: str, *, solo: bool = False, case_id: str | None = None):
    return record(job_id, case_id=case_id, taken_over=True, solo=solo)


def test_a_batch_is_out_of_line_until_counted_then_first_with_its_counts():
    channel = channel_with_idle_runners(2)
    first = watched("first")
    [(r_first, _)] = channel.put(first)
    [(r_second, second)] = channel.put(watched("second"))
    waiting = [watched(f"w{i}") for i in range(5)]
    for job in waiting:
        assert channel.put(job) == []  # both runners busy
    batch = channel.batch_of(3)
    assert [j.id for j in batch] == ["w0", "w1", "w2"]
    assert channel.ready == 5  # out of line, still ready (a cancel reaches them)
    # A runner freed meanwhile starts a job not in the batch: the batch's tries are
    # not stored yet.
    assert channel.take(r_second, second).id == "w3"
    assert channel.batch_of(3) == [waiting[4]]  # what is left; the batch not again
    channel.counted([waiting[4]], {})  # that count failed: back in line, uncounted
    assert channel.counted(batch, {"w0": 1, "w1": 1, "w2": 2}) is False  # no runner idle
    assert [channel.take(r_first, first).id] == ["w0"]  # counted ones go first
    assert channel.counted_try("w0") == 1
    assert channel.counted_try("w0") is None  # read once
    assert channel.counted_try("w4") is None  # never counted: its runner counts it
    assert channel.batch_of(10) == [waiting[4]]  # counted ones are not counted again


def test_idle_runners_are_to_be_given_a_batch_counted_while_they_waited():
    channel = channel_with_idle_runners(2)
    job, other = watched("job"), watched("other")
    [(runner, _)] = channel.put(job)
    [(idle, _)] = channel.put(other)
    assert channel.take(idle, other) is None  # parks: nothing waits
    w0, w1, w2 = (watched(f"w{i}") for i in range(3))
    assert channel.put(w0) == [(idle, w0)]
    assert channel.put(w1) == []
    assert channel.put(w2) == []
    batch = channel.batch_of(5)
    assert batch == [w1, w2]
    assert channel.take(runner, job) is None  # nothing in line meanwhile: it parks
    assert channel.counted(batch, {"w1": 1, "w2": 1}) is True  # an idle runner, work
    assert channel.assign_admitted() == [(runner, w1)]
    assert channel.take(idle, w0) is w2


def test_no_batch_while_a_solo_job_waits_or_runs():
    channel = channel_with_idle_runners(1)
    blocker = watched("blocker")
    assert channel.put(blocker) == [(0, blocker)]
    assert channel.put(watched("solo", solo=True)) == []
    assert channel.put(watched("later")) == []
    assert channel.batch_of(10) == []  # one at a time: each counts its own
    solo = channel.take(0, blocker)
    assert solo.id == "solo"
    assert channel.batch_of(10) == []
    assert channel.take(0, solo).id == "later"


def test_a_job_cancelled_out_of_line_is_not_started():
    channel = channel_with_idle_runners(1)
    blocker = watched("blocker")
    channel.put(blocker)
    kept, lost, cancelled = watched("kept"), watched("lost", case_id="lost-case"), watched("c")
    for job in (kept, lost, cancelled):
        assert channel.put(job) == []
    batch = channel.batch_of(10)
    assert len(batch) == 3
    assert channel.withdraw_case("lost-case") == 1  # its case was lost while it was counted
    assert channel.withdraw(cancelled)
    channel.counted(batch, {j.id: 1 for j in batch})
    assert channel.take(0, blocker) is kept
    assert channel.take(0, kept) is None  # the cancelled ones are skipped
    assert lost.state is JobState.CANCELLED
    assert channel.quiet()
    assert channel.counted_try("lost") is None  # dropped with the job


def test_a_try_counted_for_a_copy_withdrawn_meanwhile_is_not_the_claimed_back_copys():
    # A job's case was lost while a runner counted the job's try in a batch, and claimed
    # back: a new copy of the job, a suspect now (the store has that try), goes first.
    # Read by it, the old copy's count would let it run without counting its own try
    # (the store's count would then say one try fewer than the runs alone).
    channel = channel_with_idle_runners(1)
    blocker = watched("blocker")
    channel.put(blocker)
    stale = watched("job", case_id="case")
    assert channel.put(stale) == []
    assert channel.batch_of(10) == [stale]
    assert channel.withdraw_case("case") == 1
    channel.counted([stale], {"job": 1})
    again = watched("job", solo=True, case_id="case")
    assert channel.put(again) == []
    assert channel.take(0, blocker) is again
    assert channel.counted_try("job") is None
