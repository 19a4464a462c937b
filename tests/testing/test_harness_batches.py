"""Batch admission under the deterministic harness: all of a batch, or none of it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import FullMode, JobState, MailboxFull, Sequential, Workflow
from actors.testing import Harness

ONE = Workflow("one", start="a", steps=[Sequential("a", lambda data: data.update(ran=True))])


def test_a_batch_that_does_not_fit_blocks_its_producer_until_all_of_it_fits():
    with Harness([ONE], seed=3, runners=1, capacity=3) as h:
        single = h.schedule("one", {"n": 0})
        second = h.schedule("one", {"n": 1})
        batch = h.schedule_many("one", [{"n": n} for n in range(2, 4)])
        assert [s.blocked for s in batch] == [True, True]  # 2 used + 2 > 3
        results = h.finish()
    assert [j.state for j in results] == [JobState.DONE] * 4
    assert [j.data["n"] for j in results] == [0, 1, 2, 3]
    assert {s.job_id for s in (single, second, *batch)} == {j.id for j in results}
    actions = [(e.actor, e.action) for e in h.trace if e.actor == batch[0].name]
    assert ("producer-2", "blocked") in actions
    assert actions.count(("producer-2", "admit")) == 2  # both cases, at one resume
    assert h.monitor.peak_unstarted <= 3


def test_drop_newest_refuses_a_batch_whole_and_drop_oldest_sheds_for_it():
    with Harness([ONE], seed=3, runners=1, capacity=2, full_mode=FullMode.DROP_NEWEST) as h:
        kept = h.schedule_many("one", [{}, {}])
        refused = h.schedule_many("one", [{}, {}])
        h.finish()
    assert all(s.handle is not None for s in kept)
    assert all(isinstance(s.refused, MailboxFull) for s in refused)
    shed: list[Any] = []
    with Harness(
        [ONE], seed=3, runners=1, capacity=3, full_mode=FullMode.DROP_OLDEST, on_shed=shed.append
    ) as h:
        singles = [h.schedule("one", {}) for _ in range(3)]
        batch = h.schedule_many("one", [{}, {}])
        states = [j.state for j in h.finish()]
    assert states == [JobState.SHED, JobState.SHED, JobState.DONE, JobState.DONE, JobState.DONE]
    assert [j.id for j in shed] == [singles[0].job_id, singles[1].job_id]
    assert all(s.handle is not None for s in batch)


def test_a_batch_above_the_capacity_is_refused_at_once():
    with Harness([ONE], seed=1, runners=1, capacity=2) as h:
        with pytest.raises(ValueError, match="a batch of 3 cases cannot fit"):
            h.schedule_many("one", [{}, {}, {}])
        assert h.submissions == []


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    capacity=st.integers(1, 4),
    mode=st.sampled_from(list(FullMode)),
    calls=st.lists(st.tuples(st.integers(1, 4), st.integers(0, 6)), min_size=1, max_size=5),
)
def test_every_batch_is_admitted_whole_or_not_at_all(seed, capacity, mode, calls):
    # Batches (of 1 to 4) and single calls (size 1 through schedule()) mixed, under any
    # mode and any interleaving the seed picks; the harness checks the engine's
    # invariants as it runs and at the end.
    with Harness([ONE], seed=seed, runners=2, capacity=capacity, full_mode=mode) as h:
        batches = []
        for size, steps in calls:
            if size > capacity:
                with pytest.raises(ValueError, match="cannot fit the admission mailbox"):
                    h.schedule_many("one", [{}] * size)
                continue
            batch = h.schedule_many("one", [{}] * size) if size > 1 else [h.schedule("one", {})]
            batches.append(batch)
            for _ in range(steps):  # let the engine move on between producers
                h.step()
        results = {j.id: j for j in h.finish()}
        for batch in batches:
            admitted = [s.handle is not None for s in batch]
            assert all(admitted) or not any(admitted), admitted
            for sub in batch:
                if sub.handle is not None:
                    assert results[sub.job_id].state in (JobState.DONE, JobState.SHED)
        assert h.monitor.peak_unstarted <= capacity
