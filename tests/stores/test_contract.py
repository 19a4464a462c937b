"""The Store contract, run against every store: memory, SQLite and PostgreSQL.

MemoryStore is the reference model; the durable stores must behave the same wherever
the engine can tell. Tests of what only a durable store does (its own copy of the data,
bad rows, claims racing across connections) use ``sql_store``.
"""

import threading
from functools import partial

import pytest
from bounds import TIMEOUT
from records import Line, Order, record, same, saved_split

from actors import CodecError, JobExistsError, JobState
from actors._job import FINAL_STATES, Job, JobRecord
from actors.stores import MemoryStore, Store

rec = partial(record, workflow="order", step="reserve")
split = partial(saved_split, build=rec)


# -- create / save / load / get -------------------------------------------------------------------


def test_create_then_load_returns_a_fresh_equal_record(store):
    job = rec(data={"order_id": 7})
    store.create(job)
    loaded = store.load(job.id)
    assert loaded is not job
    same(loaded, job)
    assert loaded.state is JobState.READY


def test_create_refuses_an_id_the_store_holds_and_keeps_the_first(store):
    """A second case under one id is refused by the store itself, atomically."""
    store.create(rec("order-17", data={"n": 1}))
    with pytest.raises(JobExistsError, match="'order-17' already exists"):
        store.create(rec("order-17", data={"n": 2}))
    assert store.load("order-17").data == {"n": 1}
    first = store.load("order-17")
    first.state = JobState.DONE
    store.save(first)  # ended: its id stays taken while the store keeps it
    with pytest.raises(JobExistsError, match="'order-17' already exists"):
        store.create(rec("order-17", data={"n": 3}))
    assert (store.load("order-17").state, store.load("order-17").data) == (JobState.DONE, {"n": 1})


def test_a_create_refused_for_its_data_leaves_the_id_free(store):
    with pytest.raises(CodecError):
        store.create(rec("order-17", data={"x": object()}))
    assert store.get("order-17") is None
    store.create(rec("order-17", data={"n": 1}))  # not refused as existing
    assert store.load("order-17").data == {"n": 1}


def test_one_id_created_by_8_threads_at_once_is_stored_once(make_store):
    store = make_store()
    start = threading.Barrier(8)
    created, refused, errors = [], [], []

    def create(i):
        try:
            start.wait(timeout=TIMEOUT)
            store.create(rec("order-17", data={"n": i}))
            created.append(i)
        except JobExistsError:
            refused.append(i)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=2 * TIMEOUT)
    assert not errors
    assert len(created) == 1
    assert len(refused) == 7
    assert store.load("order-17").data == {"n": created[0]}


def test_create_many_with_an_id_the_store_holds_creates_none(store):
    store.create(rec("order-17", data={"n": 1}))
    with pytest.raises(JobExistsError, match="'order-17' already exists"):
        store.create_many([rec("order-16"), rec("order-17", data={"n": 2})])
    assert store.get("order-16") is None
    assert store.load("order-17").data == {"n": 1}
    assert [job.id for job in store.unfinished()] == ["order-17"]


def test_two_processes_admitting_one_id_store_it_once(make_sql_store):
    """Two stores on one database (two processes): the database itself refuses the second."""
    here, there = make_sql_store(), make_sql_store()
    here.create(rec("order-17", data={"n": 1}))
    with pytest.raises(JobExistsError, match="'order-17' already exists"):
        there.create(rec("order-17", data={"n": 2}))
    with pytest.raises(JobExistsError, match="'order-17' already exists"):
        there.create_many([rec("order-16"), rec("order-17", data={"n": 3})])
    assert there.get("order-16") is None
    assert there.load("order-17").data == {"n": 1}
    assert [h[0] for h in there.history("order-17")] == ["reserve"]  # one row: the first


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
            start.wait(timeout=TIMEOUT)
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
        th.join(timeout=2 * TIMEOUT)
    assert not errors
    assert not any(th.is_alive() for th in threads)
    for t in range(threads_n):
        for k in range(jobs_per_thread):
            loaded = store.load(f"t{t}-{k}")
            assert loaded.data == {"thread": t, "save": saves - 1}
            assert loaded.step == f"s{saves - 1}"
    assert store.counts()[JobState.RUNNING] == threads_n * jobs_per_thread


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


def test_memory_history_dates_each_step_from_its_slice_or_previous_save():
    store = MemoryStore()
    job = rec()
    store.create(job)  # not in a slice: no start time
    store.begin_slice()
    for step in ("b", "c", "d"):
        job.step = step
        store.save(job)
    store.end_slice()
    job.step = "e"
    store.save(job)  # after the slice: no start time again
    rows = store.step_history(job.id)
    assert [row.step for row in rows] == ["reserve", "b", "c", "d", "e"]
    assert rows[0].started is None and rows[4].started is None
    assert rows[0].at <= rows[1].started <= rows[1].at  # the slice began before its first step
    assert rows[2].started == rows[1].at and rows[3].started == rows[2].at
