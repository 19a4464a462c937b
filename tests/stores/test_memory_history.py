"""The memory store keeps a bounded step history per job, however long the job runs."""

import pytest
from records import record

from actors import ExclusiveChoice, JobState, Mediator, Sequential, Spec, Workflow
from actors.stores import MemoryStore


def test_a_jobs_history_keeps_its_most_recent_rows_and_stays_bounded():
    store = MemoryStore(history_rows=10)
    job = record("a", data={})
    store.create(job)
    lengths = []
    for n in range(100):
        job.step, job.state = f"s{n}", JobState.RUNNING
        store.save(job)
        lengths.append(len(store.step_history("a")))
    assert max(lengths) < 20
    assert min(lengths[10:]) >= 10
    assert store.step_history("a")[-1].step == "s99"
    steps = [row.step for row in store.step_history("a")]
    assert steps == [f"s{n}" for n in range(100 - len(steps), 100)]  # the most recent, in order


def test_a_short_history_is_kept_whole():
    store = MemoryStore()
    job = record("a", data={})
    store.create(job)
    for n in range(5):
        job.step = f"s{n}"
        store.save(job)
    assert [row.step for row in store.step_history("a")] == ["a", "s0", "s1", "s2", "s3", "s4"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "10"])
def test_history_rows_must_be_a_positive_whole_number(bad):
    with pytest.raises(ValueError, match="history_rows"):
        MemoryStore(history_rows=bad)


def _count(data):
    data["i"] += 1


def test_a_long_loop_in_the_engine_keeps_a_bounded_history():
    flow = Workflow(
        "loop",
        [
            Sequential("count", _count, next="more"),
            ExclusiveChoice("more", Spec(lambda d: d["i"] < 5_000), "count", "end"),
            Sequential("end", _count),
        ],
        start="count",
    )
    with Mediator([flow], store="memory://") as mediator:  # 1,000 rows kept by default
        handle = mediator.schedule("loop", {"i": 0})
        assert handle.result(timeout=30).data["i"] == 5_001
        history = mediator.store.step_history(handle.job_id)
    assert 1_000 <= len(history) < 2_000
    assert history[-1].state == "done"
