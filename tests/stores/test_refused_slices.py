"""A slice the store refuses the same way every time: its job runs a bounded number of times.

With ``commit="group"`` a group of slices rolls back whole when one row is refused (a
counter edited to its column's largest integer, a join count edited into text), and
every job in it hears ``SliceUnsaved``. The Scheduler resumed each at once, for ever:
the refused job's steps and their effects ran tens of thousands of times a minute. Now
the job runs again once, then alone (its slice in a transaction of its own), and after
``SOLO_TRIES`` refusals alone it ends FAULTED naming the store's error. A job that only
shared a refused group goes on; an outage still waits and faults nothing.
"""

from __future__ import annotations

import collections
import sqlite3
import threading

from bounds import TIMEOUT
from group_support import ON_GROUP_STORES, plugged

from actors import JobState, Mediator, Sequential, Wait, Workflow
from actors._unsaved_slices import RUNS, SOLO_TRIES
from actors.admin import Admin
from actors.stores import open_store

pytestmark = ON_GROUP_STORES

RUNNER_ROWS = (JobState.RUNNING, JobState.WAITING, JobState.DONE)  # a runner's slice saves


def _refused(kind):
    if kind == "sqlite":
        return sqlite3.IntegrityError("integer overflow in column gen")
    import psycopg

    return psycopg.errors.NumericValueOutOfRange('integer out of range for column "gen"')


def _lost(kind):
    if kind == "sqlite":
        return sqlite3.OperationalError("database is locked")
    import psycopg

    return psycopg.OperationalError("terminating connection due to administrator command")


class Refusing:
    """Fails every group holding a runner's row of a job whose data says ``poison``.

    The group fails whole with ``error``, as the store wraps it; ``times``: how many
    groups to fail (then they are stored). Records the job ids of each group it failed.
    """

    def __init__(self, store, error, times=10**6, when=None):
        self.store = store
        self.error = error
        self.times = times
        self.when = when  # a further test of the poison rows a group holds, if any
        self.failed: list[set[str]] = []
        self._lock = threading.Lock()
        if getattr(store, "writer", "thread") == "process":
            target, name = store, "_send_group"
        else:
            target, name = store._writer, "_store_group"
        self._real = getattr(target, name)
        setattr(target, name, self)

    def __call__(self, slices):
        rows = [job for part in slices for *_, job in part.rows if job.state in RUNNER_ROWS]
        with self._lock:
            poison = [job for job in rows if job.data.get("poison")]
            if poison and len(self.failed) < self.times and (not self.when or self.when(poison)):
                ids = {job.id for job in rows}
                self.failed.append(ids)
                raise self.store._error(f"store a group of {len(slices)} slice(s)", self.error)
        return self._real(slices)


def _flow(runs, gate=None):
    """Step "a" (its runs recorded by job id; ``gate``: a first run waits), then "b"."""

    def a(data, ctx):
        runs[ctx.job_id] += 1
        if gate is not None and runs[ctx.job_id] == 1:
            gate(ctx.job_id)

    steps = [Sequential("a", a, next="b"), Sequential("b", lambda d: None)]
    return Workflow("two", steps, start="a")


def _url(make_sql_store):
    return make_sql_store.url or f"sqlite:///{make_sql_store.path}"


def _store(make_sql_store):
    return open_store(_url(make_sql_store), **make_sql_store.group)


def test_a_slice_refused_every_time_runs_a_bounded_number_of_times_and_faults(make_sql_store):
    store = _store(make_sql_store)
    refusing = Refusing(store, _refused(make_sql_store.kind))
    runs: collections.Counter[str] = collections.Counter()
    with Mediator([_flow(runs)], runners=3, store=store) as mediator:
        # Admitted first: on SQLite an admission joins the writer's groups too, and one
        # sharing a group with the refused slice is refused with it (schedule() raises).
        others = [mediator.schedule("two", {"n": n}) for n in range(12)]
        poison = mediator.schedule("two", {"poison": True})
        job = poison.result(timeout=TIMEOUT)
        done = [h.result(timeout=TIMEOUT) for h in others]
        later = mediator.schedule("two", {"n": 99}).result(timeout=TIMEOUT)
    assert RUNS == 4
    assert runs[poison.job_id] == RUNS  # once, again, then SOLO_TRIES times alone
    assert job.state is JobState.FAULTED
    assert f"the last {SOLO_TRIES} times in a transaction of their own" in job.error
    assert str(refusing.error) in job.error  # the store's message
    assert job.step == "a"  # as last stored
    assert all(j.state is JobState.DONE for j in [*done, later]), [j.error for j in done]
    # The last SOLO_TRIES groups refused held the refused job's slice alone.
    assert refusing.failed[-SOLO_TRIES:] == [{poison.job_id}] * SOLO_TRIES
    assert make_sql_store().get(poison.job_id).state is JobState.FAULTED  # stored so
    # The operator fixes the row and retries the case: a worker runs it to its end.
    with Admin(_url(make_sql_store), operator="ops") as admin:
        assert admin.retry(poison.job_id).outcome == "retried"
    with Mediator([_flow(runs)], runners=1, store=_store(make_sql_store)):
        pass  # starts with the case, drains until it ends
    assert make_sql_store().get(poison.job_id).state is JobState.DONE
    assert runs[poison.job_id] == RUNS + 1


def test_a_job_that_shared_a_refused_group_goes_on(make_sql_store):
    store = _store(make_sql_store)
    refusing = Refusing(store, _refused(make_sql_store.kind))
    runs: collections.Counter[str] = collections.Counter()
    reached = {"count": 0}
    both = threading.Event()  # both jobs' first runs wait in step "a"
    go = threading.Event()
    lock = threading.Lock()

    def gate(_job_id):
        with lock:
            reached["count"] += 1
            if reached["count"] == 2:
                both.set()
        assert go.wait(TIMEOUT)

    queued = threading.Event()  # both first slices wait in the writer's queue
    seen: set[str] = set()
    want: set[str] = set()
    real_submit = store._writer.submit

    def submit(part, done):
        real_submit(part, done)
        seen.update(job.id for *_, job in part.rows if job.state in RUNNER_ROWS)
        if want and want <= seen:
            queued.set()

    store._writer.submit = submit
    with Mediator([_flow(runs, gate)], runners=2, store=store) as mediator:
        poison = mediator.schedule("two", {"poison": True})
        innocent = mediator.schedule("two", {"n": 1})
        want.update({poison.job_id, innocent.job_id})
        assert both.wait(TIMEOUT)
        with plugged(store):  # the writer waits: both slices are gathered in one group
            go.set()
            assert queued.wait(TIMEOUT)
        job = poison.result(timeout=TIMEOUT)
        shared = innocent.result(timeout=TIMEOUT)
    assert {poison.job_id, innocent.job_id} <= refusing.failed[0]  # one group, refused
    assert shared.state is JobState.DONE, shared.error
    assert 2 <= runs[innocent.job_id] <= 3  # again, and once alone if it shared a group again
    assert job.state is JobState.FAULTED
    assert runs[poison.job_id] == RUNS


def test_a_store_outage_on_a_slice_faults_no_job(make_sql_store):
    store = _store(make_sql_store)
    times = 2 * RUNS  # more outages in a row than a refused slice is run
    refusing = Refusing(store, _lost(make_sql_store.kind), times=times)
    runs: collections.Counter[str] = collections.Counter()
    with Mediator([_flow(runs)], runners=2, store=store, poll_interval=0.05) as mediator:
        handle = mediator.schedule("two", {"poison": True})
        job = handle.result(timeout=TIMEOUT)
    assert len(refusing.failed) == times
    assert job.state is JobState.DONE, job.error
    assert runs[handle.job_id] == times + 1


def _mark_pass(k):
    def task(data):
        data["pass"] = k

    return task


def test_a_slice_stored_starts_the_count_again(make_sql_store):
    # Each slice of the job is refused once, then stored: more refusals in all than a
    # job refused every time gets, but never two in a row. It ends DONE.
    passes = RUNS + 2
    refused: set[int] = set()

    def first_time(rows):
        fresh = {job.data["pass"] for job in rows} - refused
        refused.update(fresh)
        return bool(fresh)

    store = _store(make_sql_store)
    refusing = Refusing(store, _refused(make_sql_store.kind), when=first_time)
    steps = []
    for k in range(passes):
        after = f"w{k}" if k < passes - 1 else None
        steps.append(Sequential(f"s{k}", _mark_pass(k), next=after))
        if after is not None:
            steps.append(Wait(after, duration=0.0, next=f"s{k + 1}"))
    flow = Workflow("passes", steps, start="s0")
    with Mediator([flow], runners=2, store=store) as mediator:
        job = mediator.schedule("passes", {"poison": True, "pass": -1}).result(timeout=TIMEOUT)
    assert job.state is JobState.DONE, job.error
    assert len(refusing.failed) == passes
