"""Batch admission: ``Mediator.schedule_many`` and the gate's all-or-nothing reservation."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from bounds import TIMEOUT, wait_until
from flows import Gate, setter, workload_w
from records import record

from actors import (
    CancelOutcome,
    CodecError,
    EngineStoppedError,
    FullMode,
    JobExistsError,
    JobState,
    MailboxFull,
    Mediator,
    Sequential,
    UnknownWorkflowError,
    Workflow,
)
from actors._admission import AdmissionGate
from actors._job import JobRecord


def _job(n: int) -> JobRecord:
    return record(f"j{n}", data={})


def _fill(gate: AdmissionGate, n: int) -> list[JobRecord]:
    jobs = [_job(i) for i in range(n)]
    for job in jobs:
        gate.reserve()
        gate.commit(job)
    return jobs


# -- the gate ------------------------------------------------------------------------------------


def test_reserve_many_takes_every_slot_or_none() -> None:
    gate = AdmissionGate(5, FullMode.DROP_NEWEST)
    _fill(gate, 2)
    with pytest.raises(MailboxFull, match=r"3 free slot\(s\) of 5; a batch of 4 jobs refused"):
        gate.reserve_many(4)
    assert gate.used == 2  # nothing taken
    assert gate.reserve_many(3) == []
    assert gate.used == 5
    gate.release(3)
    assert gate.used == 2
    gate._check_invariants()


def test_reserve_many_refuses_a_batch_larger_than_the_capacity() -> None:
    gate = AdmissionGate(3, FullMode.BACKPRESSURE)
    with pytest.raises(ValueError, match=r"a batch of 4 jobs cannot fit .*capacity 3"):
        gate.reserve_many(4)
    assert gate.used == 0


def test_reserve_many_drop_oldest_evicts_just_enough_and_only_if_that_makes_room() -> None:
    gate = AdmissionGate(4, FullMode.DROP_OLDEST)
    queued = _fill(gate, 3)
    evicted = gate.reserve_many(3)
    assert [job.id for job in evicted] == [queued[0].id, queued[1].id]
    assert gate.ids() == [queued[2].id]
    assert gate.used == 4
    # Every other slot is reserved, not queued: evicting the one queued job is not enough.
    with pytest.raises(MailboxFull):
        gate.reserve_many(2)
    assert gate.ids() == [queued[2].id]


def test_reserve_many_backpressure_waits_for_room_for_the_whole_batch() -> None:
    gate = AdmissionGate(4, FullMode.BACKPRESSURE)
    _fill(gate, 3)
    got = threading.Event()

    def batch() -> None:
        gate.reserve_many(3, timeout=TIMEOUT)
        got.set()

    thread = threading.Thread(target=batch)
    thread.start()
    assert gate.pop() is not None  # two slots free: still not enough for three
    assert not got.wait(0.1)
    assert gate.pop() is not None
    assert got.wait(TIMEOUT)
    thread.join(TIMEOUT)
    assert gate.used == 4
    gate._check_invariants()


def test_blocked_producers_are_woken_at_the_low_water_mark_not_per_started_job() -> None:
    gate = AdmissionGate(8, FullMode.BACKPRESSURE)  # low water: 8 - 8 // 4 = 6 slots used
    _fill(gate, 8)
    got = threading.Event()

    def producer() -> None:
        gate.reserve(timeout=TIMEOUT)
        got.set()

    thread = threading.Thread(target=producer)
    thread.start()
    wait_until(lambda: gate.waiting_producers == 1, "the producer to block")
    assert gate.pop() is not None  # 7 of 8 used: a slot is free, but no wake-up yet
    assert not got.wait(0.1)
    assert gate.pop() is not None  # 6 of 8: the low-water mark
    assert got.wait(TIMEOUT / 2)  # woken, not let through by its own timeout
    thread.join(TIMEOUT)
    assert gate.used == 7


def test_reserve_many_backpressure_times_out_taking_nothing() -> None:
    gate = AdmissionGate(2, FullMode.BACKPRESSURE)
    _fill(gate, 1)
    with pytest.raises(MailboxFull, match=r"no room for 2 jobs within 0\.05s"):
        gate.reserve_many(2, timeout=0.05)
    assert gate.used == 1


def test_reserve_many_after_close_raises() -> None:
    gate = AdmissionGate(2, FullMode.BACKPRESSURE)
    gate.close()
    with pytest.raises(EngineStoppedError):
        gate.reserve_many(1)


# -- the mediator --------------------------------------------------------------------------------


def test_schedule_many_runs_every_case_and_returns_handles_in_order() -> None:
    with Mediator([workload_w()], runners=4, capacity=100) as m:
        handles = m.schedule_many("w", [{"n": i} for i in range(30)])
        jobs = [h.result(timeout=TIMEOUT) for h in handles]
        assert m.stats().admitted == 30
    assert [job.data["n"] for job in jobs] == list(range(30))
    assert all(job.state is JobState.DONE for job in jobs)


def test_schedule_many_with_job_ids_names_the_cases() -> None:
    flow = Workflow("one", [Sequential("a", setter("a"))], "a")
    with Mediator([flow]) as m:
        handles = m.schedule_many("one", [{}, {}], job_ids=["order-1", "order-2"])
        assert [h.job_id for h in handles] == ["order-1", "order-2"]
        for h in handles:
            assert h.result(timeout=TIMEOUT).state is JobState.DONE


@pytest.mark.parametrize(
    ("items", "ids", "error", "match"),
    [
        ([{}, {}], ["a", "a"], ValueError, "batch item 1: job id 'a' appears more than once"),
        ([{}, {}], ["a"], ValueError, "1 job ids for 2 batch items"),
        ([{}, {}], ["a", "b/c"], ValueError, "batch item 1: job_id must be a non-empty string"),
        ([{}, {"bad": threading.Lock()}], None, CodecError, "batch item 1: data for workflow"),
    ],
)
def test_schedule_many_refuses_a_bad_batch_whole(
    items: list[Any], ids: list[str] | None, error: type[Exception], match: str
) -> None:
    flow = Workflow("one", [Sequential("a", setter("a"))], "a")
    with Mediator([flow]) as m:
        with pytest.raises(error, match=match):
            m.schedule_many("one", items, job_ids=ids)
        assert m.stats().admitted == 0
        assert sum(m.store.counts().values()) == 0
        with pytest.raises(UnknownWorkflowError):
            m.schedule_many("nope", [{}])


def test_schedule_many_refuses_ids_the_store_holds_and_admits_none_of_the_batch() -> None:
    flow = Workflow("one", [Sequential("a", setter("a"))], "a")
    with Mediator([flow]) as m:
        m.schedule("one", {}, job_id="order-2").result(timeout=TIMEOUT)
        with pytest.raises(JobExistsError, match="'order-2' first; the whole batch is refused"):
            m.schedule_many("one", [{}, {}, {}], job_ids=["order-1", "order-2", "order-3"])
        assert m.store.get("order-1") is None
        assert m.store.get("order-3") is None


def test_schedule_many_drop_newest_refuses_a_batch_that_does_not_fit() -> None:
    gate = Gate()
    flow = Workflow("block", [Sequential("hold", gate)], "hold")
    with Mediator([flow], runners=1, capacity=3, full_mode=FullMode.DROP_NEWEST) as m:
        first = m.schedule("block", {})
        assert gate.entered.wait(TIMEOUT)  # the runner is busy: what follows stays queued
        queued = m.schedule_many("block", [{}, {}])
        with pytest.raises(MailboxFull, match="a batch of 2 jobs refused"):
            m.schedule_many("block", [{}, {}])
        assert m.stats().queued == 2
        gate.opened.set()
        for handle in [first, *queued]:
            assert handle.result(timeout=TIMEOUT).state is JobState.DONE


def test_a_slot_freed_by_a_cancel_admits_a_single_case_waiting_behind_a_batch() -> None:
    """A cancel woke one blocked producer: the batch ahead, still short of room, not the case."""
    gate = Gate()
    flow = Workflow("block", [Sequential("hold", gate)], "hold")
    with Mediator([flow], runners=1, capacity=2) as m:
        first = m.schedule("block", {})
        assert gate.entered.wait(TIMEOUT)  # the runner stays busy until the gate opens
        queued = [m.schedule("block", {}) for _ in range(2)]  # the mailbox is full
        batch: list[Any] = []
        single: list[Any] = []
        admitted = threading.Event()

        def schedule_one() -> None:
            single.append(m.schedule("block", {}, timeout=TIMEOUT))
            admitted.set()

        producers = [
            threading.Thread(target=lambda: batch.extend(m.schedule_many("block", [{}, {}]))),
            threading.Thread(target=schedule_one),
        ]
        for waiting, producer in enumerate(producers, start=1):
            producer.start()
            wait_until(lambda n=waiting: m.stats().blocked_producers == n, "a blocked producer")
        assert m.cancel(queued[0].job_id) is CancelOutcome.CANCELLED  # one slot is free
        assert admitted.wait(TIMEOUT)  # while the runner is still busy
        assert m.stats().blocked_producers == 1  # the batch still waits for two slots
        gate.opened.set()
        for producer in producers:
            producer.join(TIMEOUT)
        ends = [h.result(timeout=TIMEOUT).state for h in [first, queued[1], *single, *batch]]
    assert ends == [JobState.DONE] * 5
    assert queued[0].result(timeout=0).state is JobState.CANCELLED


def test_a_store_without_transactions_takes_back_what_it_saved_of_a_failed_batch() -> None:
    from actors.stores import MemoryStore

    class Flaky(MemoryStore):
        def create(self, job: JobRecord) -> None:
            if job.data.get("bad"):
                msg = "disk full"
                raise OSError(msg)
            super().create(job)

    store = Flaky()
    flow = Workflow("one", [Sequential("a", setter("a"))], "a")
    with Mediator([flow], store=store) as m:
        with pytest.raises(OSError, match="disk full"):
            m.schedule_many("one", [{}, {}, {"bad": True}, {}], job_ids=["a", "b", "c", "d"])
        assert store.existing(["a", "b", "c", "d"]) == set()
        assert m.stats().admitted == 0
        assert m.schedule("one", {}).result(timeout=TIMEOUT).state is JobState.DONE


@pytest.mark.parametrize(
    ("data", "job_id", "error", "match"),
    [
        ({}, "b/c", ValueError, "job_id must be a non-empty string without '/' or control"),
        ({"bad": threading.Lock()}, None, CodecError, "data for workflow 'one' cannot be stored"),
    ],
)
def test_enqueue_checks_a_case_as_schedule_does_and_writes_nothing(
    data: Any, job_id: str | None, error: type[Exception], match: str
) -> None:
    from actors import enqueue
    from actors.stores import MemoryStore

    flow = Workflow("one", [Sequential("a", setter("a"))], "a")
    store = MemoryStore()
    with pytest.raises(error, match=match):
        enqueue(store, flow, data, job_id=job_id)
    assert sum(store.counts().values()) == 0
