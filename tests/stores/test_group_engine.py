"""commit="group" under the engine: a Mediator on a group store.

Splits and joins run to done, the jobs of a group that was not stored are resumed, and
what cannot be stored faults its job while the engine goes on.
"""

import contextlib
import logging
import threading
import time

import pytest
from bounds import TIMEOUT
from group_support import (
    ON_GROUP_STORES,
    Callbacks,
    plugged,
    rec,
    saving,
    submit,
)

from actors import (
    JobState,
    Mediator,
    ParallelSplit,
    Sequential,
    StoreError,
    Synchronize,
    Workflow,
)
from actors.stores import open_store
from actors.stores._statements import HELD

pytestmark = ON_GROUP_STORES


def _fan_flow(runs=None, gate=None):
    """Steps: start, a split into 3 branches of two steps each, a join (merge), end.

    ``runs`` records each run of "start"; with ``gate``, "start" waits until it is set.
    """

    def start(data):
        if gate is not None:
            gate.wait(TIMEOUT)
        if runs is not None:
            runs.append("start")
        data["started"] = True

    def first(k):
        def task(data):
            data[f"v{k}"] = data["i"] * (k + 1)

        return task

    def second(k):
        def task(data):
            data[f"w{k}"] = data[f"v{k}"] + 1

        return task

    def merge(parent, branches):
        for k, branch in enumerate(branches):
            parent[f"v{k}"], parent[f"w{k}"] = branch[f"v{k}"], branch[f"w{k}"]
        return parent

    def end(data):
        data["total"] = sum(data[f"v{k}"] + data[f"w{k}"] for k in range(3))

    steps = [
        Sequential("start", start, next="fan"),
        ParallelSplit("fan", branches=["b0", "b1", "b2"]),
        Synchronize("join", merge=merge, next="end"),
        Sequential("end", end),
    ]
    for k in range(3):
        steps += [
            Sequential(f"b{k}", first(k), next=f"b{k}x"),
            Sequential(f"b{k}x", second(k), next="join"),
        ]
    return Workflow("fan", steps, start="start")


def _expected(i):
    data = {"i": i, "started": True, "total": 12 * i + 3}
    for k in range(3):
        data[f"v{k}"] = i * (k + 1)
        data[f"w{k}"] = i * (k + 1) + 1
    return data


PARENT_HISTORY = [
    ("start", "ready"),
    ("fan", "running"),
    ("fan", "waiting"),
    ("end", "running"),
    ("end", "done"),
]


def _branch_history(k):
    return [(f"b{k}", "ready"), (f"b{k}x", "running"), ("join", "running"), ("join", "done")]


def _check_cases(factory, store, jobs):
    for i, job in enumerate(jobs):
        assert job.state is JobState.DONE, job.error
        assert job.data == _expected(i)
        assert [(h[0], h[2]) for h in store.history(job.id)] == PARENT_HISTORY
        kids = factory.raw("SELECT id, branch_index FROM jobs WHERE parent_id = ?", (job.id,))
        assert sorted(k for _, k in kids) == [0, 1, 2]
        for kid_id, k in kids:
            assert [(h[0], h[2]) for h in store.history(kid_id)] == _branch_history(k)
    counts = store.counts()
    assert counts[JobState.DONE] == sum(counts.values()) == 4 * len(jobs)


@pytest.fixture
def group_url(make_sql_store):
    return make_sql_store.url or f"sqlite:///{make_sql_store.path}"


def _where_groups_are_stored(store):
    """The object and method a group goes through: the writer thread's, or the process's."""
    if getattr(store, "writer", "thread") == "process":
        return store, "_send_group"
    return store._writer, "_store_group"


def test_the_engine_runs_splits_and_joins_to_done_on_a_group_store(make_sql_store, group_url):
    store = open_store(group_url, **make_sql_store.group)
    with Mediator([_fan_flow()], runners=4, store=store) as mediator:
        handles = [mediator.schedule("fan", {"i": i}) for i in range(40)]
        jobs = [h.result(timeout=TIMEOUT) for h in handles]
        assert mediator.get_job(jobs[7].id).data == _expected(7)
    check = make_sql_store()
    _check_cases(make_sql_store, check, jobs)
    assert store._writer.slices >= 40 * 4  # every root's and branch's slices went through it


def test_a_batch_scheduled_at_once_is_one_slice_and_runs_to_done(make_sql_store, group_url):
    release = threading.Event()
    store = open_store(group_url, **make_sql_store.group)
    with Mediator([_fan_flow(gate=release)], runners=4, store=store) as mediator:
        before = store.group_stats()
        handles = mediator.schedule_many("fan", [{"i": i} for i in range(40)])
        if store._group_all:  # SQLite: the admission went through the writer, as one slice
            # No runner can hand over a slice before the release: the count is the batch's.
            assert store.group_stats()[1] == before[1] + 1
        release.set()
        jobs = [h.result(timeout=TIMEOUT) for h in handles]
    check = make_sql_store()
    _check_cases(make_sql_store, check, jobs)
    assert [job.data["i"] for job in jobs] == list(range(40))


def test_the_engine_resumes_the_jobs_of_a_group_that_was_not_stored(
    make_sql_store, group_url, caplog
):
    caplog.set_level(logging.WARNING, logger="actors")
    store = open_store(group_url, **make_sql_store.group)
    target, name = _where_groups_are_stored(store)
    real = getattr(target, name)
    admitted = threading.Event()  # every case is created: from then on, runners' slices only
    lost = []

    def fail_once(slices):
        if admitted.is_set() and not lost and any(part.rows for part in slices):
            lost.append([job.id for part in slices for _, _, job in part.rows])
            raise StoreError(f"{store.url}: cannot store a group: connection reset")
        return real(slices)

    setattr(target, name, fail_once)
    runs = []
    with Mediator([_fan_flow(runs, gate=admitted)], runners=4, store=store) as mediator:
        handles = [mediator.schedule("fan", {"i": i}) for i in range(12)]
        admitted.set()
        jobs = [h.result(timeout=TIMEOUT) for h in handles]
    [rows] = lost
    roots = {h.job_id for h in handles}
    failed_roots = set(rows) & roots
    assert failed_roots  # the first group held the first slice of at least one case
    assert len(runs) == len(jobs) + len(failed_roots)  # those ran "start" again
    assert "was not stored (" in caplog.text
    assert "resumes from its last saved step 'start'" in caplog.text
    check = make_sql_store()
    _check_cases(make_sql_store, check, jobs)  # no trace of the lost slices
    assert all(check.get(job_id) is None for job_id in set(rows) - roots)  # their branches


class Opaque:
    """Not JSON and not a registered dataclass: the codec refuses it."""


def test_unstorable_data_faults_its_job_and_the_engine_goes_on(make_sql_store, group_url):
    def bad(data):
        data["handle"] = Opaque()

    def bad_branch(data):
        if data["i"] == 1:
            data["handle"] = Opaque()

    flows = [
        Workflow(
            "bad",
            [Sequential("ok", lambda d: d.update(ok=True), next="bad"), Sequential("bad", bad)],
            "ok",
        ),
        Workflow(
            "branchy",
            [
                ParallelSplit("fan", branches=["x", "y"]),
                Sequential("x", bad_branch, next="join"),
                Sequential("y", lambda d: d.update(y=True), next="join"),
                Synchronize("join"),
            ],
            "fan",
        ),
        _fan_flow(),
    ]
    store = open_store(group_url, **make_sql_store.group)
    with Mediator(flows, runners=2, store=store) as mediator:
        goods = [mediator.schedule("fan", {"i": i}) for i in range(10)]
        faulted = mediator.schedule("bad", {}).result(timeout=TIMEOUT)
        branchy = [mediator.schedule("branchy", {"i": i}).result(timeout=TIMEOUT) for i in range(2)]
        after = mediator.schedule("fan", {"i": 10}).result(timeout=TIMEOUT)
        jobs = [h.result(timeout=TIMEOUT) for h in goods]
    assert faulted.state is JobState.FAULTED
    assert "step 'bad': data cannot be stored" in faulted.error
    assert "Opaque" in faulted.error
    assert faulted.data == {"ok": True}  # as last saved
    check = make_sql_store()
    assert [(h[0], h[2]) for h in check.history(faulted.id)] == [
        ("ok", "ready"),
        ("bad", "running"),  # the save before the one that could not be encoded
        ("bad", "faulted"),
    ]
    assert branchy[0].state is JobState.DONE
    assert branchy[0].data == {"i": 0, "y": True}
    assert branchy[1].state is JobState.FAULTED
    assert "data cannot be stored" in branchy[1].error
    assert after.state is JobState.DONE and after.data == _expected(10)
    assert all(job.state is JobState.DONE for job in jobs)
    assert [job.data for job in jobs] == [_expected(i) for i in range(10)]


def test_an_unreadable_join_faults_the_branch_as_in_the_other_modes(make_sql_store, group_url):
    # A parent row whose arrivals cannot be decoded: with commit="step" or "slice" the
    # branch's record_arrival raises CodecError and the runner faults the branch, so the
    # case ends FAULTED. A group store leaves the branch's slice out with that CodecError;
    # the engine must fault the branch too, not retry it forever as a transient failure.
    runs = []
    settled = threading.Event()  # the case ended, or its branches are looping

    def corrupt(data, ctx):
        runs.append(ctx.job_id)
        if len(runs) == 1:
            make_sql_store.raw("UPDATE jobs SET arrivals = ? WHERE id = ?", ("{oops", data["pid"]))
        if len(runs) > 20:
            settled.set()

    flow = Workflow(
        "fragile",
        [
            Sequential("start", lambda d, ctx: d.update(pid=ctx.job_id), next="fan"),
            ParallelSplit("fan", branches=["x", "y"]),
            Sequential("x", corrupt, next="join"),
            Sequential("y", corrupt, next="join"),
            Synchronize("join"),
        ],
        "start",
    )
    outcome = []

    def wait_for(handle):
        with contextlib.suppress(Exception):  # EngineStoppedError once the test stops it
            outcome.append(handle.result(timeout=2 * TIMEOUT))
        settled.set()

    mediator = Mediator([flow], runners=2, store=open_store(group_url, **make_sql_store.group))
    waiter = None
    try:
        waiter = threading.Thread(target=wait_for, args=(mediator.schedule("fragile", {}),))
        waiter.start()
        assert settled.wait(2 * TIMEOUT)
        assert len(runs) <= 20, (
            f"the branches ran {len(runs)} times: the CodecError the group gave their slices "
            "came back as SliceUnsaved, and the Scheduler resumed them again and again"
        )
    finally:
        mediator.shutdown(drain=False, timeout=TIMEOUT)
        if waiter is not None:
            waiter.join(TIMEOUT)
    [job] = outcome
    assert job.state is JobState.FAULTED
    assert "cannot decode arrivals" in job.error
    assert len(runs) == 2  # each branch ran once


def test_heartbeats_and_group_commits_lock_rows_in_one_order(make_sql_store):
    # A heartbeat renews the lease of a worker whose writer's groups lock its roots. It
    # locks none of them (only the worker's row in workers), so PostgreSQL never has to
    # break a deadlock between them (it would abort one of the two with an error).
    store = make_sql_store(commit="group")
    store.owner = "w"
    roots = [rec(f"r{i:03}") for i in range(60)]
    for root in roots:
        store.create(root)  # leased to "w": created by its store
    # New row versions, last root first: a scan of the table now meets the roots in the
    # reverse of their insertion order, the order a group locks them in.
    for root in reversed(roots):
        make_sql_store.raw("UPDATE jobs SET lease_expires = ? WHERE id = ?", (HELD, root.id))
    failures: list[BaseException] = []
    done = threading.Event()

    def beat():
        while not done.is_set():
            try:
                store.heartbeat("w", time.time(), 30.0)
            except BaseException as exc:  # collected for the assertion below
                failures.append(exc)
                return

    beater = threading.Thread(target=beat)
    beater.start()
    try:
        calls = Callbacks()
        for round_ in range(40):
            with plugged(store):
                for i, root in enumerate(reversed(roots)):  # saved in the other order
                    submit(store, calls((round_, i)), saving(root, attempt=round_ + 1))
        results = calls.wait(40 * len(roots))
    finally:
        done.set()
        beater.join(TIMEOUT)
    assert failures == []
    assert all(error is None for _, error, _, _ in results)


def test_a_request_whose_park_was_not_stored_is_sent_once_after_it_is(
    make_sql_store, group_url, caplog
):
    """A RequestReaction's park that the writer fails to store: not a runner crash.

    The job resumes from its last stored save and runs the step again; the request is
    sent once, after the second park is stored, and its reply finishes the job.
    """
    from actors import RequestReaction

    caplog.set_level(logging.WARNING, logger="actors")
    store = open_store(group_url, **make_sql_store.group)
    target, name = _where_groups_are_stored(store)
    real = getattr(target, name)
    lost = []

    def parks(slices):
        return [job for part in slices for *_, job in part.rows if job.state is JobState.WAITING]

    def fail_first_park(slices):
        if not lost and parks(slices):
            lost.append({job.id for job in parks(slices)})
            raise StoreError(f"{store.url}: cannot store a group: connection reset")
        return real(slices)

    setattr(target, name, fail_first_park)
    asked: list[str] = []
    sent = threading.Event()

    def send(data, ctx):
        asked.append(ctx.correlation_id)
        sent.set()

    flow = Workflow(
        "approve",
        start="prepare",
        steps=[
            Sequential("prepare", lambda d: {**d, "n": 1}, next="ask"),
            RequestReaction("ask", send=send, on_reply=lambda d, r: {**d, "ok": r}, next="done"),
            Sequential("done", lambda d: None),
        ],
    )
    with Mediator([flow], runners=2, store=store) as mediator:
        handle = mediator.schedule("approve", {})
        assert sent.wait(TIMEOUT)
        mediator.receive_event(asked[0], True)
        job = handle.result(timeout=TIMEOUT)
    assert lost == [{handle.job_id}]
    assert asked == [f"{handle.job_id}/ask"]
    assert (job.state, job.data) == (JobState.DONE, {"n": 1, "ok": True})
    # The slice held both steps: the job ran "prepare" again, then parked again.
    assert "resumes from its last saved step 'prepare'" in caplog.text
    assert "failed; restarting" not in caplog.text  # no runner crashed
