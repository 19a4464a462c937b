"""The Store contract for tries of jobs taken from a stopped worker, run against every store.

A claim marks ``taken_over`` every unfinished job of a case whose holder stopped holding
it without a release (its lease expired, or a worker restarted under the same name takes
its own cases back); ``count_try`` counts the runs of such a job from one saved point, and
a save in between starts the count again.
"""

from functools import partial

import pytest
from records import record, saved_split

from actors import JobState, LeaseLostError

rec = partial(record, workflow="order", step="reserve")


def take(store, owner, now, **kwargs):
    """Claim as ``owner`` (the store saves as that worker from now on)."""
    store.owner = owner
    return store.claim(owner, now=now, lease_seconds=10.0, limit=10, **kwargs)


def test_a_fresh_or_released_case_is_not_taken_over(store):
    store.create(rec("j"))
    [first] = take(store, "w1", 100.0)
    assert first.taken_over is False  # never held before
    store.release("w1")
    [again] = take(store, "w2", 101.0)
    assert again.taken_over is False  # its holder handed it back: nothing went wrong


def test_every_unfinished_job_of_an_expired_case_is_taken_over(store):
    parent, branches = saved_split(store, 3, build=rec)
    branches[0].state = JobState.DONE
    store.save(branches[0])
    take(store, "w1", 100.0)
    assert take(store, "w2", 105.0) == []  # still w1's
    taken = take(store, "w2", 111.0)
    assert sorted(j.id for j in taken) == sorted([parent.id, branches[1].id, branches[2].id])
    assert all(j.taken_over for j in taken)


def test_a_worker_restarted_under_its_name_takes_its_cases_back_as_taken_over(store):
    store.create(rec("held"))
    take(store, "w1", 100.0)
    [back] = take(store, "w1", 101.0, reclaim=True)  # its previous process never released
    assert back.id == "held"
    assert back.taken_over is True


def test_tries_count_on_at_one_saved_point_and_start_again_after_a_save(store):
    store.create(rec("j"))
    take(store, "w1", 100.0)
    [job] = take(store, "w2", 111.0)
    assert store.count_try(job) == 1
    [job] = take(store, "w3", 122.0)  # w2 stopped with nothing saved
    assert store.count_try(job) == 2
    [job] = take(store, "w4", 133.0)
    assert store.count_try(job) == 3
    job.step, job.state = "ship", JobState.RUNNING
    store.save(job)  # w4 got through a step
    [job] = take(store, "w5", 144.0)
    assert job.step == "ship"
    assert store.count_try(job) == 1


def test_a_try_is_counted_only_by_the_worker_holding_the_case(store):
    store.create(rec("j"))
    take(store, "w1", 100.0)
    [job] = take(store, "w2", 111.0)
    take(store, "w3", 122.0)  # w2 froze; w3 holds the case now
    store.owner = "w2"
    with pytest.raises(LeaseLostError):
        store.count_try(job)
    store.owner = "w3"
    assert store.count_try(job) == 1  # w2's refused try did not count


def test_a_job_whose_counted_try_ended_with_its_worker_comes_back_to_run_alone(store):
    store.create(rec("j"))
    take(store, "w1", 100.0)
    [job] = take(store, "w2", 111.0)
    assert not job.solo  # no try of it was counted yet: w1 may have died of another job
    store.count_try(job)
    [job] = take(store, "w3", 122.0)  # w2 died running it
    assert job.taken_over and job.solo
    store.count_try(job)
    job.step, job.state = "ship", JobState.RUNNING
    store.save(job)  # w3 got through
    [job] = take(store, "w4", 133.0)
    assert job.taken_over and not job.solo


def test_an_operator_reads_the_tries_counted_at_the_last_save(store):
    store.create(rec("j"))
    assert store.stored_job("j").tries == 0
    take(store, "w1", 100.0)
    [job] = take(store, "w2", 111.0)
    store.count_try(job)
    [job] = take(store, "w3", 122.0)
    store.count_try(job)
    assert store.stored_job("j").tries == 2
    assert store.stored_jobs(["j"])["j"].tries == 2
    job.step, job.state = "ship", JobState.RUNNING
    store.save(job)  # got through a step: the count is of the last save's point only
    assert store.stored_job("j").tries == 0


def test_a_batch_of_tries_is_counted_as_each_would_be_and_leaves_out_what_it_cannot(store):
    _parent, branches = saved_split(store, 3, build=rec)
    take(store, "w1", 100.0)
    taken = {j.id: j for j in take(store, "w2", 111.0)}
    assert store.count_try(taken[branches[0].id]) == 1  # counted alone before
    jobs = [taken[b.id] for b in branches]
    assert store.count_tries(jobs) == {branches[0].id: 2, branches[1].id: 1, branches[2].id: 1}
    taken = {j.id: j for j in take(store, "w3", 122.0)}  # w2 stopped: counts go on
    assert store.count_tries([taken[b.id] for b in branches[1:]]) == {
        branches[1].id: 2,
        branches[2].id: 2,
    }
    assert store.count_tries([]) == {}
    store.owner = "w2"  # w3 holds the case now: w2 counts none, and says so one by one
    assert store.count_tries(jobs) == {}
    with pytest.raises(LeaseLostError):
        store.count_try(jobs[0])
    store.owner = "w3"
    assert store.stored_job(branches[1].id).tries == 2  # w2's refused batch did not count
