"""A store holds what was saved: the record it was given is not shared with the engine.

After a save the engine goes on changing its record: a runner its step, state and data
(in place, in the next step's task), the Scheduler a parent's split bookkeeping as its
branches end (``split_live``, ``join_step``, ``branch_error``, ``arrivals``). None of that
was saved, so none of it may show in a load (what a resume runs from), an operator's read
or a claim. The other way too: what a load hands the engine is its own, so a merge that
changes its branches' datas, or an ``on_reply`` its payload, changes nothing stored. The
SQL stores hold rows, so this holds there by construction; each test checks every store.
"""

from __future__ import annotations

from functools import partial

from records import record, saved_split

from actors import JobState

rec = partial(record, workflow="quote", step="fan")
split = partial(saved_split, build=rec)


def _saved_fields(job):
    """What a save records of ``job`` (its data and arrivals as values)."""
    return (
        job.step,
        job.state,
        job.attempt,
        job.error,
        job.due,
        job.event,
        job.data,
        job.split_step,
        job.split_total,
        job.split_live,
        job.join_step,
        job.joined,
        job.branch_error,
        job.branch_cancelled,
        job.gen,
        job.parent_gen,
        job.arrivals,
    )


def test_a_parent_changed_by_its_branches_ends_loads_as_saved(store):
    """The Scheduler's bookkeeping on a waiting parent is not stored until it is saved."""
    parent, _ = split(store, 3)
    parent.split_live = 3
    store.save(parent)
    before = _saved_fields(store.load(parent.id))
    # As the Scheduler counts branch 1's arrival and branch 0's fault, unsaved.
    parent.split_live -= 2
    parent.join_step = "join"
    parent.arrivals[1] = {"b": 1}
    parent.branch_error = "branch 0 (job x) faulted at step 'b0': boom"
    parent.branch_cancelled = True
    loaded = store.load(parent.id)
    assert _saved_fields(loaded) == before
    assert (loaded.split_live, loaded.branch_error, loaded.join_step) == (3, None, None)
    assert store.stored_job(parent.id).record.split_live == 3
    # A resume reads the branches' own rows for what the parent never saved.
    assert [j.id for j in store.unfinished() if j.id == parent.id] == [parent.id]
    assert next(j for j in store.unfinished() if j.id == parent.id).branch_error is None


def test_a_runner_going_on_after_a_save_changes_nothing_stored(store):
    """Its next step's changes (in place, too) are not stored until its next save."""
    job = rec(state=JobState.RUNNING, step="a", data={"n": 1, "items": [1]})
    store.create(job)
    job.step, job.attempt, job.error = "b", 2, "step 'b': flaky"
    store.save(job)
    before = _saved_fields(store.load(job.id))
    job.data["n"] = 2  # the next step's task, in place
    job.data["items"].append(2)
    job.step, job.state, job.attempt, job.error = "c", JobState.WAITING, 1, None
    job.gen, job.split_total, job.split_step = 1, 2, "c"  # about to split
    assert _saved_fields(store.load(job.id)) == before
    assert store.get(job.id).data == {"n": 1, "items": [1]}
    assert store.stored_job(job.id).record.data == {"n": 1, "items": [1]}


def test_what_a_load_hands_out_is_the_callers_own(store):
    """A resumed step that changes its data, a merge its branches', change nothing stored."""
    parent, _ = split(store, 2)
    for i in range(2):
        store.record_arrival(parent.id, 1, i, {"b": i, "seen": [i]}, join_step="join")
    first = store.load(parent.id)
    assert first.arrivals == {0: {"b": 0, "seen": [0]}, 1: {"b": 1, "seen": [1]}}
    first.data["merged"] = True  # the join's merge, in place, then its runner dies
    for branch in first.arrivals.values():
        branch.pop("b")
        branch["seen"].append("merged")
    first.arrivals.clear()
    again = store.load(parent.id)
    assert again.arrivals == {0: {"b": 0, "seen": [0]}, 1: {"b": 1, "seen": [1]}}
    assert "merged" not in again.data


def test_an_arrivals_data_is_stored_as_it_arrived(store):
    """The branch's data changed after its arrival (a merge of the engine's) is not stored."""
    parent, _ = split(store, 2)
    data = {"b": 0, "seen": [0]}
    store.record_arrival(parent.id, 1, 0, data, join_step="join")
    data["b"] = 99
    data["seen"].append(99)
    assert store.load(parent.id).arrivals == {0: {"b": 0, "seen": [0]}}


def test_an_events_payload_is_stored_as_saved(store):
    """A reply applied in place after its save (and a loader's change) is not stored."""
    payload = {"ok": True, "lines": [1]}
    job = rec(state=JobState.READY, step="ask", event=("reply", "j/ask", payload))
    store.create(job)
    payload["lines"].append(2)  # an on_reply that changes its reply in place
    payload["ok"] = False
    loaded = store.load(job.id)
    assert loaded.event == ("reply", "j/ask", {"ok": True, "lines": [1]})
    loaded.event[2]["lines"].append(3)
    assert store.load(job.id).event == ("reply", "j/ask", {"ok": True, "lines": [1]})
    assert store.stored_job(job.id).record.event == ("reply", "j/ask", {"ok": True, "lines": [1]})


def test_a_final_parents_arrivals_read_as_saved(store):
    """An operator's read of an ended parent shows the arrivals it was saved with."""
    parent, _ = split(store, 2)
    parent.arrivals = {0: {"b": 0}, 1: {"b": 1}}
    parent.state, parent.step = JobState.DONE, "join"
    store.save(parent)
    parent.arrivals[0]["b"] = 99
    parent.arrivals[2] = {"b": 2}
    assert store.stored_job(parent.id).record.arrivals == {0: {"b": 0}, 1: {"b": 1}}
