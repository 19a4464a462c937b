"""The Store contract, run against every store: memory, SQLite and PostgreSQL.

MemoryStore is the reference model; the durable stores must behave the same wherever
the engine can tell. Tests of what only a durable store does (its own copy of the data,
bad rows, claims racing across connections) use ``sql_store``.
"""

import threading
import time
from dataclasses import dataclass, field

import pytest

from actors import CodecError, JobNotFoundError, JobState, LeaseLostError, StoreError
from actors._job import FINAL_STATES, Job, JobRecord
from actors.stores import Store, register_dataclass


@register_dataclass
@dataclass
class Line:
    sku: str
    qty: int = 1


@register_dataclass
@dataclass
class Order:
    order_id: int
    lines: list[Line] = field(default_factory=list)
    note: str | None = None


_ids = iter(range(1, 10**9))
_DEFAULT = object()


def rec(job_id=None, *, data=_DEFAULT, state=JobState.READY, **fields):
    job_id = job_id or f"job-{next(_ids)}"
    return JobRecord(
        id=job_id,
        case_id=fields.pop("case_id", job_id),
        workflow=fields.pop("workflow", "order"),
        version=fields.pop("version", 1),
        step=fields.pop("step", "reserve"),
        data={"n": 1} if data is _DEFAULT else data,
        state=state,
        **fields,
    )


def same(a: JobRecord, b: JobRecord):
    """The fields a save records are equal (cancel_requested is not a saved field)."""
    skip = {"cancel_requested"}
    for name in JobRecord.__slots__:
        if name not in skip:
            assert getattr(a, name) == getattr(b, name), name


# -- create / save / load / get -------------------------------------------------------------------


def test_create_then_load_returns_a_fresh_equal_record(store):
    job = rec(data={"order_id": 7})
    store.create(job)
    loaded = store.load(job.id)
    assert loaded is not job
    same(loaded, job)
    assert loaded.state is JobState.READY


def test_get_returns_a_job_snapshot(store):
    job = rec(data={"x": [1, 2]}, parent_id=None)
    store.create(job)
    snap = store.get(job.id)
    assert isinstance(snap, Job)
    assert snap == job.snapshot()


def test_create_many_saves_every_job_in_order(store):
    jobs = [rec(data={"n": i}) for i in range(5)]
    store.create_many(jobs)
    for job in jobs:
        same(store.load(job.id), job)
    assert [job.id for job in store.unfinished()] == [job.id for job in jobs]


def test_existing_tells_which_ids_the_store_holds(store):
    jobs = [rec() for _ in range(3)]
    store.create_many(jobs[:2])
    assert store.existing([job.id for job in jobs]) == {jobs[0].id, jobs[1].id}
    assert store.existing([]) == set()


def test_create_many_is_all_or_nothing_and_names_the_item(sql_store):
    jobs = [rec(), rec(data={"bad": {1, 2}}), rec()]
    with pytest.raises(CodecError, match=r"^batch item 1: cannot encode data of job "):
        sql_store.create_many(jobs)
    assert sql_store.existing([job.id for job in jobs]) == set()


def test_unknown_job_is_none(store):
    assert store.load("nope") is None
    assert store.get("nope") is None


def test_save_records_every_step_change(store):
    job = rec()
    store.create(job)
    job.state = JobState.RUNNING
    job.step, job.attempt, job.data = "pay", 2, {"paid": True}
    store.save(job)
    job.state, job.due, job.step = JobState.WAITING, 123.5, "wait"
    job.event = ("reply", "", {"ok": True})
    store.save(job)
    loaded = store.load(job.id)
    assert (loaded.step, loaded.state, loaded.attempt, loaded.due) == (
        "wait",
        JobState.WAITING,
        2,
        123.5,
    )
    assert loaded.data == {"paid": True}
    assert loaded.event == ("reply", "", {"ok": True})
    job.state, job.error, job.due, job.event = JobState.FAULTED, "boom", None, None
    store.save(job)
    snap = store.get(job.id)
    assert (snap.state, snap.error) == (JobState.FAULTED, "boom")
    assert store.load(job.id).due is None


def test_save_of_a_job_never_created_stores_it(store):
    job = rec(state=JobState.RUNNING)
    store.save(job)
    same(store.load(job.id), job)


def test_load_as_last_saved_not_as_mutated_since(sql_store):
    job = rec(data={"items": [1]})
    sql_store.create(job)
    job.data["items"].append(2)  # a step changed it in place, then the runner died
    job.step = "later"
    loaded = sql_store.load(job.id)
    assert loaded.data == {"items": [1]}
    assert loaded.step == "reserve"
    loaded.data["items"].append(99)  # a loaded record is the caller's own copy
    assert sql_store.load(job.id).data == {"items": [1]}


@pytest.mark.parametrize(
    "data",
    [
        None,
        0,
        "text é ✓",
        [1, 2.5, None, True, "x"],
        {"nested": {"deep": [{"a": 1}, {"b": [None, False]}]}, "float": 1e-300, "big": 2**80},
        {1: "int key", "s": "str key", None: "none key", 2.5: "float key", False: "bool"},
        {"__map__": "a user key that looks like a tag", "__dataclass__": 1},
        Order(7, [Line("a"), Line("b", 3)], note="gift"),
        {"orders": [Order(1), Order(2, [Line("z", 9)])]},
    ],
    ids=lambda d: type(d).__name__,
)
def test_data_round_trips(store, data):
    job = rec(data=data)
    store.create(job)
    assert store.load(job.id).data == data
    assert store.get(job.id).data == data


def test_tuples_come_back_as_lists_from_durable_stores(sql_store):
    job = rec(data={"pair": (1, 2), "nested": [(3, (4,))]})
    sql_store.create(job)
    assert sql_store.load(job.id).data == {"pair": [1, 2], "nested": [[3, [4]]]}


def test_unencodable_data_is_refused_with_its_path(sql_store):
    job = rec(data={"items": [1, 2, {3, 4}]})
    with pytest.raises(CodecError, match=r"data of job .*\['items'\]\[2\].*builtins\.set"):
        sql_store.create(job)
    assert sql_store.get(job.id) is None  # nothing half-saved


def test_event_and_arrivals_round_trip(store):
    parent = rec(state=JobState.WAITING, split_step="fan", split_total=2, gen=3)
    parent.arrivals = {1: {"b": 1}, 0: Order(5)}
    parent.join_step = "join"
    parent.event = ("join", "join", None)
    parent.branch_error = "branch 1 faulted"
    parent.branch_cancelled = True
    store.create(parent)
    loaded = store.load(parent.id)
    assert loaded.arrivals == {1: {"b": 1}, 0: Order(5)}
    assert (loaded.split_step, loaded.split_total, loaded.gen) == ("fan", 2, 3)
    assert (loaded.join_step, loaded.branch_error, loaded.branch_cancelled) == (
        "join",
        "branch 1 faulted",
        True,
    )
    assert loaded.event == ("join", "join", None)


# -- splits, delete, unfinished, counts -----------------------------------------------------------


def split(store, n=3, *, gen=1):
    parent = rec(state=JobState.RUNNING)
    store.create(parent)
    parent.state, parent.gen, parent.split_step, parent.split_total = (
        JobState.WAITING,
        gen,
        "fan",
        n,
    )
    branches = [
        rec(
            f"{parent.id}.{i}",
            case_id=parent.case_id,
            step=f"b{i}",
            data={"i": i},
            parent_id=parent.id,
            branch_index=i,
            gen=gen,
        )
        for i in range(n)
    ]
    store.save_split(parent, branches)
    return parent, branches


def test_save_split_saves_parent_and_branches(store):
    parent, branches = split(store)
    assert store.load(parent.id).state is JobState.WAITING
    assert store.load(parent.id).split_total == 3
    for b in branches:
        loaded = store.load(b.id)
        assert (loaded.parent_id, loaded.branch_index, loaded.gen) == (parent.id, b.branch_index, 1)
        assert loaded.data == {"i": b.branch_index}


def test_save_split_is_atomic(sql_store):
    parent = rec(state=JobState.RUNNING)
    sql_store.create(parent)
    parent.state, parent.split_total = JobState.WAITING, 2
    good = rec(parent_id=parent.id, branch_index=0)
    bad = rec(parent_id=parent.id, branch_index=1, data={"x": object()})
    with pytest.raises(CodecError):
        sql_store.save_split(parent, [good, bad])
    assert sql_store.load(parent.id).state is JobState.RUNNING
    assert sql_store.get(good.id) is None


def test_delete_forgets_a_job(store):
    job = rec()
    store.create(job)
    store.delete(job.id)
    assert store.get(job.id) is None
    assert store.load(job.id) is None
    assert job.id not in [j.id for j in store.unfinished()]
    store.delete("never-existed")  # no error


def test_unfinished_is_every_live_job_oldest_first(store):
    jobs = [rec(f"u{i}") for i in range(5)]
    for job in jobs:
        store.create(job)
    jobs[1].state = JobState.DONE
    jobs[3].state = JobState.WAITING
    jobs[3].due = 10.0
    jobs[4].state = JobState.RUNNING
    for job in (jobs[4], jobs[3], jobs[1]):  # saving out of order keeps creation order
        store.save(job)
    unfinished = store.unfinished()
    assert [j.id for j in unfinished] == ["u0", "u2", "u3", "u4"]
    assert [j.state for j in unfinished] == [
        JobState.READY,
        JobState.READY,
        JobState.WAITING,
        JobState.RUNNING,
    ]
    assert all(isinstance(j, JobRecord) for j in unfinished)


def test_counts_by_state(store):
    states = [JobState.READY] * 3 + [JobState.DONE] * 2 + [JobState.SHED, JobState.FAULTED]
    for state in states:
        store.create(rec(state=state))
    counts = store.counts()
    assert set(counts) == set(JobState)
    assert counts[JobState.READY] == 3
    assert counts[JobState.DONE] == 2
    assert counts[JobState.SHED] == 1
    assert counts[JobState.FAULTED] == 1
    assert counts[JobState.RUNNING] == 0


def test_finished_jobs_stay_readable(store):
    job = rec()
    store.create(job)
    job.state = JobState.DONE
    store.save(job)
    assert store.get(job.id).state is JobState.DONE
    assert store.load(job.id).state is JobState.DONE
    assert job.id not in [j.id for j in store.unfinished()]


def test_retention_keeps_the_most_recently_finished(make_store):
    store = make_store(retain=3)
    live = rec(state=JobState.WAITING)
    store.create(live)
    finished = []
    for i in range(6):
        job = rec(f"r{i}")
        store.create(job)
        job.state = JobState.DONE
        store.save(job)
        finished.append(job.id)
    kept = [jid for jid in finished if store.get(jid) is not None]
    assert kept == finished[-3:]
    assert store.get(live.id) is not None  # live jobs are never pruned
    assert store.counts()[JobState.DONE] == 3


# -- concurrency ----------------------------------------------------------------------------------


def test_concurrent_saves_from_several_threads(store):
    threads_n, jobs_per_thread, saves = 8, 4, 25
    start = threading.Barrier(threads_n)
    errors = []

    def work(t):
        try:
            jobs = [rec(f"t{t}-{k}") for k in range(jobs_per_thread)]
            for job in jobs:
                store.create(job)
            start.wait(timeout=30)
            for s in range(saves):
                for job in jobs:
                    job.state = JobState.RUNNING
                    job.step = f"s{s}"
                    job.data = {"thread": t, "save": s}
                    store.save(job)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors
    assert not any(th.is_alive() for th in threads)
    for t in range(threads_n):
        for k in range(jobs_per_thread):
            loaded = store.load(f"t{t}-{k}")
            assert loaded.data == {"thread": t, "save": saves - 1}
            assert loaded.step == f"s{saves - 1}"
    assert store.counts()[JobState.RUNNING] == threads_n * jobs_per_thread


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


def test_heartbeat_extends_only_the_owners_leases(store):
    store.create(rec("a"))
    store.create(rec("b"))
    store.claim("w1", now=100.0, lease_seconds=10.0, limit=1)  # a
    store.claim("w2", now=100.0, lease_seconds=10.0, limit=1)  # b
    assert store.heartbeat("w1", now=108.0, lease_seconds=10.0) == 1
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
    assert store.heartbeat("w1", now=103.0, lease_seconds=60.0) == 2


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
            start.wait(timeout=30)
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
        th.join(timeout=60)
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
    assert store.heartbeat("B", now=LATER, lease_seconds=60.0) == 0  # no lease left to renew
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
    assert store.heartbeat("B", now=LATER, lease_seconds=60.0) == 0
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


# -- joins ----------------------------------------------------------------------------------------


def test_record_arrival_counts_each_branch_once(store):
    parent, _ = split(store, 3, gen=2)
    assert store.record_arrival(parent.id, 2, 0, {"r": 0}) == (1, 3)
    assert store.record_arrival(parent.id, 2, 0, {"r": 0}) == (0, 3)  # a retry counts nothing
    assert store.record_arrival(parent.id, 1, 1, {"r": 1}) == (0, 3)  # an earlier split's branch
    assert store.record_arrival(parent.id, 2, 2, {"r": 2}) == (2, 3)
    assert store.record_arrival(parent.id, 2, 1, Order(3)) == (3, 3)
    assert store.load(parent.id).arrivals == {0: {"r": 0}, 1: Order(3), 2: {"r": 2}}


def test_record_arrival_with_join_step_releases_the_parent(store):
    parent, _ = split(store, 2)
    store.record_arrival(parent.id, 1, 1, {"b": 1}, join_step="join")
    assert store.load(parent.id).state is JobState.WAITING
    assert store.record_arrival(parent.id, 1, 0, {"b": 0}, join_step="join") == (2, 2)
    loaded = store.load(parent.id)
    assert (loaded.state, loaded.step, loaded.joined) == (JobState.READY, "join", True)
    assert loaded.event == ("join", "join", None)
    assert loaded.arrivals == {0: {"b": 0}, 1: {"b": 1}}
    assert store.record_arrival(parent.id, 1, 0, {"b": 0}, join_step="join") == (0, 2)


def test_record_arrival_for_an_unknown_parent(store):
    with pytest.raises(JobNotFoundError):
        store.record_arrival("missing", 1, 0, {})


@pytest.mark.parametrize("join_step", [None, "join"])
def test_record_arrival_fires_exactly_once_under_8_threads(make_store, join_step):
    stores = [make_store()]
    if make_store.kind != "memory":
        stores.append(make_store())  # half the threads on a second connection pool / file handle
    store = stores[0]
    parent, _ = split(store, 8)
    start = threading.Barrier(8)
    results, errors = [], []
    lock = threading.Lock()

    def arrive(i):
        try:
            s = stores[i % len(stores)]
            start.wait(timeout=30)
            for _ in range(2):  # each branch arrives twice (a retry after a crash)
                got = s.record_arrival(parent.id, 1, i, {"i": i}, join_step=join_step)
                with lock:
                    results.append(got)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=arrive, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors
    counted = sorted(a for a, _ in results if a)
    assert counted == list(range(1, 9))  # each branch counted once, in some order
    assert [r for r in results if r == (8, 8)] == [(8, 8)]  # the join fires exactly once
    assert all(total == 8 for _, total in results)
    assert store.load(parent.id).arrivals == {i: {"i": i} for i in range(8)}


# -- timers ---------------------------------------------------------------------------------------


def test_due_timers(store):
    for job_id, due in [("late", 50.0), ("early", 10.0), ("future", 500.0)]:
        store.create(rec(job_id, state=JobState.WAITING, due=due))
    store.create(rec("ready", due=1.0))  # not parked: not a timer
    assert store.due_timers(5.0) == []
    assert store.due_timers(50.0) == ["early", "late"]
    assert store.due_timers(1e9) == ["early", "late", "future"]


def test_stores_without_multi_worker_support_say_so():
    class Minimal(Store):
        url = "minimal://"

        def create(self, job): ...
        def save(self, job): ...
        def save_split(self, parent, branches): ...
        def delete(self, job_id): ...
        def load(self, job_id): ...
        def get(self, job_id): ...
        def unfinished(self):
            return []

        def counts(self):
            return {}

    minimal = Minimal()
    for call in (
        lambda: minimal.claim("w", 0.0, 1.0, 1),
        lambda: minimal.heartbeat("w", 0.0, 1.0),
        lambda: minimal.release("w"),
        lambda: minimal.record_arrival("p", 1, 0, {}),
        lambda: minimal.due_timers(0.0),
    ):
        with pytest.raises(NotImplementedError, match=r"Minimal \(minimal://\) does not implement"):
            call()


# -- bad rows (durable stores) --------------------------------------------------------------------


BAD_COLUMNS = [
    ("data", "{not json", "not valid JSON"),
    ("data", '{"__dataclass__": "os:system", "fields": {"command": "echo pwned"}}', "os:system"),
    ("data", '{"__dataclass__": "tests.nowhere:Evil", "fields": {}}', "not registered"),
    ("state", "paused", "unknown state 'paused'"),
    ("event", "[1, 2", "event of job"),
    ("event", '{"kind": "reply"}', "not a [kind, name, payload] list"),
    ("arrivals", '{"__map__": [["zero", {}]]}', "arrivals of job"),
]


@pytest.mark.parametrize(("column", "value", "named"), BAD_COLUMNS)
@pytest.mark.parametrize("read", ["load", "get", "unfinished"])
def test_a_bad_row_comes_back_faulted_and_is_saved_so(make_sql_store, column, value, named, read):
    store = make_sql_store()
    job = rec(data={"keep": True})
    store.create(job)
    make_sql_store.raw(f"UPDATE jobs SET {column} = ? WHERE id = ?", (value, job.id))
    if read == "unfinished":
        [got] = [j for j in store.unfinished() if j.id == job.id]
    else:
        got = getattr(store, read)(job.id)
    assert got.state is JobState.FAULTED
    assert "stored job row is unreadable" in got.error
    assert named in got.error
    # Saved FAULTED, the unreadable column left as it was for inspection; the store goes on.
    [(state, stored)] = make_sql_store.raw(
        f"SELECT state, {column} FROM jobs WHERE id = ?", (job.id,)
    )
    assert state == "faulted"
    if column != "state":
        assert stored == value
    assert store.get(job.id).state is JobState.FAULTED
    assert job.id not in [j.id for j in store.unfinished()]
    assert store.counts()[JobState.FAULTED] == 1
    other = rec()
    store.create(other)
    assert store.load(other.id).data == {"n": 1}


def test_a_bad_row_is_never_executed(make_sql_store, tmp_path):
    store = make_sql_store()
    job = rec()
    store.create(job)
    marker = tmp_path / "pwned"
    crafted = (
        '{"__dataclass__": "os:system", "fields": {"command": "touch %s"}}' % marker  # noqa: UP031
    )
    make_sql_store.raw("UPDATE jobs SET data = ? WHERE id = ?", (crafted, job.id))
    assert store.load(job.id).state is JobState.FAULTED
    assert not marker.exists()


def test_claim_returns_a_bad_row_faulted(sql_store, make_sql_store):
    job = rec()
    sql_store.create(job)
    make_sql_store.raw("UPDATE jobs SET data = ? WHERE id = ?", ("{broken", job.id))
    [got] = sql_store.claim("w1", now=1.0, lease_seconds=5.0, limit=5)
    assert got.state is JobState.FAULTED
    assert sql_store.get(job.id).state is JobState.FAULTED
    assert sql_store.claim("w2", now=100.0, lease_seconds=5.0, limit=5) == []


def test_every_final_state_is_final(store):
    for state in FINAL_STATES:
        store.create(rec(state=state))
    assert store.unfinished() == []


def test_step_history_of_every_save_and_turning_it_off(make_sql_store):
    store = make_sql_store()
    job = rec()
    store.create(job)
    job.state = JobState.RUNNING
    store.save(job)
    assert [state for _, _, state, _ in store.history(job.id)] == ["ready", "running"]
    quiet = make_sql_store(history=False)
    other = rec()
    quiet.create(other)
    other.state = JobState.DONE
    quiet.save(other)
    assert quiet.get(other.id).state is JobState.DONE
    assert quiet.history(other.id) == []
