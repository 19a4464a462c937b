"""Records of a case claimed back while a runner was busy: held, then read again, once each.

A worker that lost a case and claims it back while runners are busy (one may hold a
stale copy of a job of it, or be counting tries of its jobs) holds the claimed records
until those runners have left their jobs (``actors._stale_copies``), then reads them
again from the store and resumes them.
"""

from __future__ import annotations

from collections.abc import Sequence

from records import record

from actors import messages as m
from actors._errors import StoreError
from actors._job import JobRecord
from actors._stale_copies import StaleCopies
from actors.stores._admin_types import StoredJob


def _stored(tries: int = 0):
    def read(ids: Sequence[str]) -> dict[str, StoredJob]:
        return {i: StoredJob(record(i), None, None, None, "me", None, tries=tries) for i in ids}

    return read


def _held_by_a_busy_runner() -> tuple[dict[str, tuple[int, JobRecord]], StaleCopies]:
    running = {"other": (0, record("other", case_id="elsewhere"))}
    stale = StaleCopies(running, {})
    stale.dropped("case")  # the runner of "other" was busy when "case" was lost
    return running, stale


def test_a_job_claimed_back_twice_while_held_is_resumed_once():
    # The worker's own lease lapsed while the case waited, and its next claim took the
    # case again: two records of the job were resumed, and it ran twice side by side
    # (a step its first copy had stored ran again on the same worker).
    running, stale = _held_by_a_busy_runner()
    first = record("job", case_id="case", taken_over=True)
    assert stale.hold([first]) == []
    assert stale.hold([record("job", case_id="case", taken_over=True)]) == []
    running.clear()
    [again] = stale.released(lambda job_id: record(job_id, case_id="case", step="b"), _stored())
    assert again.step == "b"  # read again: the stale copy saved its step meanwhile


def test_a_held_case_waits_while_the_store_cannot_be_read():
    # Resumed as claimed, the job ran again the step its stale copy had stored.
    running, stale = _held_by_a_busy_runner()
    assert stale.hold([record("job", case_id="case", step="a", taken_over=True)]) == []
    running.clear()

    def down(job_id: str) -> JobRecord | None:
        raise StoreError("the database cannot be reached (test)")

    assert stale.released(down, _stored()) == []
    assert stale.waiting("case")
    [again] = stale.released(lambda job_id: record(job_id, case_id="case", step="b"), _stored())
    assert (again.step, again.taken_over, again.solo) == ("b", True, False)


def test_a_job_whose_try_is_in_the_store_already_runs_alone():
    # A runner counted its try (a stale copy's, in a batch) after the claim read it.
    running, stale = _held_by_a_busy_runner()
    assert stale.hold([record("job", case_id="case", taken_over=True)]) == []
    running.clear()
    [again] = stale.released(lambda job_id: record(job_id, case_id="case"), _stored(tries=1))
    assert (again.taken_over, again.solo) == (True, True)


def test_a_case_waits_while_its_stale_copys_slice_is_not_stored():
    # With group commit the runner leaves the job before the writer stores its slice: read
    # then, the record had not the step's save, and the step ran again.
    running = {"job": (0, record("job", case_id="case"))}
    storing: dict[object, JobRecord] = {}
    stale = StaleCopies(running, storing)
    stale.dropped("case")
    assert stale.hold([record("job", case_id="case", step="a")]) == []
    key = object()
    storing[key] = running["job"][1]  # handed to the writer ...
    del running["job"]  # ... and left the runner
    assert stale.released(lambda job_id: record(job_id, case_id="case", step="a"), _stored()) == []
    del storing[key]  # stored
    [again] = stale.released(lambda job_id: record(job_id, case_id="case", step="b"), _stored())
    assert again.step == "b"


def test_a_slice_on_its_way_to_the_store_when_the_case_is_lost_is_waited_for():
    storing: dict[object, JobRecord] = {object(): record("job", case_id="case")}
    stale = StaleCopies({}, storing)
    stale.dropped("case")
    assert stale.hold([record("job", case_id="case")]) == []
    storing.clear()
    assert len(stale.released(lambda job_id: record(job_id, case_id="case"), _stored())) == 1


def test_the_reports_of_a_copy_a_runner_held_when_its_case_was_dropped_are_stale():
    # Told after its runner left the job, a report could come once the case was back and
    # its job resumed from the store: taken as the job's, the job went on twice.
    stale_copy, other = record("job", case_id="case"), record("other", case_id="elsewhere")
    storing: dict[object, JobRecord] = {object(): record("stored", case_id="case")}
    stale = StaleCopies({"job": (0, stale_copy), "other": (1, other)}, storing)
    stale.dropped("case")
    [on_its_way] = storing.values()
    assert stale.stale_report(m.LeaseUnvouched(0, stale_copy))
    assert stale.stale_report(m.JobEnded(-1, on_its_way))
    assert not stale.stale_report(m.JobEnded(0, record("job", case_id="case")))  # read again
    assert not stale.stale_report(m.JobEnded(1, other))  # another case's job


def test_every_branch_of_a_split_a_stale_copy_made_is_stale():
    # Only the first branch's report brings the parent; the others name it.
    parent = record("p", case_id="case", gen=3)
    stale = StaleCopies({"p": (0, parent)}, {})
    stale.dropped("case")
    branches = [record(f"p.{i}", case_id="case", parent_id="p", parent_gen=3) for i in range(2)]
    assert stale.stale_report(m.SpawnBranch(branches[0], parent=parent))
    assert stale.stale_report(m.SpawnBranch(branches[1]))
    again = record("p", case_id="case", gen=4)  # the parent read again, splitting anew
    later = record("p.9", case_id="case", parent_id="p", parent_gen=4)
    assert not stale.stale_report(m.SpawnBranch(later, parent=again))
    assert not stale.stale_report(m.SpawnBranch(record("p.8", parent_id="p", parent_gen=4)))


def test_a_case_never_claimed_back_is_forgotten_once_its_runners_left():
    # Noted at the drop for a claim back that never came, each such case stayed for good.
    running, stale = _held_by_a_busy_runner()
    assert stale.released(lambda job_id: None, _stored()) == []
    assert stale._stale  # the runner of "other" is still busy
    running.clear()
    assert stale.released(lambda job_id: None, _stored()) == []
    assert not stale._stale
