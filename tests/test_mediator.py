"""The Mediator facade: errors at the call, shutdown semantics, isolation, queries."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pykka
import pytest
from bounds import TIMEOUT, wait_until
from flows import Gate, setter, workload_w

from actors import (
    CodecError,
    EngineStoppedError,
    ExclusiveChoice,
    JobNotFoundError,
    JobState,
    Mediator,
    Sequential,
    Spec,
    UnknownWorkflowError,
    Workflow,
)


def simple() -> Workflow:
    return Workflow("simple", [Sequential("a", setter("a"))], start="a")


def test_unknown_workflow_is_refused_before_admission() -> None:
    with Mediator([simple()], runners=1) as m:
        with pytest.raises(UnknownWorkflowError, match=r"no workflow 'nope' .*known: simple v1"):
            m.schedule("nope", {})
        with pytest.raises(UnknownWorkflowError, match="'simple' version 3"):
            m.schedule("simple", {}, version=3)
        assert m.stats().admitted == 0


def test_a_workflow_name_or_version_of_the_wrong_type_is_named_before_admission() -> None:
    with Mediator([simple()], runners=1) as m:
        # The data given where the name goes (schedule's first argument is the name).
        with pytest.raises(
            TypeError, match=r"workflow must be .*name \(a str\), got dict \{'order': 1\}"
        ):
            m.schedule({"order": 1})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"workflow must be .* got dict"):
            m.schedule_many({}, [{}])  # type: ignore[arg-type]
        # A version read from text: '1' is not version 1, and the message shows it.
        with pytest.raises(TypeError, match=r"version must be an int or None, got str '1'"):
            m.schedule("simple", {}, version="1")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"got bool True"):
            m.schedule("simple", {}, version=True)
        # One value where a batch goes: a str or a dict would make a case per item of it.
        with pytest.raises(TypeError, match=r"items must be an iterable .* per character"):
            m.schedule_many("simple", "abc")
        with pytest.raises(TypeError, match=r"a case per key"):
            m.schedule_many("simple", {"order": 1})
        assert m.stats().admitted == 0
        assert m.schedule("simple", {}, version=1).result(timeout=TIMEOUT).state is JobState.DONE


def test_data_that_cannot_be_copied_is_refused_before_admission() -> None:
    with Mediator([simple()], runners=1) as m:
        bad = r"data for workflow 'simple' cannot be stored: cannot encode data\['lock'\]"
        with pytest.raises(CodecError, match=bad):
            m.schedule("simple", {"lock": threading.Lock()})
        assert m.stats().admitted == 0
        assert sum(m.store.counts().values()) == 0


def test_scheduling_after_shutdown_is_a_clear_error() -> None:
    m = Mediator([simple()], runners=1)
    m.shutdown()
    with pytest.raises(EngineStoppedError, match="shut down"):
        m.schedule("simple", {})
    with pytest.raises(EngineStoppedError):
        m.stats()
    m.shutdown()  # idempotent


def test_workflow_registered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        Mediator([simple(), simple()], runners=1)


def test_versions_are_kept_apart() -> None:
    v1 = Workflow("flow", [Sequential("a", setter("v", 1))], start="a", version=1)
    v2 = Workflow("flow", [Sequential("a", setter("v", 2))], start="a", version=2)
    with Mediator([v1, v2], runners=1) as m:
        assert m.schedule("flow", {}).result(timeout=TIMEOUT).data == {"v": 2}
        old = m.schedule("flow", {}, version=1).result(timeout=TIMEOUT)
    assert old.data == {"v": 1}
    assert old.version == 1


def test_two_mediators_side_by_side() -> None:
    with Mediator([simple()], runners=1) as one, Mediator([workload_w()], runners=2) as two:
        a = one.schedule("simple", {})
        b = two.schedule("w", {})
        assert a.result(timeout=TIMEOUT).state is JobState.DONE
        assert b.result(timeout=TIMEOUT).state is JobState.DONE
        with pytest.raises(UnknownWorkflowError):
            one.schedule("w", {})
        assert one.stats().done == 1
        assert two.stats().done == 5


def test_get_job_reads_the_store() -> None:
    with Mediator([simple()], runners=1) as m:
        job = m.schedule("simple", {"x": 1}).result(timeout=TIMEOUT)
        assert m.get_job(job.id) == job
        with pytest.raises(JobNotFoundError, match="no job 'missing'"):
            m.get_job("missing")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_get_job_after_shutdown_answers_or_says_the_mediator_is_shut_down(
    kind: str, tmp_path: Any
) -> None:
    url = "memory://" if kind == "memory" else f"sqlite:///{tmp_path / 'after.db'}"
    m = Mediator([simple()], runners=1, store=url)
    job = m.schedule("simple", {"x": 1}).result(timeout=TIMEOUT)
    m.shutdown()
    if kind == "memory":  # the memory store is all there is: it still answers
        assert m.get_job(job.id) == job
        return
    with pytest.raises(EngineStoppedError, match=r"shut down.*closed.*actors jobs show"):
        m.get_job(job.id)


def test_drain_shutdown_finishes_admitted_work() -> None:
    gate = Gate()
    flow = Workflow("slow", [Sequential("a", gate, next="b"), Sequential("b", setter("b"))], "a")
    m = Mediator([flow], runners=1, capacity=10)
    handles = [m.schedule("slow", {}) for _ in range(3)]
    assert gate.entered.wait(TIMEOUT)
    done = threading.Event()

    def shut() -> None:
        m.shutdown(drain=True)
        done.set()

    threading.Thread(target=shut).start()
    assert not done.wait(0.2)  # draining: the queued cases still run
    gate.opened.set()
    assert done.wait(TIMEOUT)
    assert [h.result(timeout=0).state for h in handles] == [JobState.DONE] * 3


def test_stop_shutdown_ends_after_the_current_step() -> None:
    gate = Gate()
    after: list[str] = []
    flow = Workflow(
        "slow", [Sequential("a", gate, next="b"), Sequential("b", lambda d: after.append("b"))], "a"
    )
    m = Mediator([flow], runners=1, capacity=10)
    first = m.schedule("slow", {})
    queued = m.schedule("slow", {})
    assert gate.entered.wait(TIMEOUT)
    stopper = threading.Thread(target=m.shutdown, kwargs={"drain": False})
    stopper.start()
    for handle in (first, queued):  # failed by the stop, which has begun
        with pytest.raises(EngineStoppedError):
            handle.result(timeout=TIMEOUT)
    gate.opened.set()
    stopper.join(TIMEOUT)
    assert not stopper.is_alive()
    assert after == []  # the running step finished, nothing after it ran
    saved = m.store.get(first.job_id)
    assert saved is not None
    assert saved.step == "b"


def test_shutdown_says_whether_the_engine_was_drained() -> None:
    """``True``: every admitted case ended or parked in time; the answer holds on a repeat."""
    gate = Gate()
    flow = Workflow("slow", [Sequential("a", gate, next="b"), Sequential("b", setter("b"))], "a")
    m = Mediator([flow], runners=1)
    handle = m.schedule("slow", {})
    assert gate.entered.wait(TIMEOUT)
    answers: list[bool] = []
    shut = threading.Thread(target=lambda: answers.append(m.shutdown(timeout=TIMEOUT)))
    shut.start()
    gate.opened.set()  # the drain can only finish once the step has
    shut.join(TIMEOUT)
    assert answers == [True]
    assert handle.result(timeout=0).state is JobState.DONE
    assert m.shutdown() is True  # a second call: the same answer
    idle = Mediator([flow], runners=1)
    assert idle.shutdown(drain=False) is False  # stopped as asked, not drained


def spinning() -> tuple[Workflow, threading.Event]:
    """A loop of quick steps whose way out no case takes: a drain never finishes."""
    turned = threading.Event()

    def turn(data: dict[str, Any]) -> None:
        data["turns"] = data.get("turns", 0) + 1
        turned.set()

    out = Spec(lambda d: d.get("out", False), "out")
    flow = Workflow(
        "spin",
        [
            Sequential("turn", turn, next="again"),
            ExclusiveChoice("again", out, if_true="end", if_false="turn"),
            Sequential("end", setter("end")),
        ],
        start="turn",
    )
    return flow, turned


def test_a_drain_that_runs_out_of_time_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """It logged a warning and returned ``None``, as a finished drain did."""
    flow, turned = spinning()
    m = Mediator([flow], runners=1)
    handle = m.schedule("spin", {})
    assert turned.wait(TIMEOUT)
    assert m.shutdown(drain=True, timeout=0.05) is False  # it can never finish
    assert "drain did not finish within 0.05s; stopping anyway" in caplog.text
    with pytest.raises(EngineStoppedError):
        handle.result(timeout=TIMEOUT)
    assert m.shutdown() is False  # a second call: the same answer
    assert m.store.get(handle.job_id) is not None  # unfinished, kept in the store


def test_a_runner_still_in_a_step_when_time_runs_out_makes_shutdown_say_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopping the runner raised ``pykka.Timeout`` out of ``shutdown``; now it answers False.

    What becomes of the late step (its save refused, run again on the next start) is
    tests/test_shutdown.py's.
    """
    gate = Gate()
    flow = Workflow("slow", [Sequential("a", gate, next="b"), Sequential("b", setter("b"))], "a")
    m = Mediator([flow], runners=1)
    handle = m.schedule("slow", {})
    assert gate.entered.wait(TIMEOUT)
    try:
        assert m.shutdown(drain=True, timeout=0.05) is False
        assert f"runner 0 (job {handle.job_id} at 'a') still running a step" in caplog.text
        assert m.shutdown() is False  # a second call answers what the first did
    finally:
        gate.opened.set()
    wait_until(lambda: not pykka.ActorRegistry.get_all(), "the runner to stop")


def test_exception_in_with_block_stops_without_draining() -> None:
    gate = Gate()
    flow = Workflow("slow", [Sequential("a", gate)], "a")

    failed = threading.Event()

    def open_gate_once_stopped(handle: Any) -> None:
        # The running step is released only after the stop has failed the queued case,
        # so that case cannot have run.
        with pytest.raises(EngineStoppedError):
            handle.result(timeout=TIMEOUT)
        failed.set()
        gate.opened.set()

    def body() -> Any:
        with Mediator([flow], runners=1) as m:
            m.schedule("slow", {})
            queued = m.schedule("slow", {})
            assert gate.entered.wait(TIMEOUT)
            threading.Thread(target=open_gate_once_stopped, args=(queued,)).start()
            raise RuntimeError(m, queued)

    with pytest.raises(RuntimeError) as info:
        body()
    m, queued = info.value.args
    assert failed.wait(TIMEOUT)
    saved = m.store.get(queued.job_id)
    assert saved is not None and saved.state is JobState.READY  # kept, never started


def test_handle_result_timeout() -> None:
    gate = Gate()
    flow = Workflow("slow", [Sequential("a", gate)], "a")
    with Mediator([flow], runners=1) as m:
        handle = m.schedule("slow", {})
        with pytest.raises(TimeoutError, match=r"did not finish within 0\.01s"):
            handle.result(timeout=0.01)
        gate.opened.set()
        assert handle.result(timeout=TIMEOUT).state is JobState.DONE


def test_stats_counts_and_retention() -> None:
    with Mediator([workload_w()], runners=2, capacity=3) as m:
        handles = [m.schedule("w", {}) for _ in range(20)]
        assert all(h.result(timeout=TIMEOUT).state is JobState.DONE for h in handles)
        stats = m.stats()
    assert stats.admitted == 20
    assert stats.done == 20 * 5  # each case: the root and its four branches
    assert stats.peak_queued <= 3
    assert (stats.queued, stats.ready, stats.running, stats.waiting) == (0, 0, 0, 0)
    with Mediator([simple()], runners=1) as m:
        for _ in range(5):
            m.schedule("simple", {}).result(timeout=TIMEOUT)
        stats = m.stats()
    assert stats.done == 5
    assert stats.admitted == 5
    assert stats.queued == 0
    assert stats.runners == 1
    assert stats.capacity == 100


def test_named_case_ids_make_admission_idempotent() -> None:
    from actors import JobExistsError

    with Mediator([simple()], runners=1) as m:
        job = m.schedule("simple", {}, job_id="order-17").result(timeout=TIMEOUT)
        assert job.id == "order-17" == job.case_id
        with pytest.raises(JobExistsError, match="'order-17' already exists"):
            m.schedule("simple", {}, job_id="order-17")
        with pytest.raises(ValueError, match="without '/'"):
            m.schedule("simple", {}, job_id="a/b")


def test_two_producers_admitting_one_id_at_once_admit_it_once() -> None:
    """The second admission of an id still being admitted waits, then is refused.

    It must not run over the first (the store would have been written twice), and it
    learns the id is taken only once the first's case is stored.
    """
    from actors import JobExistsError
    from actors.stores import MemoryStore

    store = MemoryStore()
    inside, release = threading.Event(), threading.Event()
    real_create = store.create

    def slow_create(job: Any) -> None:  # the first producer stops inside its create
        if not inside.is_set():
            inside.set()
            assert release.wait(TIMEOUT)
        real_create(job)

    store.create = slow_create  # type: ignore[method-assign]
    with Mediator([simple()], runners=1, store=store) as m:
        outcomes: dict[str, Any] = {}

        def admit(who: str) -> None:
            try:
                outcomes[who] = m.schedule("simple", {"who": who}, job_id="order-17")
            except JobExistsError as exc:
                outcomes[who] = exc

        first = threading.Thread(target=admit, args=("first",))
        first.start()
        second = threading.Thread(target=admit, args=("second",))
        try:
            assert inside.wait(TIMEOUT)
            second.start()
        finally:
            release.set()
            first.join(TIMEOUT)
            second.join(TIMEOUT)
        job = outcomes["first"].result(timeout=TIMEOUT)
    assert isinstance(outcomes["second"], JobExistsError)
    assert "'order-17' already exists" in str(outcomes["second"])
    assert job.data["who"] == "first"
    assert store.get("order-17").data["who"] == "first"


def test_a_caller_of_an_id_still_being_admitted_waits_for_that_admission_to_be_decided() -> None:
    """Told JobExistsError, a producer drops the case: only true once the case is stored.

    The first caller of ``order-9`` waits for a slot and times out (never stored); the
    second, which came meanwhile, must not have been told the id is taken: it is
    admitted once a slot frees.
    """
    from bounds import wait_until

    from actors import MailboxFull

    gate = Gate()
    flow = Workflow("hold", [Sequential("h", gate)], start="h")
    with Mediator([flow], runners=1, capacity=1) as m:
        m.schedule("hold", {})  # runs, held
        assert gate.entered.wait(TIMEOUT)
        m.schedule("hold", {})  # the mailbox is full now
        outcomes: dict[str, Any] = {}

        def first() -> None:
            try:
                m.schedule("hold", {"who": 1}, job_id="order-9", timeout=0.5)
            except MailboxFull as exc:
                outcomes["first"] = exc

        def second() -> None:
            outcomes["second"] = m.schedule("hold", {"who": 2}, job_id="order-9", timeout=TIMEOUT)

        a = threading.Thread(target=first)
        a.start()
        wait_until(lambda: m.stats().blocked_producers == 1, "the first caller to block")
        b = threading.Thread(target=second)
        b.start()
        a.join(TIMEOUT)
        assert isinstance(outcomes["first"], MailboxFull)
        assert "second" not in outcomes  # still waiting: for the id, then for a slot
        gate.opened.set()
        b.join(TIMEOUT)
        job = outcomes["second"].result(timeout=TIMEOUT)
    assert (job.id, job.data["who"]) == ("order-9", 2)


def test_drain_waits_for_branches_still_on_their_way(clock: Any) -> None:
    """A split's branches travel to the Scheduler in messages; drain must not miss them."""
    from actors import ParallelSplit, Synchronize

    flow = Workflow(
        "fan",
        [
            ParallelSplit("split", branches=["x", "y"]),
            Sequential("x", setter("x"), next="join"),
            Sequential("y", setter("y"), next="join"),
            Synchronize("join"),
        ],
        start="split",
    )
    for _ in range(20):
        m = Mediator([flow], runners=2, clock=clock)
        handle = m.schedule("fan", {})
        m.shutdown(drain=True)
        assert handle.result(timeout=TIMEOUT).data == {"x": True, "y": True}


@pytest.mark.parametrize("name", ["lease_seconds", "poll_interval"])
@pytest.mark.parametrize("seconds", [-1.0, 0, float("nan"), float("inf"), "15"])
def test_lease_and_poll_seconds_must_be_finite_and_positive(name: str, seconds: Any) -> None:
    """A negative lease made every worker's cases lapse at once: no step ever ran."""
    with pytest.raises(ValueError, match=f"{name} must be a finite number of seconds > 0"):
        Mediator([simple()], **{name: seconds})


def test_a_lease_shorter_than_two_polls_on_a_shared_store_is_warned_of(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    flow = Workflow("one", [Sequential("a", lambda d: None)], start="a")
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    with caplog.at_level(logging.WARNING, logger="actors"):
        Mediator([flow], store=url, lease_seconds=1.0, poll_interval=10.0).shutdown()
        Mediator([flow], store=url, lease_seconds=20.0, poll_interval=10.0).shutdown()
        Mediator([flow], lease_seconds=1.0, poll_interval=10.0).shutdown()  # memory: no lease
    warned = [r.getMessage() for r in caplog.records if "lease_seconds=" in r.getMessage()]
    assert warned == [
        "lease_seconds=1 is less than twice poll_interval=10: this worker renews its lease "
        "once per poll, so one late renewal lets it lapse, and other workers then take its "
        "cases over while it runs them"
    ]
