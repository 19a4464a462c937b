"""A cancel's mark outlives the runner's next save of the unfinished job.

``Store.mark_cancel`` marks a job at once so that the next start, or the worker that
takes the case over, cancels it even if the runner never reports. The runner's save
that follows (a park, a split, a step's save, made after its last look for a stop)
holds a record without the mark: a SQL store that wrote it over the row lost the mark,
and a non-draining stop then let the next start run the cancelled case on. A save that
ends the job writes its own, and an operator's reset clears the mark on purpose.
"""

from group_support import ON_GROUP_STORES, Callbacks, submit
from records import record

from actors import JobState


def _marked_then_saved(store, save):
    job = record("j1", step="a")
    store.create(job)
    store.mark_cancel("j1", "cancelled by alice")
    runner_copy = record("j1", step="b")  # as the runner left it, before the mark
    save(store, runner_copy)
    return store.load("j1")


def _saved(store, job):
    store.save(job)


def _saved_in_a_slice(store, job):
    calls = Callbacks()
    submit(store, calls("runner"), lambda s: s.save(job))
    assert calls.wait(1)[0][1] is None


def test_a_save_of_the_unfinished_job_keeps_the_mark(store):
    stored = _marked_then_saved(store, _saved)
    assert stored.step == "b", "the save was not stored"
    assert stored.cancel_requested, "the runner's save cleared the cancel's mark"


def test_a_fenced_save_keeps_the_mark(make_store):
    store = make_store()
    store.owner = "A"
    stored = _marked_then_saved(store, _saved)
    assert stored.step == "b" and stored.cancel_requested


@ON_GROUP_STORES
def test_a_group_s_save_of_the_unfinished_job_keeps_the_mark(group):
    stored = _marked_then_saved(group, _saved_in_a_slice)
    assert stored.step == "b", "the slice's save was not stored"
    assert stored.cancel_requested, "the slice's save cleared the cancel's mark"


def _ended(store, job):
    job.state = JobState.DONE
    job.step = None
    store.save(job)


def test_a_save_that_ends_the_job_writes_its_own(store):
    stored = _marked_then_saved(store, _ended)
    assert stored.state is JobState.DONE
    assert not stored.cancel_requested


@ON_GROUP_STORES
def test_a_group_s_save_that_ends_the_job_writes_its_own(group):
    def ended_in_a_slice(store, job):
        job.state = JobState.DONE
        job.step = None
        _saved_in_a_slice(store, job)

    stored = _marked_then_saved(group, ended_in_a_slice)
    assert stored.state is JobState.DONE
    assert not stored.cancel_requested


def test_an_operator_s_change_clears_the_mark_on_purpose(sql_store):
    store = sql_store
    store.create(record("j1", step="a"))
    store.mark_cancel("j1", "cancelled by alice")

    def reset(jobs):  # as a reset to a step does: the job runs again, not cancelled
        job = jobs[0].record
        job.step, job.error, job.cancel_requested = "a", None, False
        return [job], [], "reset"

    assert store.change_case("j1", reset, now=0.0, stamp="admin") == "reset"
    stored = store.load("j1")
    assert stored.state is JobState.READY and not stored.cancel_requested
