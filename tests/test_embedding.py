"""The engine inside an actor system: tasks that ask actors, actors that schedule cases."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

import pykka
import pytest
from bounds import TIMEOUT, wait_until

from actors import (
    FullMode,
    JobExistsError,
    JobHandle,
    JobState,
    MailboxFull,
    Mediator,
    RequestReaction,
    Sequential,
    UnknownWorkflowError,
    Workflow,
)
from actors._runner import Runner
from actors.messages import CaseFinished, Schedule, ScheduleRefused


class PriceList(pykka.ThreadingActor):
    """A user's actor that a workflow step asks."""

    def on_receive(self, message: Any) -> Any:
        return {"apple": 3, "pear": 5}[message]


def test_a_step_may_ask_a_users_actor() -> None:
    prices = PriceList.start()
    try:

        def price(data: dict[str, Any]) -> None:
            data["price"] = prices.ask(data["item"], timeout=TIMEOUT)

        flow = Workflow("price", [Sequential("price", price)], start="price")
        with Mediator([flow], runners=2) as m:
            job = m.schedule("price", {"item": "pear"}).result(timeout=TIMEOUT)
        assert job.data == {"item": "pear", "price": 5}
    finally:
        prices.stop()


class Client(pykka.ThreadingActor):
    """Schedules cases by message and collects CaseFinished replies."""

    def __init__(self, scheduler: pykka.ActorRef[Any]) -> None:
        super().__init__()
        self.scheduler = scheduler
        self.finished: list[Any] = []
        self.all_done = threading.Event()

    def on_receive(self, message: Any) -> Any:
        if message == "go":
            for n in range(3):
                self.scheduler.tell(Schedule("double", {"n": n}, reply_to=self.actor_ref))
            return None
        if isinstance(message, CaseFinished):
            self.finished.append(message.job)
            if len(self.finished) == 3:
                self.all_done.set()
        return None


def double() -> Workflow:
    return Workflow("double", [Sequential("x2", lambda d: d.update(n=d["n"] * 2))], start="x2")


def test_an_actor_schedules_by_message_and_gets_the_result_as_a_message() -> None:
    with Mediator([double()], runners=2) as m:
        client = Client.start(m.scheduler)
        try:
            client.tell("go")
            proxy = client.proxy()
            assert proxy.all_done.get().wait(TIMEOUT)
            finished = proxy.finished.get()
        finally:
            client.stop()
    assert sorted(j.data["n"] for j in finished) == [0, 2, 4]
    assert all(j.state is JobState.DONE for j in finished)


def test_a_reply_to_actor_stopping_as_its_case_ends_costs_no_other_case() -> None:
    """The Scheduler asked ``reply_to.is_alive()``, then told it ``CaseFinished``.

    An actor the application stopped between the two made the tell raise
    ``ActorDeadError`` on the Scheduler's thread: the engine stopped, every case with it.
    """

    class Sink(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> None:
            return None

    sink = Sink.start()

    class StoppedAfterTheCheck(type(sink)):  # type: ignore[misc]
        """The application stops the actor just after the Scheduler saw it alive."""

        stopped = False

        def is_alive(self) -> bool:
            alive = super().is_alive()
            if not self.stopped:  # once: stop() and tell() ask is_alive() too
                self.stopped = True
                self.stop()
            return alive

    racing = StoppedAfterTheCheck(sink._actor_weakref())
    with Mediator([double()], runners=1) as m:
        handle = m.scheduler.ask(Schedule("double", {"n": 1}, reply_to=racing), timeout=TIMEOUT)
        assert handle.result(timeout=TIMEOUT).state is JobState.DONE
        assert m.schedule("double", {"n": 2}).result(timeout=TIMEOUT).data == {"n": 4}
    sink.stop()


def test_asking_the_scheduler_returns_a_handle() -> None:
    with Mediator([double()], runners=1) as m:
        handle = m.scheduler.ask(Schedule("double", {"n": 21}), timeout=TIMEOUT)
        assert isinstance(handle, JobHandle)
        assert handle.result(timeout=TIMEOUT).data == {"n": 42}


def test_an_actor_is_refused_at_once_when_the_mailbox_is_full() -> None:
    gate = threading.Event()
    entered = threading.Event()

    def hold(data: Any) -> None:
        entered.set()
        gate.wait(TIMEOUT)

    flow = Workflow("hold", [Sequential("h", hold)], start="h")
    with Mediator([flow], runners=1, capacity=1) as m:
        m.schedule("hold", {})
        assert entered.wait(TIMEOUT)
        m.schedule("hold", {})
        with pytest.raises(MailboxFull):
            m.scheduler.ask(Schedule("hold", {}), timeout=TIMEOUT)
        gate.set()


def test_an_actor_is_refused_at_once_under_drop_newest_and_evicts_under_drop_oldest() -> None:
    """docs/how-to/capacity-and-full-mode.md: "``DROP_OLDEST`` evicts as usual"."""
    gate, entered = threading.Event(), threading.Event()

    def hold(data: Any) -> None:
        if data.get("hold"):
            entered.set()
            gate.wait(TIMEOUT)

    flow = Workflow("hold", [Sequential("h", hold)], start="h")
    with Mediator([flow], runners=1, capacity=1, full_mode=FullMode.DROP_NEWEST) as m:
        m.schedule("hold", {"hold": True})
        assert entered.wait(TIMEOUT)
        m.schedule("hold", {})
        with pytest.raises(MailboxFull, match="job refused"):
            m.scheduler.ask(Schedule("hold", {}), timeout=TIMEOUT)
        gate.set()
    gate.clear()
    entered.clear()
    with Mediator([flow], runners=1, capacity=1, full_mode=FullMode.DROP_OLDEST) as m:
        m.schedule("hold", {"hold": True})
        assert entered.wait(TIMEOUT)
        oldest = m.schedule("hold", {"n": 1})
        newest = m.scheduler.ask(Schedule("hold", {"n": 2}), timeout=TIMEOUT)
        gate.set()
        assert oldest.result(timeout=TIMEOUT).state is JobState.SHED
        assert newest.result(timeout=TIMEOUT).state is JobState.DONE


class Refusals(pykka.ThreadingActor):
    """Collects what the Scheduler tells it: refusals and finished cases."""

    def __init__(self) -> None:
        super().__init__()
        self.got: queue.Queue[Any] = queue.Queue()

    def on_receive(self, message: Any) -> Any:
        self.got.put(message)
        return None


def test_a_told_schedule_that_is_refused_is_told_back_and_the_engine_goes_on(caplog) -> None:
    """Pykka stops an actor whose told message raises: a typo must not stop the engine."""
    refusals = Refusals.start()
    got = refusals.proxy().got.get()
    try:
        with Mediator([double()], runners=1) as m:
            m.scheduler.tell(Schedule("dubble", {"n": 1}, reply_to=refusals))
            m.scheduler.tell(Schedule("double", {"n": 2}, reply_to=refusals))
            refused = got.get(timeout=TIMEOUT)
            finished = got.get(timeout=TIMEOUT)
            assert m.scheduler.is_alive()
            with pytest.raises(UnknownWorkflowError):  # an ask still raises to the asker
                m.scheduler.ask(Schedule("dubble", {}), timeout=TIMEOUT)
            assert m.schedule("double", {"n": 5}).result(timeout=TIMEOUT).data == {"n": 10}
    finally:
        refusals.stop()
    assert isinstance(refused, ScheduleRefused)
    assert refused.schedule.workflow == "dubble"
    assert isinstance(refused.error, UnknownWorkflowError)
    assert isinstance(finished, CaseFinished) and finished.job.data == {"n": 4}
    assert "a Schedule of 'dubble' sent with tell was refused" in caplog.text


def test_an_actor_names_its_case_and_a_second_schedule_of_that_id_is_refused() -> None:
    """A business key makes an actor's admission idempotent, as ``schedule(job_id=...)``."""
    refusals = Refusals.start()
    got = refusals.proxy().got.get()
    try:
        with Mediator([double()], runners=1) as m:
            handle = m.scheduler.ask(Schedule("double", {"n": 3}, job_id="order-7"), block=True)
            assert handle.job_id == "order-7"
            assert handle.result(timeout=TIMEOUT).data == {"n": 6}
            with pytest.raises(JobExistsError, match="'order-7' already exists"):
                m.scheduler.ask(Schedule("double", {"n": 4}, job_id="order-7"), block=True)
            m.scheduler.tell(Schedule("double", {"n": 5}, reply_to=refusals, job_id="order-7"))
            refused = got.get(timeout=TIMEOUT)
            with pytest.raises(ValueError, match="job_id must be a non-empty string without '/'"):
                m.scheduler.ask(Schedule("double", {}, job_id="order/8"), block=True)
            assert m.get_job("order-7") == handle.result(timeout=TIMEOUT)  # left as it was
    finally:
        refusals.stop()
    assert isinstance(refused, ScheduleRefused)
    assert isinstance(refused.error, JobExistsError)


def test_registry_stop_all_stops_the_engine_cleanly() -> None:
    m = Mediator([double()], runners=3)
    assert m.schedule("double", {"n": 1}).result(timeout=TIMEOUT).data == {"n": 2}
    pykka.ActorRegistry.stop_all(block=True, timeout=TIMEOUT)
    assert pykka.ActorRegistry.get_all() == []
    m.shutdown()  # still safe afterwards


def test_a_request_step_after_the_engine_stopped_is_not_run_and_sends_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The stopping Scheduler stops its runners: one inside a step stops after it, quietly."""
    started, release, sent = threading.Event(), threading.Event(), []

    def hold(data: dict[str, Any]) -> None:
        started.set()
        assert release.wait(TIMEOUT)

    flow = Workflow(
        "ask",
        start="hold",
        steps=[
            Sequential("hold", hold, next="ask"),
            RequestReaction("ask", send=lambda data, ctx: sent.append(ctx.correlation_id)),
        ],
    )
    m = Mediator([flow], runners=1)
    try:
        m.schedule("ask", {})
        assert started.wait(TIMEOUT)
        (runner,) = pykka.ActorRegistry.get_by_class(Runner)
        m.scheduler.stop(block=True, timeout=TIMEOUT)  # the runner is inside "hold"
        release.set()
        assert runner.actor_stopped.wait(TIMEOUT)  # it stopped before "ask"
    finally:
        m.shutdown()
    assert sent == []
    (job,) = m.store.unfinished()
    assert (job.state, job.step) == (JobState.READY, "ask")  # saved after "hold": resumes there
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


class Careless(pykka.ThreadingActor):
    """Schedules with ``reply_to=self``: the actor, where its ref belongs."""

    def __init__(self, scheduler: pykka.ActorRef[Any]) -> None:
        super().__init__()
        self.scheduler = scheduler

    def on_receive(self, message: Any) -> Any:
        return self.scheduler.ask(Schedule("double", {"n": 1}, reply_to=self), timeout=TIMEOUT)


def test_a_reply_to_that_is_not_an_actor_ref_is_refused_where_it_is_made() -> None:
    """It was admitted, and failed the Scheduler (so the whole engine) when its case ended."""
    with Mediator([double()], runners=1) as m:
        careless = Careless.start(m.scheduler)
        try:
            with pytest.raises(TypeError, match=r"reply_to.*pass self\.actor_ref"):
                careless.ask("go", timeout=TIMEOUT)
        finally:
            careless.stop()
        assert m.schedule("double", {"n": 2}).result(timeout=TIMEOUT).data == {"n": 4}
        assert m.scheduler.is_alive()


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"reply_to": "me"}, r"reply_to=\.\.\.\) takes an actor's pykka\.ActorRef or None"),
        ({"version": "1"}, r"version=\.\.\.\) takes an int or None, got str '1'"),
        ({"job_id": 7}, r"job_id=\.\.\.\) takes a str or None, got int 7"),
    ],
)
def test_a_malformed_schedule_is_refused_when_it_is_made(
    options: dict[str, Any], problem: str
) -> None:
    """A told one has no one to raise to: a bad version stopped the Scheduler."""
    with pytest.raises(TypeError, match=problem):
        Schedule("double", {"n": 1}, **options)


def _spawner(holder: dict[str, Any], children: int, both_in: threading.Barrier | None) -> Workflow:
    """A parent whose task schedules ``children`` cases of ``leaf`` (``None``: refused)."""

    def spawn(data: dict[str, Any]) -> None:
        if both_in is not None:
            both_in.wait()  # every runner is inside a parent's task
        data["children"] = []
        for _ in range(children):
            try:
                data["children"].append(holder["m"].schedule("leaf", {}).job_id)
            except MailboxFull as full:
                data["children"].append(None)
                holder.setdefault("refusals", []).append(str(full))

    return Workflow("parent", start="spawn", steps=[Sequential("spawn", spawn)])


LEAF = Workflow("leaf", start="a", steps=[Sequential("a", lambda data: None)])


def test_a_task_waiting_for_a_slot_only_its_own_runner_could_free_is_refused_not_hung() -> None:
    """One runner, one slot: the task's second child waited for ever for the slot its first took.

    Only a runner starting a queued job frees a slot, and the only runner was waiting.
    """
    holder: dict[str, Any] = {}
    with Mediator([LEAF, _spawner(holder, 2, None)], runners=1, capacity=1) as m:
        holder["m"] = m
        parent = m.schedule("parent", {}).result(timeout=TIMEOUT)
        first, second = parent.data["children"]
        assert m.get_job(first).state in {JobState.READY, JobState.DONE}
        assert second is None
    assert holder["refusals"] == [
        "admission mailbox full (1 of 1 slots taken) and no slot can free: schedule() was "
        "called in a task, and all 1 runner(s) of this Mediator are inside tasks waiting for "
        "a slot, so none is left to start a queued job (give the Mediator more runners or "
        "capacity)"
    ]


def test_when_every_runner_waits_in_a_task_for_a_slot_the_last_is_refused_and_the_rest_go_on() -> (
    None
):
    """Two runners, one slot, two parents of two children each, all inside their tasks at once.

    Only the runner that would make every runner wait is refused; the other waits, gets the
    slot its refused neighbour frees by going on, and nothing hangs.
    """
    holder: dict[str, Any] = {}
    flows = [LEAF, _spawner(holder, 2, threading.Barrier(2, timeout=TIMEOUT))]
    with Mediator(flows, runners=2, capacity=1) as m:
        holder["m"] = m
        handles = [m.schedule("parent", {}, timeout=TIMEOUT) for _ in range(2)]
        parents = [handle.result(timeout=TIMEOUT) for handle in handles]
        children = [c for p in parents for c in p.data["children"]]
    assert all(p.state is JobState.DONE for p in parents)
    assert 1 <= children.count(None) < len(children)
    assert all("no slot can free" in said for said in holder["refusals"])


def test_a_second_mediator_on_a_memory_store_a_running_one_serves_is_refused() -> None:
    """It resumed the running one's unfinished cases: every step of them ran twice at once."""
    from flows import Gate

    from actors.stores import MemoryStore

    store, gate = MemoryStore(), Gate()
    flow = Workflow("slow", [Sequential("a", gate)], "a")
    first = Mediator([flow], store=store)
    try:
        handle = first.schedule("slow", {})
        assert gate.entered.wait(TIMEOUT)
        with pytest.raises(ValueError, match="serves another Mediator that is still running"):
            Mediator([flow], store=store)
        gate.opened.set()
        assert handle.result(timeout=TIMEOUT).state is JobState.DONE
    finally:
        gate.opened.set()
        first.shutdown()
    with Mediator([flow], store=store) as again:  # once it is shut down, the store is free
        assert again.schedule("slow", {}).result(timeout=TIMEOUT).state is JobState.DONE


def test_reply_to_is_told_of_a_case_the_stopping_engine_leaves_unfinished() -> None:
    """It was told nothing: an actor counting on CaseFinished waited for ever."""
    from flows import Told

    from actors import EngineStoppedError, Wait
    from actors.messages import CaseUnfinished

    told: list[Any] = []
    heard = threading.Event()
    waiter = Told.start(told, heard)
    parked = Workflow(
        "later",
        [Wait("wait", duration=3600, next="done"), Sequential("done", lambda d: None)],
        start="wait",
    )
    try:
        m = Mediator([parked], runners=1)
        handle = m.scheduler.ask(Schedule("later", {}, reply_to=waiter), timeout=TIMEOUT)
        wait_until(lambda: m.stats().timers == 1, "the case to park")
        m.shutdown()
        assert heard.wait(TIMEOUT)
        (message,) = told
        assert isinstance(message, CaseUnfinished)
        assert message.case_id == handle.job_id
        assert isinstance(message.error, EngineStoppedError)
        with pytest.raises(EngineStoppedError):
            handle.result(timeout=TIMEOUT)
    finally:
        waiter.stop()
