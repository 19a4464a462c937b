"""The Scheduler's count of a job's slices not stored in a row: again, alone, then a fault."""

from actors import StoreError
from actors._job import JobRecord
from actors._unsaved_slices import RUNS, SOLO_TRIES, UnsavedSlices
from actors.testing import InjectedCrash


def _job(job_id: str = "j") -> JobRecord:
    return JobRecord(job_id, job_id, "two", 1, "a", {})


def test_a_job_runs_again_then_alone_then_faults_naming_the_store_s_error() -> None:
    unsaved = UnsavedSlices()
    refused = StoreError("sqlite:///x.db: cannot store a group: IntegrityError: overflow")
    turns = [unsaved.failed(_job(), refused) for _ in range(RUNS)]
    assert [(t.alone, t.fault is None) for t in turns[:-1]] == [
        (False, True),
        *[(True, True)] * SOLO_TRIES,
    ]
    fault = turns[-1].fault
    assert fault is not None
    assert f"ran {RUNS} times" in fault
    assert fault.endswith("the store said: StoreError: " + str(refused))
    assert not unsaved.counts  # forgotten once faulted


def test_a_stored_slice_starts_the_count_again_and_jobs_count_apart() -> None:
    unsaved = UnsavedSlices()
    error = StoreError("refused")
    assert unsaved.failed(_job("j"), error).alone is False
    assert unsaved.failed(_job("j"), error).alone is True
    assert unsaved.failed(_job("k"), error).alone is False  # another job: its own count
    unsaved.went_on("j")
    assert unsaved.failed(_job("j"), error).alone is False  # first again
    assert unsaved.counts == {"j": 1, "k": 1}


def test_failures_that_are_not_the_job_s_doing_are_not_counted() -> None:
    unsaved = UnsavedSlices()
    for _ in range(3 * RUNS):
        turn = unsaved.failed(_job(), InjectedCrash("the writer crashed"))
        assert (turn.alone, turn.fault) == (False, None)
    assert not unsaved.counts


def test_the_fault_masks_a_password_the_store_s_error_quotes() -> None:
    unsaved = UnsavedSlices(solo_tries=0)
    error = StoreError("postgresql://u:hunter22@db/x: cannot store a group: bad")
    unsaved.failed(_job(), error)
    fault = unsaved.failed(_job(), error).fault
    assert fault is not None
    assert "hunter22" not in fault and "***" in fault
