"""commit="group": a slice begun ``alone`` is stored in a transaction of its own.

The engine runs a job alone once the store refused its slices twice in a row, so that
a failure is certainly the job's (``actors._unsaved_slices``). Slices queued before and
after it are stored in their own groups, in order; a refusal of the lone slice reaches
its callback alone.
"""

import threading

from group_support import ON_GROUP_STORES, Callbacks, plugged, rec, saving

from actors import JobState, StoreError

pytestmark = ON_GROUP_STORES


def _groups_seen(store):
    """Record the job ids of each group the store writes (or is refused), in order."""
    if getattr(store, "writer", "thread") == "process":
        target, name = store, "_send_group"
    else:
        target, name = store._writer, "_store_group"
    real = getattr(target, name)
    seen: list[list[str]] = []
    lock = threading.Lock()

    def record(slices):
        ids = [job.id for part in slices for *_, job in part.rows]
        with lock:
            seen.append(ids)
        if "bad" in ids:
            raise StoreError("cannot store a group: integer out of range")
        return real(slices)

    setattr(target, name, record)
    return seen


def _submit(store, then, job, *, alone=False):
    if alone:
        store.begin_slice(alone=True)
    else:
        store.begin_slice()
    saving(job, step="s1", state=JobState.RUNNING)(store)
    store.end_slice(then)


def test_a_slice_begun_alone_is_stored_in_a_group_of_its_own(group):
    jobs = {name: rec(name) for name in ("a", "b", "lone", "c")}
    for job in jobs.values():
        group.create(job)
    seen = _groups_seen(group)
    calls = Callbacks()
    with plugged(group):  # the writer waits: all four are queued when it gathers
        for name, job in jobs.items():
            _submit(group, calls(name), job, alone=name == "lone")
    assert [key for key, *_ in calls.wait(4)] == ["a", "b", "lone", "c"]  # in order
    assert seen == [["a", "b"], ["lone"], ["c"]]
    assert all(error is None for error in calls.errors().values())
    assert all(group.load(name).step == "s1" for name in jobs)


def test_a_lone_slice_refused_fails_alone_and_the_others_are_stored(group):
    jobs = {name: rec(name) for name in ("a", "bad", "c")}
    for job in jobs.values():
        group.create(job)
    seen = _groups_seen(group)
    calls = Callbacks()
    with plugged(group):
        for name, job in jobs.items():
            _submit(group, calls(name), job, alone=name == "bad")
    calls.wait(3)
    errors = calls.errors()
    assert (errors["a"], errors["c"]) == (None, None)
    assert "integer out of range" in str(errors["bad"])
    assert seen == [["a"], ["bad"], ["c"]]
    assert (group.load("a").step, group.load("bad").step, group.load("c").step) == (
        "s1",
        "a",
        "s1",
    )
