"""The bounded admission mailbox under each full mode, on real threads."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from bounds import TIMEOUT
from flows import Gate, setter, workload_w

from actors import (
    EventOutcome,
    FullMode,
    Job,
    JobNotFoundError,
    JobState,
    MailboxFull,
    Mediator,
    ParallelSplit,
    RequestReaction,
    Sequential,
    StepContext,
    Synchronize,
    Workflow,
)
from actors._admission import MAX_CAPACITY, AdmissionGate
from actors._mediator_options import MAX_RUNNERS


def blocking_flow(gate: Gate) -> Workflow:
    return Workflow(
        "block", [Sequential("hold", gate, next="x"), Sequential("x", setter("x"))], "hold"
    )


def test_capacity_and_mode_are_validated() -> None:
    with pytest.raises(ValueError, match="capacity must be an int from 1 to 100000, got 0"):
        AdmissionGate(0, FullMode.BACKPRESSURE)
    with pytest.raises(TypeError, match="full_mode must be a FullMode"):
        AdmissionGate(1, "drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="runners must be an int from 1 to 1024, got 0"):
        Mediator([], runners=0)


def test_a_typo_of_runners_or_capacity_is_refused_before_a_thread_starts(tmp_path: Any) -> None:
    """``runners=100000000`` started threads until the system refused; now it names the bound."""
    url = f"sqlite:///{tmp_path}/jobs.db"
    with pytest.raises(ValueError, match=r"runners must be an int from 1 to 1024, got 100000000"):
        Mediator([], runners=100_000_000, store=url)
    with pytest.raises(
        ValueError, match=r"capacity must be an int from 1 to 100000, got 100000000"
    ):
        Mediator([], capacity=100_000_000, store=url)
    assert not list(tmp_path.iterdir())  # refused before the store was opened
    with Mediator([workload_w()], runners=MAX_RUNNERS, capacity=MAX_CAPACITY) as mediator:
        assert mediator.schedule("w", {}).result(timeout=TIMEOUT).state is JobState.DONE


def test_workflows_not_in_a_list_are_a_clear_type_error(tmp_path: Any) -> None:
    flow = workload_w()
    with pytest.raises(TypeError, match=r"single Workflow \('w'\); pass it in a list"):
        Mediator(flow)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="item 0 is str 'w'"):
        Mediator(["w"])  # type: ignore[list-item]
    # Refused before the store is opened: no database file is left behind.
    with pytest.raises(TypeError, match="got str 'w'"):
        Mediator("w", store=f"sqlite:///{tmp_path}/jobs.db")  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_drop_newest_refuses_when_full() -> None:
    gate = Gate()
    with Mediator(
        [blocking_flow(gate)], runners=1, capacity=2, full_mode=FullMode.DROP_NEWEST
    ) as m:
        first = m.schedule("block", {})
        assert gate.entered.wait(TIMEOUT)  # the runner is busy; the next two queue up
        queued = [m.schedule("block", {}) for _ in range(2)]
        with pytest.raises(MailboxFull, match="admission mailbox full"):
            m.schedule("block", {"refused": True})
        assert m.stats().queued == 2
        gate.opened.set()
        for handle in [first, *queued]:
            assert handle.result(timeout=TIMEOUT).state is JobState.DONE
        stats = m.stats()
    assert stats.admitted == 3
    assert stats.peak_queued == 2


def test_cases_parked_on_an_event_leave_the_mailbox_and_do_not_count_against_capacity() -> None:
    """docs/how-to/capacity-and-full-mode.md: capacity does not limit parked cases."""
    asked: list[StepContext] = []
    parked = threading.Semaphore(0)

    def ask(data: dict[str, Any], ctx: StepContext) -> None:  # called once the job is parked
        asked.append(ctx)
        parked.release()

    flow = Workflow(
        "ask",
        [RequestReaction("ask", send=ask, on_reply=lambda d, r: d.update(reply=r))],
        start="ask",
    )
    with Mediator([flow], runners=1, capacity=1, full_mode=FullMode.DROP_NEWEST) as m:
        handles = []
        for n in range(5):  # five parked cases in a mailbox of one: none is refused
            handles.append(m.schedule("ask", {"n": n}))
            assert parked.acquire(timeout=TIMEOUT)
        assert m.stats().queued == 0
        for ctx in asked:
            assert m.receive_event(ctx.correlation_id, "ok") is EventOutcome.DELIVERED
        jobs = [handle.result(timeout=TIMEOUT) for handle in handles]
    assert [job.data for job in jobs] == [{"n": n, "reply": "ok"} for n in range(5)]


def test_a_case_drop_newest_refuses_leaves_no_row_and_its_id_can_be_admitted_later(
    tmp_path: Any,
) -> None:
    """Nothing is saved: the refused id is free, on a durable store too."""
    gate = Gate()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    options: dict[str, Any] = {"runners": 1, "capacity": 1, "full_mode": FullMode.DROP_NEWEST}
    with Mediator([blocking_flow(gate)], store=url, **options) as m:
        first = m.schedule("block", {}, job_id="first")
        assert gate.entered.wait(TIMEOUT)
        queued = m.schedule("block", {}, job_id="queued")
        try:
            with pytest.raises(MailboxFull, match="job refused"):
                m.schedule("block", {"n": 1}, job_id="refused")
            assert sum(m.store.counts().values()) == 2
        finally:
            gate.opened.set()
        with pytest.raises(JobNotFoundError):
            m.get_job("refused")
        for handle in (first, queued):  # the mailbox has room again
            assert handle.result(timeout=TIMEOUT).state is JobState.DONE
        again = m.schedule("block", {"n": 2}, job_id="refused").result(timeout=TIMEOUT)
    assert (again.state, again.data) == (JobState.DONE, {"n": 2, "x": True})


def test_drop_oldest_sheds_and_reports() -> None:
    gate = Gate()
    shed: list[Job] = []
    with Mediator(
        [blocking_flow(gate)],
        runners=1,
        capacity=2,
        full_mode=FullMode.DROP_OLDEST,
        on_shed=shed.append,
    ) as m:
        running = m.schedule("block", {"n": 0})
        assert gate.entered.wait(TIMEOUT)
        handles = [m.schedule("block", {"n": n}) for n in range(1, 5)]
        # Jobs 1 and 2 were evicted to make room for 3 and 4.
        evicted = [h.result(timeout=TIMEOUT) for h in handles[:2]]
        gate.opened.set()
        rest = [h.result(timeout=TIMEOUT) for h in [running, *handles[2:]]]
        stats = m.stats()
    assert [j.state for j in evicted] == [JobState.SHED, JobState.SHED]
    assert [j.data["n"] for j in evicted] == [1, 2]
    assert "shed" in (evicted[0].error or "")
    assert sorted(j.data["n"] for j in shed) == [1, 2]
    assert [j.state for j in rest] == [JobState.DONE] * 3
    assert stats.shed == 2


def test_a_shed_job_is_logged_and_an_on_shed_hook_that_raises_is_logged_and_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = Gate()

    def broken_hook(job: Job) -> None:
        raise RuntimeError("the hook broke")

    with Mediator(
        [blocking_flow(gate)],
        runners=1,
        capacity=1,
        full_mode=FullMode.DROP_OLDEST,
        on_shed=broken_hook,
    ) as m:
        running = m.schedule("block", {})
        assert gate.entered.wait(TIMEOUT)
        oldest = m.schedule("block", {})
        newest = m.schedule("block", {})  # evicts the oldest; its hook raises
        assert oldest.result(timeout=TIMEOUT).state is JobState.SHED
        gate.opened.set()
        assert newest.result(timeout=TIMEOUT).state is JobState.DONE  # the engine goes on
        assert running.result(timeout=TIMEOUT).state is JobState.DONE
    shed = [r for r in caplog.records if r.name == "actors" and oldest.job_id in r.getMessage()]
    assert [(r.levelname, r.getMessage()) for r in shed] == [
        ("WARNING", f"job {oldest.job_id} (block) shed from the admission mailbox"),
        ("ERROR", f"on_shed hook failed for job {oldest.job_id}"),
    ]
    assert shed[1].exc_info is not None
    assert str(shed[1].exc_info[1]) == "the hook broke"


def test_backpressure_blocks_then_admits() -> None:
    gate = Gate()
    with Mediator([blocking_flow(gate)], runners=1, capacity=1) as m:
        first = m.schedule("block", {})
        assert gate.entered.wait(TIMEOUT)
        second = m.schedule("block", {})  # fills the only slot
        admitted = threading.Event()
        third: list[Any] = []

        def producer() -> None:
            third.append(m.schedule("block", {}))
            admitted.set()

        thread = threading.Thread(target=producer)
        thread.start()
        assert not admitted.wait(0.2)  # blocked while the slot is taken
        gate.opened.set()
        assert admitted.wait(TIMEOUT)
        thread.join(TIMEOUT)
        for handle in (first, second, third[0]):
            assert handle.result(timeout=TIMEOUT).state is JobState.DONE


def test_backpressure_timeout_raises_mailbox_full_and_admits_nothing() -> None:
    gate = Gate()
    with Mediator([blocking_flow(gate)], runners=1, capacity=1) as m:
        m.schedule("block", {})
        assert gate.entered.wait(TIMEOUT)
        m.schedule("block", {})
        with pytest.raises(MailboxFull, match=r"no slot freed within 0.05s"):
            m.schedule("block", {}, timeout=0.05)
        assert m.stats().queued == 1
        assert sum(m.store.counts().values()) == 2  # the refused job left no row
        gate.opened.set()


def test_capacity_bound_holds_under_many_producers() -> None:
    flow = workload_w()
    capacity = 5
    with Mediator([flow], runners=2, capacity=capacity) as m:
        handles: list[Any] = []
        lock = threading.Lock()

        def produce() -> None:
            for _ in range(50):
                h = m.schedule("w", {})
                with lock:
                    handles.append(h)

        threads = [threading.Thread(target=produce) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(2 * TIMEOUT)
        assert all(h.result(timeout=2 * TIMEOUT).state is JobState.DONE for h in handles)
        stats = m.stats()
    assert len(handles) == 200
    assert stats.peak_queued <= capacity
    assert stats.done == 200 * 5  # each case: the root and its four branches


def nested_split_flow() -> Workflow:
    return Workflow(
        "nested",
        [
            ParallelSplit("s0", branches=["l", "r"]),
            ParallelSplit("l", branches=["l1", "l2"]),
            ParallelSplit("r", branches=["r1", "r2"]),
            Sequential("l1", setter("l1"), next="jl"),
            Sequential("l2", setter("l2"), next="jl"),
            Sequential("r1", setter("r1"), next="jr"),
            Sequential("r2", setter("r2"), next="jr"),
            Synchronize("jl", next="j0"),
            Synchronize("jr", next="j0"),
            Synchronize("j0"),
        ],
        start="s0",
    )


def test_backpressure_capacity_one_nested_splits_four_producers_finishes() -> None:
    """Splits never wait on the admission bound, so this cannot deadlock."""
    with Mediator([nested_split_flow()], runners=2, capacity=1) as m:
        results: list[Job] = []
        lock = threading.Lock()

        def produce() -> None:
            for _ in range(25):
                job = m.schedule("nested", {}).result(timeout=TIMEOUT)
                with lock:
                    results.append(job)

        threads = [threading.Thread(target=produce) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(2 * TIMEOUT)
            assert not t.is_alive(), "a producer is stuck: deadlock"
    assert len(results) == 100
    assert all(j.state is JobState.DONE and len(j.data) == 4 for j in results)
