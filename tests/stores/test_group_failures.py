"""commit="group": a slice that cannot be stored is left out alone.

A fenced slice or an arrival at a missing parent fails only its own slice; a failed group
transaction reaches every callback but those of slices that saved nothing, and the writer
goes on.
"""

import pytest
from group_support import (
    LATER,
    ON_GROUP_STORES,
    Callbacks,
    arriving,
    counters,
    plugged,
    rec,
    saving,
    split,
    submit,
)

from actors import (
    JobExistsError,
    JobNotFoundError,
    JobState,
    LeaseLostError,
    StoreError,
)

pytestmark = ON_GROUP_STORES


def _as_worker(store, owner):
    store.owner, store.lease_seconds = owner, 30.0
    return store


def _lost(error, job_id, case_id):
    assert isinstance(error, LeaseLostError), error
    assert (error.job_id, error.case_id, error.owner, error.worker) == (job_id, case_id, "w2", "w1")


def test_a_slice_of_a_case_another_worker_holds_is_fenced_alone(make_sql_store):
    w1 = _as_worker(make_sql_store(commit="group"), "w1")
    w2 = _as_worker(make_sql_store(), "w2")  # another worker, on its own connection
    mine = rec("mine")
    w1.create(mine)
    kids = split(w1, "p", 2)
    taken = {
        job.id: job for job in w2.claim("w2", now=LATER, lease_seconds=60.0, limit=1, case_id="p")
    }
    assert set(taken) == {"p", "p.0", "p.1"}
    calls = Callbacks()
    with plugged(w1):
        submit(w1, calls("branch"), saving(kids[0], step="stale", state=JobState.RUNNING))
        submit(w1, calls("mine"), saving(mine, step="b", state=JobState.RUNNING))
        # Its own row, a new job and an arrival at w2's parent: all of it or nothing.
        submit(
            w1,
            calls("mixed"),
            saving(mine, step="c"),
            lambda s: s.create(rec("fresh", case_id="mine", parent_id="mine", branch_index=0)),
            arriving("p", 1, {"b": 1}),
        )
        submit(w1, calls("mine again"), saving(mine, step="d", data={"d": 1}))
    calls.wait(4)
    errors = calls.errors()
    _lost(errors["branch"], "p.0", "p")
    _lost(errors["mixed"], "p", "p")
    assert (errors["mine"], errors["mine again"]) == (None, None)
    other = make_sql_store()
    assert (other.load("mine").step, other.load("mine").data) == ("d", {"d": 1})
    assert [h[0] for h in other.history("mine")] == ["a", "b", "d"]  # nothing of "mixed"
    assert other.get("fresh") is None
    for job_id in ("p", "p.0", "p.1"):
        loaded, before = other.load(job_id), taken[job_id]
        assert (loaded.step, loaded.state, loaded.arrivals) == (
            before.step,
            before.state,
            before.arrivals,
        )
    assert [h[0] for h in other.history("p.0")] == ["b0"]
    # The synchronous end_slice raises it, and so does a save outside a slice.
    w1.begin_slice()
    saving(kids[1], step="stale")(w1)
    with pytest.raises(LeaseLostError) as caught:
        w1.end_slice()
    _lost(caught.value, "p.1", "p")
    with pytest.raises(LeaseLostError) as caught:
        w1.save(kids[1])
    _lost(caught.value, "p.1", "p")
    assert other.load("p.1").step == "b1"
    # The new owner's own group store is not fenced out of the case.
    w2g = _as_worker(make_sql_store(commit="group"), "w2")
    w2g.begin_slice()
    saving(taken["p.0"], step="join", state=JobState.DONE)(w2g)
    arriving("p", 0, {"b": 0})(w2g)
    w2g.end_slice()
    assert other.load("p").arrivals == {0: {"b": 0}}


def test_an_arrival_at_a_missing_parent_leaves_its_slice_out(group, make_sql_store):
    a, b = rec("a"), rec("b")
    group.create(a)
    group.create(b)
    calls = Callbacks()
    with plugged(group):
        submit(group, calls("a"), saving(a, step="x"), arriving("missing", 0, {"a": 1}))
        submit(group, calls("b"), saving(b, step="y"))
    calls.wait(2)
    errors = calls.errors()
    assert isinstance(errors["a"], JobNotFoundError)
    assert "missing" in str(errors["a"])
    assert errors["b"] is None
    other = make_sql_store()
    assert (other.load("a").step, other.load("b").step) == ("a", "y")
    assert [h[0] for h in other.history("a")] == ["a"]
    group.begin_slice()
    arriving("missing", 1, {})(group)
    with pytest.raises(JobNotFoundError):
        group.end_slice()


def test_a_failed_group_transaction_reaches_every_callback_and_the_writer_goes_on(
    group, make_sql_store, monkeypatch, caplog
):
    jobs = [rec(f"j{i}") for i in range(3)]
    for job in jobs:
        group.create(job)
    # A writer process's group is handed over (_send_group); the writer thread's is
    # written in one transaction (_write_group). Either way the first group fails.
    name = "_send_group" if getattr(group, "writer", "thread") == "process" else "_write_group"
    real = getattr(group, name)
    failures = []

    def failing(first, *rest):
        if not failures:
            what = rest[0] if rest else f"store a group of {len(first)} slice(s)"
            failures.append(what)
            raise StoreError(f"{group.url}: cannot {what}: the disk is on fire")
        return real(first, *rest)

    monkeypatch.setattr(group, name, failing)
    calls = Callbacks()
    with plugged(group):
        groups0, slices0 = counters(group)
        for i, job in enumerate(jobs):
            submit(group, calls(i), saving(job, step="x", state=JobState.RUNNING))
    got = calls.wait(3)
    assert failures == ["store a group of 3 slice(s)"]
    errors = [error for _, error, _, _ in got]
    assert all(isinstance(error, StoreError) and "on fire" in str(error) for error in errors)
    assert errors[0] is errors[1] is errors[2]  # the one reason, to each slice of the group
    assert counters(group) == (groups0, slices0)  # no transaction was committed
    # A failure of the group's own (not the store's being down) is an ERROR.
    said = [r.levelname for r in caplog.records if "3 slice(s) was not stored" in r.getMessage()]
    assert said == ["ERROR"]
    other = make_sql_store()
    assert all(other.load(job.id).step == "a" for job in jobs)
    assert all(len(other.history(job.id)) == 1 for job in jobs)
    # The writer is still there: the next slices are stored.
    for i, job in enumerate(jobs):
        submit(group, calls(f"again {i}"), saving(job, step="y"))
    assert all(error is None for _, error, _, _ in calls.wait(6)[3:])
    assert all(other.load(job.id).step == "y" for job in jobs)
    assert all([h[0] for h in other.history(job.id)] == ["a", "y"] for job in jobs)


def test_a_slice_that_saved_nothing_is_not_lost_with_its_failed_group(group, monkeypatch):
    """Its callback hears ``None``: what its runner reports was stored before, or is nothing.

    A runner's request step stores its park at once and reports it, then hands over an
    empty slice for its callback. Told the group's error, that callback reported the job's
    slice lost although the Scheduler held the job parked, or running again: the job was
    resumed twice (two runners ran it at once) and a cancel's answer was not how it ended.
    """
    job = rec("j")
    group.create(job)
    name = "_send_group" if getattr(group, "writer", "thread") == "process" else "_write_group"

    def failing(*args):
        raise StoreError(f"{group.url}: cannot store a group: the disk is on fire")

    monkeypatch.setattr(group, name, failing)
    calls = Callbacks()
    with plugged(group):
        submit(group, calls("empty"))
        submit(group, calls("saved"), saving(job, step="x", state=JobState.RUNNING))
        submit(group, calls("empty again"))
    errors = {key: error for key, error, _, _ in calls.wait(3)}
    assert errors["empty"] is None and errors["empty again"] is None, errors
    assert isinstance(errors["saved"], StoreError) and "on fire" in str(errors["saved"])


def test_an_admission_of_an_id_the_store_holds_is_refused_on_a_group_store(group):
    """Whichever path an admission takes (the writer's group, or a write of its own)."""
    group.create(rec("order-17", data={"n": 1}))
    with pytest.raises(JobExistsError, match="'order-17' already exists in "):
        group.create(rec("order-17", data={"n": 2}))
    with pytest.raises(JobExistsError, match="'order-17' already exists in "):
        group.create_many([rec("order-16"), rec("order-17", data={"n": 3})])
    assert group.get("order-16") is None
    assert group.load("order-17").data == {"n": 1}
    group.create(rec("order-18"))  # the writer goes on
    assert group.get("order-18") is not None
