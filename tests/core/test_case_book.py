"""The case tree over any order of a split's messages, with no runtime.

A parent splits into n branches; each branch is spawned (the first spawn brings the
parent), then either arrives at the join or ends on its own (done, faulted, cancelled),
and an arrival may be delivered twice. Whatever the interleaving, a join fires at most
once, exactly when its kind says; otherwise the split ends once, as ``split_outcome``
says; and every branch is finished exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from records import record

from actors._case_book import CaseBook
from actors._case_effects import (
    Cancel,
    Effect,
    Finished,
    Park,
    Ready,
    Save,
    Withdraw,
    split_outcome,
)  # fmt: skip
from actors._job import FINAL_STATES, JobRecord, JobState
from actors._recovery import Recovery

ENDS = ["arrive", JobState.DONE, JobState.FAULTED, JobState.CANCELLED]


@dataclass
class Split:
    branches: int
    first_wins: bool
    ends: list[Any]  # how each branch ends
    order: list[tuple[str, int]]  # the messages, in delivery order


@st.composite
def splits(draw: st.DrawFn) -> Split:
    n = draw(st.integers(1, 4))
    ends = draw(st.lists(st.sampled_from(ENDS), min_size=n, max_size=n))
    twice = draw(st.sets(st.integers(0, n - 1)))  # arrivals delivered twice
    # Spawns come in branch order (one runner sends them); a branch's end comes after its
    # spawn, in any order with the other messages.
    messages: list[tuple[str, int]] = []
    pending = [("end", i) for i in range(n)] + [("end", i) for i in twice if ends[i] == "arrive"]
    spawned = 0
    while spawned < n or pending:
        ready = [p for p in pending if p[1] < spawned]
        if spawned < n and (not ready or draw(st.booleans())):
            messages.append(("spawn", spawned))
            spawned += 1
        else:
            pick = ready[draw(st.integers(0, len(ready) - 1))]
            pending.remove(pick)
            messages.append(pick)
    return Split(n, draw(st.booleans()), ends, messages)


def parent_of(split: Split) -> JobRecord:
    return record(
        "p", step="split", data={}, state=JobState.WAITING, split_total=split.branches, gen=1
    )


def branch(index: int) -> JobRecord:
    return record(
        f"p.{index}", case_id="p", step="b", data={"i": index}, parent_id="p",
        branch_index=index, parent_gen=1,
    )  # fmt: skip


@given(splits())
def test_a_split_joins_or_ends_once_in_any_order(split: Split) -> None:
    tree = CaseBook(lambda parent, join: split.first_wins, lambda parent: "join")
    parent = parent_of(split)
    effects: list[Effect] = []
    for kind, index in split.order:
        job = branch(index)
        if kind == "spawn":
            effects += tree.spawn(parent if index == 0 else None, job)
        elif not any(isinstance(e, Ready) and e.job.id == job.id for e in effects):
            continue  # ended at its spawn (a Discriminator had won): it never runs
        elif split.ends[index] == "arrive":
            job.state = JobState.DONE
            effects += tree.arrived(job, "join") or []
        else:
            job.state = split.ends[index]
            effects += tree.ended(job)
        tree._check_invariants()

    arrived = [i for i, end in enumerate(split.ends) if end == "arrive"]
    joins = [e for e in effects if isinstance(e, Ready) and e.job.id == "p"]
    fires = bool(arrived) if split.first_wins else len(arrived) == split.branches
    assert len(joins) == (1 if fires else 0)
    if fires:
        assert parent.state is JobState.READY and parent.joined and parent.step == "join"
        assert set(parent.arrivals) <= set(arrived)
        assert not any(isinstance(e, Finished) and e.job.id == "p" for e in effects)
        if not split.first_wins:
            assert sorted(parent.arrivals) == arrived
    else:
        ends = [e for e in effects if isinstance(e, Save) and e.job.id == "p"]
        assert len(ends) == 1
        assert parent.state in FINAL_STATES
        state, _ = split_outcome(parent, "join")  # the join the workflow leads to
        assert parent.state is state
        # A join that got some branches only, or none: the split does not end DONE.
        assert parent.state is not JobState.DONE
        faulted = [i for i, end in enumerate(split.ends) if end is JobState.FAULTED]
        if faulted and JobState.CANCELLED not in split.ends:
            # The lowest faulted branch, and how many faulted, whatever order they ended in.
            quote = f"branch {faulted[0]} (job p.{faulted[0]}) faulted at step 'b': None"
            many = f"{len(faulted)} branches faulted; " if len(faulted) > 1 else ""
            got = f"{len(arrived)} of {split.branches}"
            assert parent.error == f"join 'join' got {got} branches: {many}{quote}"
        assert [e.job.id for e in effects if isinstance(e, Finished)].count("p") == 1
    for i in range(split.branches):  # each branch finished once, a repeated arrival or not
        assert [e.job.id for e in effects if isinstance(e, Finished)].count(f"p.{i}") == 1
    assert not tree.kids.get("p")
    assert all(job.parent_id is None for job in tree.jobs.values())
    cancels = {e.job.id for e in effects if isinstance(e, Cancel)}
    assert not cancels or (split.first_wins and fires)


@given(splits())
def test_dropping_the_case_forgets_all_of_it_midway(split: Split) -> None:
    tree = CaseBook(lambda parent, join: split.first_wins)
    parent = parent_of(split)
    for kind, index in split.order[: len(split.order) // 2]:
        job = branch(index)
        if kind == "spawn":
            tree.spawn(parent if index == 0 else None, job)
        else:
            job.state = JobState.DONE
            tree.arrived(job, "join")
    tree.drop_case("p")
    assert not tree.jobs and not tree.kids and not tree.held


@given(splits(), st.data())
def test_cancelling_a_split_at_any_point_ends_the_case_once(
    split: Split, data: st.DataObject
) -> None:
    """Cancel the parent between any two messages: it ends CANCELLED once, joins no more.

    A ready branch is withdrawn (it never runs); a running one sees the request and its
    runner ends it CANCELLED instead of letting it reach the join.
    """
    at = data.draw(st.integers(0, len(split.order)), label="cancel before message")
    tree = CaseBook(lambda parent, join: split.first_wins)
    parent = parent_of(split)
    records = {i: branch(i) for i in range(split.branches)}
    effects: list[Effect] = []
    ran: set[str] = set()  # made ready and not withdrawn: a runner will report on it

    def carry_out(todo: list[Effect]) -> int:
        """Apply the tree's effects as the Scheduler would; where the join fired, if it did."""
        fired = -1
        while todo:
            effect = todo.pop(0)
            effects.append(effect)
            if isinstance(effect, Ready):
                ran.add(effect.job.id)
                fired = len(effects) if effect.job is parent else fired
            elif isinstance(effect, Cancel):
                todo[:0] = tree.cancel(effect.job, effect.why)
            elif isinstance(effect, Withdraw):  # taken back before any runner took it
                ran.discard(effect.job.id)
                effect.job.state = JobState.CANCELLED
                todo[:0] = tree.end(effect.job, JobState.CANCELLED, effect.why)
        return fired

    cancelled_at = None
    deferred = False
    for position, (kind, index) in enumerate([*split.order, ("cancel", -1)]):
        if position == at:
            cancelled_at = len(effects)
            if parent.id in tree.jobs:
                carry_out(tree.cancel(parent, "cancelled"))
            elif not any(isinstance(e, Finished) and e.job is parent for e in effects):
                # The split's messages are on their way: applied with its last branch.
                deferred = True
                tree.cancels.add(parent.id)
        if kind == "cancel":
            break
        job = records[index]
        if kind == "spawn":
            carry_out(tree.spawn(parent if index == 0 else None, job))
        elif job.id in ran:
            ran.discard(job.id)
            if job.cancel_requested or split.ends[index] != "arrive":
                job.state = JobState.CANCELLED if job.cancel_requested else split.ends[index]
                carry_out(tree.ended(job))
            else:
                job.state = JobState.DONE
                carry_out(tree.arrived(job, "join") or [])
        tree._check_invariants()

    assert cancelled_at is not None
    late_joins = [e for e in effects[cancelled_at:] if isinstance(e, Ready) and e.job is parent]
    assert deferred or not late_joins, "a join fired after its split was cancelled"
    finished = [e.job.id for e in effects if isinstance(e, Finished)]
    assert finished.count("p") == 1
    for i in range(split.branches):
        assert finished.count(f"p.{i}") == 1
    ended_before = "p" in [e.job.id for e in effects[:cancelled_at] if isinstance(e, Finished)]
    if not ended_before:
        assert parent.state is JobState.CANCELLED
    assert not tree.jobs and not tree.kids and not tree.held and not tree.cancels


def nested_case(depth: int, forks: bool) -> list[JobRecord]:
    """A case split ``depth`` levels deep, as adopted after a restart, every leaf parked.

    Each level is one branch that splits again (``forks``: beside a parked sibling), down
    to a parked leaf.
    """
    jobs = []
    width = 2 if forks else 1
    for level in range(depth):
        parent = f"j{level - 1}.0" if level else None
        for index in range(width if parent else 1):
            splits = index == 0 and level < depth - 1
            job = record(
                f"j{level}.{index}", case_id="j0.0", step="split" if splits else "w",
                state=JobState.WAITING, parent_id=parent, branch_index=index if parent else None,
                parent_gen=1, gen=1, split_total=width if splits else 0,
            )  # fmt: skip
            jobs.append(job)
    return jobs


@pytest.mark.parametrize("forks", [False, True])
def test_cancelling_a_case_nested_thousands_deep_ends_every_job_once(forks: bool) -> None:
    """The walks down (cancel) and up (a parent ends with its last branch) use no recursion.

    Recursive, they ran out of Python's stack from about 250 levels (four frames a level).
    """
    depth = 3000
    tree = CaseBook(lambda parent, join: False)
    jobs = nested_case(depth, forks)
    tree.adopt(jobs)
    for job in jobs:
        assert tree.resume(job, {"split", "w"}) == ([Park(job)] if job.split_total == 0 else [])

    effects = tree.cancel(jobs[0], "cancelled")

    ends = [(type(e).__name__, e.job.id) for e in effects]
    assert len(ends) == 2 * len(jobs)
    for job in jobs:  # saved, then finished: each once, after its branches
        assert job.state is JobState.CANCELLED and job.error == "cancelled"
        assert ends.index(("Save", job.id)) + 1 == ends.index(("Finished", job.id))
        assert ends.count(("Finished", job.id)) == 1
    if not forks:  # the leaf first, then each parent up to the root
        assert [i for kind, i in ends if kind == "Save"] == [j.id for j in reversed(jobs)]
    assert not tree.jobs and not tree.kids and not tree.held


@pytest.mark.parametrize("forks", [False, True])
def test_parents_come_before_their_branches_however_deep(forks: bool) -> None:
    tree = CaseBook(lambda parent, join: False)
    jobs = nested_case(3000, forks)
    tree.adopt(jobs)
    ordered = Recovery.parents_first(list(reversed(jobs)), tree.jobs)
    place = {job.id: i for i, job in enumerate(ordered)}
    assert sorted(place) == sorted(job.id for job in jobs)
    for job in jobs:
        if job.parent_id is not None:
            assert place[job.parent_id] < place[job.id]


def test_a_loop_of_parents_in_bad_rows_still_orders() -> None:
    tree = CaseBook(lambda parent, join: False)
    a = record("a", parent_id="b")
    b = record("b", parent_id="a")
    tree.adopt([a, b])
    assert {job.id for job in Recovery.parents_first([a, b], tree.jobs)} == {"a", "b"}
