"""The Store contract for claims, leases and fencing, run against every store.

A case is leased to one worker; another takes it over only once the lease expires, and
from then on every write of the first worker is refused and writes nothing. MemoryStore
is the reference model; the durable stores must behave the same.
"""

import threading
import time
from functools import partial

import pytest
from bounds import TIMEOUT
from records import record, same, saved_split

from actors import JobState, LeaseLostError, StoreError

rec = partial(record, workflow="order", step="reserve")
split = partial(saved_split, build=rec)


# -- claims and leases ----------------------------------------------------------------------------


def test_claim_takes_free_cases_oldest_first_up_to_limit(store):
    for i in range(5):
        store.create(rec(f"c{i}"))
    first = store.claim("w1", now=100.0, lease_seconds=10.0, limit=3)
    assert [j.id for j in first] == ["c0", "c1", "c2"]
    assert all(j.state is JobState.READY for j in first)  # returned as last saved
    second = store.claim("w2", now=100.0, lease_seconds=10.0, limit=10)
    assert [j.id for j in second] == ["c3", "c4"]
    assert store.claim("w3", now=100.0, lease_seconds=10.0, limit=10) == []


def test_claim_takes_only_cases_of_the_workflows_the_worker_serves(store):
    store.create(rec("a1", workflow="a", version=1))
    store.create(rec("a2", workflow="a", version=2))
    store.create(rec("b1", workflow="b", version=1))
    assert store.unclaimed(100.0) == {("a", 1): 1, ("a", 2): 1, ("b", 1): 1}
    got = store.claim("w1", now=100.0, lease_seconds=10.0, limit=5, workflows=[("a", 1)])
    assert [j.id for j in got] == ["a1"]
    assert store.claim("w1", now=100.0, lease_seconds=10.0, limit=5, workflows=[]) == []
    assert store.lease_owners(["a2", "b1"]) == {"a2": None, "b1": None}  # untouched
    assert store.unclaimed(100.0) == {("a", 2): 1, ("b", 1): 1}
    rest = store.claim("w2", now=100.0, lease_seconds=10.0, limit=5, workflows=[("a", 2), ("b", 1)])
    assert sorted(j.id for j in rest) == ["a2", "b1"]
    assert store.unclaimed(100.0) == {}


def test_claim_returns_every_unfinished_job_of_a_case(store):
    parent, branches = split(store, 3)
    branches[1].state = JobState.DONE
    store.save(branches[1])
    got = store.claim("w1", now=1.0, lease_seconds=10.0, limit=1)
    assert sorted(j.id for j in got) == sorted([parent.id, branches[0].id, branches[2].id])
    assert store.claim("w2", now=2.0, lease_seconds=10.0, limit=5) == []


def test_an_expired_lease_is_claimed_by_another_worker(store):
    store.create(rec("j"))
    [job] = store.claim("w1", now=100.0, lease_seconds=10.0, limit=1)
    job.step, job.state = "second", JobState.RUNNING
    store.save(job)  # the owner saves a step: the lease stays
    assert store.claim("w2", now=109.9, lease_seconds=10.0, limit=5) == []
    [again] = store.claim("w2", now=110.1, lease_seconds=10.0, limit=5)
    assert again.id == "j"
    assert again.step == "second"  # it resumes from its last saved step
    assert store.claim("w1", now=115.0, lease_seconds=10.0, limit=5) == []  # w2 holds it


def test_a_case_taken_from_another_worker_says_so_in_its_history(store):
    """Why a step ran twice: the takeover is a row of the root's history."""
    store.create(rec("j"))
    store.create(rec("k"))
    store.claim("w1", now=100.0, lease_seconds=10.0, limit=2)  # nobody's before: no row
    assert [r.action for r in store.step_history("j") if r.action] == []
    store.release("w1")  # both handed back at once
    taken = store.claim("w2", now=101.0, lease_seconds=10.0, limit=1, case_id="k")
    assert [j.id for j in taken] == ["k"]
    store.claim("w1", now=101.0, lease_seconds=10.0, limit=1, case_id="j")  # its own: no row
    store.claim("w3", now=111.5, lease_seconds=10.0, limit=1, case_id="j")  # w1's lease ran out
    rows = {job_id: [r for r in store.step_history(job_id) if r.action] for job_id in "jk"}
    assert [(r.action, r.worker, r.step, r.state) for r in rows["k"]] == [
        ("taken over from w1 (it released the case)", "w2", "reserve", "ready")
    ]
    assert [r.action for r in rows["j"]] == ["taken over from w1 (its lease expired)"]


def test_heartbeat_extends_only_the_owners_leases(store):
    store.create(rec("a"))
    store.create(rec("b"))
    store.claim("w1", now=100.0, lease_seconds=10.0, limit=1)  # a
    store.claim("w2", now=100.0, lease_seconds=10.0, limit=1)  # b
    store.heartbeat("w1", now=108.0, lease_seconds=10.0)
    taken = store.claim("w3", now=112.0, lease_seconds=10.0, limit=5)
    assert [j.id for j in taken] == ["b"]  # w2 missed its heartbeat
    assert store.claim("w3", now=117.9, lease_seconds=10.0, limit=5) == []
    assert [j.id for j in store.claim("w3", now=118.1, lease_seconds=10.0, limit=5)] == ["a"]


def test_release_hands_cases_back_at_once(store):
    store.create(rec("a"))
    store.create(rec("b"))
    store.claim("w1", now=100.0, lease_seconds=60.0, limit=5)
    assert store.release("w1") == 2
    assert [j.id for j in store.claim("w2", now=101.0, lease_seconds=60.0, limit=5)] == ["a", "b"]
    assert store.release("nobody") == 0


def test_reclaim_takes_back_the_owners_cases_and_frees_those_beyond_the_limit(store):
    for name in "abcd":
        store.create(rec(name))
    store.create(rec("e"))
    assert len(store.claim("w1", now=100.0, lease_seconds=60.0, limit=4)) == 4  # a to d
    # w1 restarts under its name with room for two: it takes its two oldest back at once,
    # and its other two are free now, for anyone (here w2, with "e" that nobody held).
    back = store.claim("w1", now=101.0, lease_seconds=60.0, limit=2, reclaim=True)
    assert [j.id for j in back] == ["a", "b"]
    others = store.claim("w2", now=102.0, lease_seconds=60.0, limit=5)
    assert [j.id for j in others] == ["c", "d", "e"]
    # Its heartbeat renews only what it took back.
    store.heartbeat("w1", now=103.0, lease_seconds=60.0)
    assert store.leases_held(103.0) == [("w1", 2, 163.0), ("w2", 3, 162.0)]


def test_reclaim_leaves_other_workers_cases_alone(store):
    store.create(rec("a"))
    store.create(rec("b"))
    store.claim("w1", now=100.0, lease_seconds=60.0, limit=1)  # a
    store.claim("w2", now=100.0, lease_seconds=60.0, limit=1)  # b
    back = store.claim("w1", now=101.0, lease_seconds=60.0, limit=5, reclaim=True)
    assert [j.id for j in back] == ["a"]
    assert store.lease_owners(["a", "b"]) == {"a": "w1", "b": "w2"}


def test_finished_cases_are_not_claimed(store):
    store.create(rec("a"))
    store.create(rec("b"))
    [a, b] = store.claim("w1", now=100.0, lease_seconds=1.0, limit=5)
    b.state = JobState.DONE
    store.save(b)
    a.state, a.due = JobState.WAITING, 500.0
    store.save(a)
    assert [j.id for j in store.claim("w2", now=1000.0, lease_seconds=1.0, limit=5)] == ["a"]


def test_claim_one_case_by_id(store):
    store.create(rec("a"))
    store.create(rec("b"))
    assert [j.id for j in store.claim("w1", 1.0, 10.0, 5, case_id="b")] == ["b"]
    assert store.claim("w2", 2.0, 10.0, 5, case_id="b") == []
    assert [j.id for j in store.claim("w2", 2.0, 10.0, 5)] == ["a"]


def test_a_root_created_with_an_owner_is_leased_to_it(make_sql_store):
    store = make_sql_store()
    store.owner, store.lease_seconds = "w1", 60.0
    store.create(rec("mine"))
    other = make_sql_store()
    now = time.time()
    assert other.claim("w2", now=now, lease_seconds=10.0, limit=5) == []
    assert [j.id for j in other.claim("w2", now=now + 61, lease_seconds=10.0, limit=5)] == ["mine"]


def test_concurrent_claims_take_each_case_exactly_once(make_sql_store):
    stores = [make_sql_store(), make_sql_store()]  # two "processes" on one database
    n = 60
    for i in range(n):
        stores[0].create(rec(f"q{i:03}"))
    start = threading.Barrier(8)
    taken, errors = [], []
    lock = threading.Lock()

    def work(w):
        try:
            store = stores[w % 2]
            start.wait(timeout=TIMEOUT)
            while True:
                got = store.claim(f"w{w}", now=100.0, lease_seconds=60.0, limit=3)
                if not got:
                    return
                with lock:
                    taken.extend(j.id for j in got)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=2 * TIMEOUT)
    assert not errors
    assert sorted(taken) == [f"q{i:03}" for i in range(n)]


# -- fencing: a worker whose case was taken over writes nothing --------------------------------
#
# One store plays worker A (``owner = "A"``); worker B takes A's cases over with
# ``claim("B", ...)`` once A's lease has expired (a later ``now``), as a worker that
# outlived A's lease would. A's later writes must be refused and write nothing.

LATER = 10**10  # a "now" after every lease taken in these tests has expired


def _as_worker(store, owner="A"):
    store.owner, store.lease_seconds = owner, 30.0
    return store


def _taken_over(store, case_id):
    [*jobs] = store.claim("B", now=LATER, lease_seconds=60.0, limit=1, case_id=case_id)
    assert jobs, "B should have taken the case over"
    return {job.id: job for job in jobs}


def _fenced(call, job_id, case_id):
    with pytest.raises(LeaseLostError) as caught:
        call()
    err = caught.value
    assert isinstance(err, StoreError)
    assert (err.job_id, err.case_id, err.owner, err.worker) == (job_id, case_id, "B", "A")
    for name in (job_id, case_id, "'B'"):
        assert name in str(err)
    return err


def test_a_save_of_a_case_taken_over_is_fenced_and_writes_nothing(store):
    _as_worker(store)
    store.create(rec("r", step="first"))
    job = store.load("r")
    job.step, job.state = "second", JobState.RUNNING
    store.save(job)  # A holds the lease: saved
    taken = _taken_over(store, "r")["r"]
    assert taken.step == "second"
    job.step, job.data = "third", {"stale": True}
    _fenced(lambda: store.save(job), "r", "r")
    job.state = JobState.DONE
    _fenced(lambda: store.save(job), "r", "r")  # a final save too
    same(store.load("r"), taken)  # as B took it over
    assert store.claim("C", now=LATER, lease_seconds=60.0, limit=5) == []  # B still holds it


def test_a_branch_save_and_a_split_of_a_case_taken_over_are_fenced(store):
    _as_worker(store)
    parent, branches = split(store, 2)
    taken = _taken_over(store, parent.id)
    branch = branches[1]
    branch.step, branch.state = "later", JobState.RUNNING
    _fenced(lambda: store.save(branch), branch.id, parent.id)
    same(store.load(branch.id), taken[branch.id])
    parent = store.load(parent.id)  # memory:// keeps the saved record itself
    parent.gen += 1
    again = [
        rec(f"{parent.id}.new{i}", case_id=parent.id, parent_id=parent.id, branch_index=i)
        for i in range(2)
    ]
    _fenced(lambda: store.save_split(parent, again), parent.id, parent.id)
    assert store.get(again[0].id) is None and store.get(again[1].id) is None
    same(store.load(parent.id), taken[parent.id])


def test_an_arrival_at_a_case_taken_over_is_fenced_and_counts_nothing(store):
    _as_worker(store)
    parent, _ = split(store, 2)
    assert store.record_arrival(parent.id, 1, 0, {"b": 0}, join_step="join") == (1, 2)
    _taken_over(store, parent.id)
    _fenced(
        lambda: store.record_arrival(parent.id, 1, 1, {"b": 1}, join_step="join"),
        parent.id,
        parent.id,
    )
    loaded = store.load(parent.id)
    assert (loaded.state, loaded.arrivals) == (JobState.WAITING, {0: {"b": 0}})
    store.owner = "B"  # the new owner counts it
    assert store.record_arrival(parent.id, 1, 1, {"b": 1}, join_step="join") == (2, 2)


def test_saves_are_not_fenced_when_the_case_is_this_workers_or_nobodys(store):
    store.create(rec("free", step="a"))  # no owner yet: nobody holds it
    _as_worker(store)
    job = store.load("free")
    job.step = "b"
    store.save(job)  # unleased: not fenced
    store.claim("A", now=LATER, lease_seconds=60.0, limit=1, case_id="free")
    job.step = "c"
    store.save(job)  # A's own lease, even once expired and not yet taken: not fenced
    assert store.release("A") == 1
    job.step = "d"
    store.save(job)  # released: nobody's
    assert store.load("free").step == "d"


def test_a_store_without_an_owner_does_not_fence(store):
    store.create(rec("plain", step="a"))
    store.claim("B", now=LATER, lease_seconds=60.0, limit=1)
    job = store.load("plain")
    job.step = "b"
    store.save(job)  # a single-process store (no owner) never fences
    assert store.load("plain").step == "b"


def test_fencing_between_two_connections(make_sql_store):
    a = _as_worker(make_sql_store())
    b = _as_worker(make_sql_store(), "B")
    a.create(rec("r", step="a"))
    job = a.load("r")
    [mine] = b.claim("B", now=LATER, lease_seconds=60.0, limit=1)
    mine.step = "b-ran-this"
    b.save(mine)
    job.step = "a-is-stale"
    _fenced(lambda: a.save(job), "r", "r")
    mine.state = JobState.DONE
    b.save(mine)  # B ends the case
    assert a.load("r").step == "b-ran-this" and a.load("r").state is JobState.DONE


def test_slice_commits_are_fenced_too(make_sql_store):
    store = _as_worker(make_sql_store(commit="slice"))
    parent, branches = split(store, 2)
    _taken_over(store, parent.id)
    branch = branches[0]
    store.begin_slice()
    branch.step = "x"
    store.save(branch)  # grouped: nothing is checked or written yet
    _fenced(store.end_slice, branch.id, parent.id)
    assert store.load(branch.id).step == "b0"
    store.begin_slice()
    store.save(branch)  # committed with the arrival: both fenced
    _fenced(lambda: store.record_arrival(parent.id, 1, 0, {}), parent.id, parent.id)
    store.end_slice()
    assert store.load(branch.id).step == "b0"
    assert store.load(parent.id).arrivals == {}


def test_a_worker_that_wakes_after_the_new_owner_ended_the_case_is_still_fenced(store):
    _as_worker(store)
    parent, branches = split(store, 2)
    taken = _taken_over(store, parent.id)
    store.owner = "B"  # B runs the case to its end
    for branch in branches:
        ended = taken[branch.id]
        ended.state = JobState.DONE
        store.save(ended)
    root = taken[parent.id]
    root.state = JobState.DONE
    store.save(root)
    store.heartbeat("B", now=LATER, lease_seconds=60.0)
    assert store.leases_held(LATER) == []  # no case left held
    store.owner = "A"  # A wakes: every row of the case is still B's
    stale = store.load(branches[0].id)
    stale.step, stale.state = "stale", JobState.RUNNING
    _fenced(lambda: store.save(stale), branches[0].id, parent.id)
    stale = store.load(parent.id)
    stale.state = JobState.FAULTED
    _fenced(lambda: store.save(stale), parent.id, parent.id)
    assert store.load(branches[0].id).state is JobState.DONE
    assert store.load(parent.id).state is JobState.DONE


def test_a_released_case_still_fences_its_previous_holder(store):
    _as_worker(store)
    store.create(rec("r", step="a"))
    job = store.load("r")
    _taken_over(store, "r")
    assert store.release("B") == 1
    job.step = "stale"
    _fenced(lambda: store.save(job), "r", "r")  # released by B, not handed back to A
    store.heartbeat("B", now=LATER, lease_seconds=60.0)
    assert store.leases_held(LATER) == []  # released: nothing left held
    [again] = store.claim("C", now=LATER, lease_seconds=60.0, limit=5)  # free at once
    assert again.step == "a"


def test_lease_lost_error_copies_with_its_fields():
    import copy

    err = copy.deepcopy(LeaseLostError("j", "c", "B", "A"))  # through __reduce__, as pickle
    assert (err.job_id, err.case_id, err.owner, err.worker, str(err)) == (
        "j",
        "c",
        "B",
        "A",
        str(LeaseLostError("j", "c", "B", "A")),
    )


# -- a cancel stored while the job's runner runs it ----------------------------------------------


def test_a_marked_cancel_reaches_the_worker_that_takes_the_case_over(store):
    _as_worker(store)
    store.create(rec("m", step="first"))
    store.mark_cancel("m", "cancelled by alice")
    assert store.load("m").cancel_requested  # read as any reader reads the job
    jobs = _taken_over(store, "m")
    assert jobs["m"].cancel_requested and jobs["m"].error == "cancelled by alice"
    assert jobs["m"].step == "first"  # as last saved otherwise


def test_a_mark_is_written_only_by_the_case_s_holder_and_not_on_an_ended_job(store):
    _as_worker(store)
    store.create(rec("x", step="first"))
    store.create(rec("y", step="first"))
    done = store.load("y")
    done.state = JobState.DONE
    store.save(done)
    _taken_over(store, "x")  # B holds x now: A's mark writes nothing
    store.mark_cancel("x", "cancelled")
    store.mark_cancel("y", "cancelled")
    store.owner = "B"
    assert not store.load("x").cancel_requested
    assert store.load("y").state is JobState.DONE and store.load("y").error is None
