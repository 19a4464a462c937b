"""commit="group": a group updates each row with only what changed, and stores it all.

On SQLite a group's update of an existing row sets the columns a step changes, the
others only when one of them differs from the row it read, and each indexed column only
when it changes. Whatever a save changes must come back, alone or with others, in a group
of many shapes, and the indexed columns' rules (the first finished time stays, a final
save clears the lease's expiry) hold as on the other paths.
"""

from group_support import ON_GROUP_STORES, Callbacks, plugged, rec, saving, submit
from records import same

from actors import JobState

pytestmark = ON_GROUP_STORES

# One change per field a save may make (from the defaults of ``rec``).
CHANGES = [
    {"workflow": "other"},
    {"version": 2},
    {"step": "b"},
    {"step": None},
    {"data": {"n": 2, "more": [1, 2.5, None]}},
    {"state": JobState.RUNNING},
    {"branch_index": 3},
    {"attempt": 4},
    {"error": "boom"},
    {"due": 5.0},
    {"event": ("signal", "go", {"x": 1})},
    {"split_step": "fan"},
    {"split_total": 4},
    {"split_live": 2},
    {"join_step": "join"},
    {"joined": True},
    {"branch_error": "a branch failed"},
    {"branch_cancelled": True},
    {"gen": 3},
    {"parent_gen": 2},
    {"state": JobState.WAITING, "split_total": 2, "gen": 1, "arrivals": {0: {"a": 1}}},
    {"state": JobState.DONE, "step": None},
    {"state": JobState.WAITING, "due": 7.5, "step": "c", "data": {"n": 3}},
]


def test_each_change_a_save_makes_is_stored_by_a_group(group):
    jobs = [rec(f"u{i}") for i in range(len(CHANGES))]
    group.begin_slice()
    for job in jobs:
        group.create(job)
    group.end_slice()
    calls = Callbacks()
    with plugged(group):  # every shape of update in one group
        for i, (job, changes) in enumerate(zip(jobs, CHANGES, strict=True)):
            submit(group, calls(i), saving(job, **changes))
    assert all(error is None for _, error, _, _ in calls.wait(len(jobs)))
    for job in jobs:
        same(group.load(job.id), job)
        assert group.history(job.id)[-1][0] == job.step


def test_a_second_group_save_changes_only_what_it_changes(group):
    job = rec("again", data={"n": 1})
    group.create(job)
    submit_and_wait = _stored(group)
    submit_and_wait(saving(job, step="b", split_step="fan", split_total=2))
    submit_and_wait(saving(job, step="c", data={"n": 2}))  # the others as they were
    submit_and_wait(saving(job, split_total=0, split_step=None))  # back to what they were
    same(group.load(job.id), job)


def test_finished_times_and_lease_expiry_as_on_every_save_path(group, make_sql_store):
    job = rec("fin")
    group.create(job)
    make_sql_store.raw("UPDATE jobs SET lease_expires = ? WHERE id = ?", (99.0, job.id))

    def row():
        [found] = make_sql_store.raw(
            "SELECT state, finished_at, lease_expires FROM jobs WHERE id = ?", (job.id,)
        )
        return found

    submit_and_wait = _stored(group)
    submit_and_wait(saving(job, step="b"))
    assert row()[1:] == (None, 99.0)  # a step's save keeps the case's lease
    submit_and_wait(saving(job, state=JobState.DONE, step=None))
    state, finished, expires = row()
    assert (state, expires) == ("done", None) and finished is not None
    submit_and_wait(saving(job, state=JobState.FAULTED, error="late"))
    assert row() == ("faulted", finished, None)  # the first finished time stays
    submit_and_wait(saving(job, state=JobState.READY, step="a", error=None))
    assert row() == ("ready", None, None)  # reopened
    same(group.load(job.id), job)


def _stored(group):
    """A function that stores one slice of ``actions`` and waits for its commit."""

    def run(*actions):
        calls = Callbacks()
        submit(group, calls(0), *actions)
        [(_, error, _, _)] = calls.wait(1)
        assert error is None

    return run


def test_a_group_reads_its_rows_in_a_few_statement_shapes(group):
    # The group's reads pad their lists of ids to a few sizes (repeating the last id),
    # so SQLite prepares a handful of statements for any mix of group sizes.
    from actors.stores._statements import padded

    assert padded(["a"]) == (["a"] * 4, 4)
    assert padded(["a", "b", "c", "d", "e"]) == (["a", "b", "c", "d", "e", "e", "e", "e"], 8)
    assert padded(list(range(500))) == (list(range(500)), 500)
    jobs = [rec(f"p{i}") for i in range(37)]
    for job in jobs:
        group.create(job)
    calls = Callbacks()
    with plugged(group):
        for i, job in enumerate(jobs):
            submit(group, calls(i), saving(job, step=f"s{i}"))
    assert all(error is None for _, error, _, _ in calls.wait(len(jobs)))
    assert [group.load(job.id).step for job in jobs] == [f"s{i}" for i in range(37)]
