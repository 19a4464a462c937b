"""commit="group": join arrivals counted through groups fire the join once.

Arrivals in one group or spread over several count as in the other commit modes.
"""

from group_support import ON_GROUP_STORES, Callbacks, arriving, plugged, saving, split, submit

from actors import (
    JobState,
)

pytestmark = ON_GROUP_STORES


def _branch_slice(parent_id, kid, data, **arrival):
    """What a runner's slice holds for a branch reaching its join: the arrival, then DONE."""
    return (
        arriving(parent_id, kid.branch_index, data, **arrival),
        saving(kid, step="join", state=JobState.DONE, data=data),
    )


def test_arrivals_in_one_group_fire_the_join_once_with_every_branch(group, make_sql_store):
    n = 5
    kids = split(group, "p", n)
    calls = Callbacks()
    with plugged(group):
        for i, kid in enumerate(kids):
            if i == n - 1:
                # A repeat of branch 0 (a re-run after a crash) with other data counts
                # nothing, nor does it complete the join in place of the last branch.
                submit(group, calls("again"), arriving("p", 0, {"b": "again"}))
            submit(group, calls(i), *_branch_slice("p", kid, {"b": i}))
    assert all(error is None for _, error, _, _ in calls.wait(n + 1))
    loaded = make_sql_store().load("p")
    assert (loaded.state, loaded.step, loaded.joined, loaded.join_step) == (
        JobState.READY,
        "join",
        True,
        "join",
    )
    assert loaded.event == ("join", "join", None)
    assert loaded.arrivals == {i: {"b": i} for i in range(n)}
    assert all(group.load(kid.id).state is JobState.DONE for kid in kids)
    # Once joined, nothing counts: neither directly nor through a group.
    assert group.record_arrival("p", 1, 1, {"b": "late"}, join_step="join") == (0, n)
    submit(group, calls("late"), arriving("p", 2, {"b": "late"}))
    calls.wait(n + 2)
    assert group.load("p").arrivals == {i: {"b": i} for i in range(n)}


def test_arrivals_spread_over_groups_count_from_what_is_stored(group):
    kids = split(group, "p", 4)
    calls = Callbacks()
    with plugged(group):  # a first group: two of four arrive, and one of an earlier split
        submit(group, calls(0), *_branch_slice("p", kids[0], {"b": 0}))
        submit(group, calls(1), *_branch_slice("p", kids[1], {"b": 1}))
        submit(group, calls("stale"), arriving("p", 3, {"b": "stale"}, gen=0))
    calls.wait(3)
    loaded = group.load("p")
    assert (loaded.state, loaded.joined, loaded.arrivals) == (
        JobState.WAITING,
        False,
        {0: {"b": 0}, 1: {"b": 1}},
    )
    with plugged(group):  # a second: the other two, and branch 1 again
        submit(group, calls(2), *_branch_slice("p", kids[2], {"b": 2}))
        submit(group, calls("again"), arriving("p", 1, {"b": "again"}))
        submit(group, calls(3), *_branch_slice("p", kids[3], {"b": 3}))
    assert all(error is None for _, error, _, _ in calls.wait(6))
    loaded = group.load("p")
    assert (loaded.state, loaded.step, loaded.joined) == (JobState.READY, "join", True)
    assert loaded.arrivals == {i: {"b": i} for i in range(4)}


def test_a_first_wins_join_takes_the_first_arrival_of_the_group(group):
    kids = split(group, "p", 3)
    calls = Callbacks()
    with plugged(group):
        for i in (2, 0, 1):  # queued in this order: branch 2 wins
            submit(group, calls(i), *_branch_slice("p", kids[i], {"b": i}, needed=1))
    assert all(error is None for _, error, _, _ in calls.wait(3))
    loaded = group.load("p")
    assert (loaded.state, loaded.step, loaded.joined) == (JobState.READY, "join", True)
    assert loaded.event == ("join", "join", None)
    assert loaded.arrivals == {2: {"b": 2}}  # the later ones came after the join fired
    assert all(group.load(kid.id).state is JobState.DONE for kid in kids)  # still stored


def test_an_arrival_queued_after_its_parent_ended_counts_nothing_as_in_other_modes(
    group, make_sql_store
):
    # The slices of a group must come out as if stored one after another, in queue order.
    # Here a parent's final save is queued before the arrival that would complete its
    # join: on its own, the arrival then finds the parent ended and counts nothing.
    def scenario(store, parent_id, run_both):
        kids = split(store, parent_id, 2)
        assert store.record_arrival(parent_id, 1, 0, {"b": 0}, join_step="join") == (1, 2)
        parent = store.load(parent_id)
        ended = saving(parent, state=JobState.CANCELLED, error="cancelled")
        run_both((ended,), _branch_slice(parent_id, kids[1], {"b": 1}))
        loaded = make_sql_store().load(parent_id)
        return loaded.state, loaded.joined, loaded.step, loaded.arrivals

    def one_after_another(*slices):
        for actions in slices:
            sliced.begin_slice()
            for action in actions:
                action(sliced)
            sliced.end_slice()

    def in_one_group(*slices):
        calls = Callbacks()
        with plugged(group):
            for k, actions in enumerate(slices):
                submit(group, calls(k), *actions)
        assert [error for _, error, _, _ in calls.wait(len(slices))] == [None, None]

    sliced = make_sql_store(commit="slice")
    expected = (JobState.CANCELLED, False, "a", {0: {"b": 0}})
    assert scenario(sliced, "q", one_after_another) == expected
    assert scenario(group, "p", in_one_group) == expected, (
        "the arrival was counted against the parent as read before the group and its "
        "join update overwrote the parent's final save: a CANCELLED job came back READY"
    )


def test_joins_of_many_parents_fired_in_one_group_each_make_their_parent_ready(
    group, make_sql_store
):
    # Several parents' joins fire in one group, and several others only learn their join
    # step: PostgreSQL writes each kind of parent update for the whole group at once.
    parents = [f"p{k}" for k in range(4)]
    kids = {pid: split(group, pid, 2) for pid in parents}
    calls = Callbacks()
    with plugged(group):
        for pid in parents[:2]:  # both branches arrive: the join fires
            for i, kid in enumerate(kids[pid]):
                submit(group, calls((pid, i)), *_branch_slice(pid, kid, {"b": i}))
        for pid in parents[2:]:  # one branch arrives: the join step is named, no more
            submit(group, calls(pid), *_branch_slice(pid, kids[pid][0], {"b": 0}))
    assert all(error is None for _, error, _, _ in calls.wait(6))
    reader = make_sql_store()
    for pid in parents[:2]:
        loaded = reader.load(pid)
        assert (loaded.state, loaded.step, loaded.joined) == (JobState.READY, "join", True)
        assert loaded.event == ("join", "join", None)
        assert loaded.arrivals == {0: {"b": 0}, 1: {"b": 1}}
    for pid in parents[2:]:
        loaded = reader.load(pid)
        assert (loaded.state, loaded.joined, loaded.join_step) == (JobState.WAITING, False, "join")
        assert loaded.arrivals == {0: {"b": 0}}
