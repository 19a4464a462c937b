"""The host application stops the engine: ``pykka.ActorRegistry.stop_all()``, ``shutdown()``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pykka
import pytest
from bounds import TIMEOUT, wait_until

from actors import EngineStoppedError, JobState, Mediator, Sequential, Workflow
from actors.metrics import CountingMetrics
from actors.stores import open_store
from actors.testing import Harness


def test_stop_all_stops_the_runners_between_steps_and_the_next_start_resumes(
    tmp_path: Path,
) -> None:
    """A stop from the registry is no drain: the cases a runner would still run stay saved."""
    ran: list[tuple[int, str]] = []
    entered, release = threading.Event(), threading.Event()

    def step(name: str) -> Any:
        def task(data: dict[str, Any]) -> None:
            ran.append((data["n"], name))
            if name == "a" and data["n"] == 0:
                entered.set()
                assert release.wait(TIMEOUT)

        return task

    flow = Workflow(
        "three",
        start="a",
        steps=[
            Sequential("a", step("a"), next="b"),
            Sequential("b", step("b"), next="c"),
            Sequential("c", step("c")),
        ],
    )
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    m = Mediator([flow], runners=1, store=url)
    handles = [m.schedule("three", {"n": n}) for n in range(3)]
    assert entered.wait(TIMEOUT)  # the only runner is inside case 0's first step
    stopping = pykka.ActorRegistry.stop_all(block=False)  # the stops are queued now
    release.set()
    for stopped in stopping:
        stopped.get(timeout=TIMEOUT)
    assert ran == [(0, "a")]  # not the rest of case 0, nor cases 1 and 2
    m.shutdown()  # still safe; closes the store
    store = open_store(url)
    try:
        left = {job.id: job.step for job in store.unfinished()}
    finally:
        store.close()
    assert left == {handles[0].job_id: "b", handles[1].job_id: "a", handles[2].job_id: "a"}
    with Mediator([flow], runners=1, store=url) as again:  # resumes them
        for handle in handles:
            assert again.get_job(handle.job_id).state is not JobState.FAULTED
    assert sorted(ran) == sorted((n, s) for n in range(3) for s in "abc")  # no step twice


def test_shutdown_from_a_task_of_the_same_mediator_is_refused_with_the_reason() -> None:
    """It would wait for its own runner to stop: the task fails with why, nothing hangs."""
    holder: dict[str, Mediator] = {}

    def stop_everything(data: dict[str, Any]) -> None:
        holder["mediator"].shutdown()

    flow = Workflow("stop", start="s", steps=[Sequential("s", stop_everything)])
    with Mediator([flow, double()], runners=1) as m:
        holder["mediator"] = m
        job = m.schedule("stop", {}).result(timeout=TIMEOUT)
        assert job.state is JobState.FAULTED
        assert "Mediator.shutdown() was called from a task of that Mediator" in (job.error or "")
        assert m.schedule("double", {"n": 2}).result(timeout=TIMEOUT).data == {"n": 4}


def test_shutdown_from_a_task_is_refused_under_the_harness_too() -> None:
    holder: dict[str, Mediator] = {}

    def stop_everything(data: dict[str, Any]) -> None:
        holder["mediator"].shutdown()

    flow = Workflow("stop", start="s", steps=[Sequential("s", stop_everything)])
    with Harness([flow], seed=1) as h:
        holder["mediator"] = h.mediator
        h.schedule("stop", {})
        (job,) = h.finish()
    assert job.state is JobState.FAULTED
    assert "called from a task of that Mediator" in (job.error or "")


def double() -> Workflow:
    return Workflow("double", [Sequential("x2", lambda d: d.update(n=d["n"] * 2))], start="x2")


def test_an_on_shed_hook_asking_its_mediator_gets_a_clear_error_not_a_long_stall() -> None:
    """The hook runs on the Scheduler's thread: a call that asks the Scheduler stalled.

    It waited for itself until its 30 s timeout, and the whole engine with it.
    """
    from flows import Gate

    from actors import FullMode

    gate, called = Gate(), threading.Event()
    holder: dict[str, Mediator] = {}
    refusals: list[str] = []

    def on_shed(job: Any) -> None:
        for call in (holder["m"].stats, holder["m"].shutdown):
            try:
                call()
            except RuntimeError as exc:
                refusals.append(str(exc))
        called.set()

    flow = Workflow("slow", [Sequential("a", gate)], "a")
    with Mediator(
        [flow], runners=1, capacity=1, full_mode=FullMode.DROP_OLDEST, on_shed=on_shed
    ) as m:
        holder["m"] = m
        m.schedule("slow", {})  # taken by the one runner, which waits in the gate
        assert gate.entered.wait(TIMEOUT)
        m.schedule("slow", {})  # queued: the mailbox is full
        m.schedule("slow", {})  # evicts the queued one: on_shed, on the Scheduler's thread
        assert called.wait(TIMEOUT)
        gate.opened.set()
        assert m.stats().shed == 1  # from this thread, the same call is answered
    assert len(refusals) == 2
    assert refusals[0].startswith("a Mediator call that asks the Scheduler was made on")
    assert refusals[1].startswith("Mediator.shutdown() was made on that Mediator's Scheduler")


def test_a_second_shutdown_from_another_thread_waits_for_the_first() -> None:
    """It returned at once, while the first was still draining: the engine still ran."""
    from flows import Gate

    gate, answers = Gate(), {}
    flow = Workflow("slow", [Sequential("a", gate)], "a")
    m = Mediator([flow], runners=1)
    m.schedule("slow", {})
    assert gate.entered.wait(TIMEOUT)

    def stop(name: str) -> None:
        answers[name] = (m.shutdown(timeout=TIMEOUT), m._scheduler.is_alive())

    first = threading.Thread(target=stop, args=("first",))
    first.start()
    wait_until(lambda: m._closed, "the first shutdown to close admission")
    second = threading.Thread(target=stop, args=("second",))
    second.start()
    second.join(0.5)  # it must wait for the step the first one drains
    assert second.is_alive() and "second" not in answers
    gate.opened.set()
    first.join(TIMEOUT)
    second.join(TIMEOUT)
    assert answers == {"first": (True, False), "second": (True, False)}


def test_a_call_racing_a_shutdown_gets_engine_stopped_not_a_pykka_error() -> None:
    """``stats()``, ``cancel()`` and events check the Scheduler is alive, then ask it.

    A shutdown that stopped it between the two made the ask raise pykka's
    ``ActorDeadError`` ("Scheduler (urn:uuid:...) stopped before handling the message").
    """
    from actors import EngineStoppedError, RequestReaction

    flow = Workflow("asks", [RequestReaction("ask", send=lambda d, c: None)], start="ask")
    m = Mediator([flow])
    dead = m._scheduler
    m.shutdown()

    class StoppedAfterTheCheck:
        """The Scheduler as a call racing the shutdown sees it: alive, then stopped."""

        def is_alive(self) -> bool:
            return True

        def ask(self, message: Any, **kwargs: Any) -> Any:
            return dead.ask(message, **kwargs)

    m._scheduler = StoppedAfterTheCheck()  # type: ignore[assignment]
    calls = [m.stats, lambda: m.cancel("c1"), lambda: m.receive_event("c1/ask", 1)]
    for call in calls:
        with pytest.raises(EngineStoppedError, match=r"^the mediator is shut down$"):
            call()


def test_a_hook_waiting_for_a_case_or_for_room_gets_a_clear_error_not_a_hang() -> None:
    """A hook's wait that only the Scheduler's own thread could end is refused.

    On that thread, ``result()`` of an unfinished case of the same Mediator, and
    ``schedule()`` into its full BACKPRESSURE mailbox, waited for that very thread: for
    ever without a timeout, the whole engine stalled. A finished case still answers.
    """
    from flows import Gate

    from actors import FullMode, JobState

    gate, said = Gate(), {}
    holder: dict[str, Any] = {}

    class Hook:
        def admitted(self, workflow: str, queue_depth: int) -> None: ...
        def shed(self, workflow: str) -> None: ...
        def started(self, workflow: str) -> None: ...
        def step(self, workflow: str, step: str, seconds: float) -> None: ...

        def finished(self, workflow: str, state: JobState) -> None:
            if state is not JobState.CANCELLED:
                return
            m = holder["m"]
            calls = {
                "finished case": lambda: holder["done"].result(timeout=1).state,
                "unfinished case": lambda: holder["running"].result(timeout=1),
                "room left": lambda: m.schedule("quick", {}, timeout=1).job_id,
                "no room left": lambda: m.schedule("quick", {}, timeout=1),
            }
            for name, call in calls.items():
                try:
                    said[name] = call()
                except Exception as exc:  # what each call raised is the point
                    said[name] = exc

    quick = Workflow("quick", [Sequential("a", lambda d: None)], "a")
    slow = Workflow("slow", [Sequential("a", gate)], "a")
    with Mediator(
        [quick, slow], runners=1, capacity=2, full_mode=FullMode.BACKPRESSURE, metrics=Hook()
    ) as m:
        holder["m"] = m
        holder["done"] = m.schedule("quick", {})
        holder["done"].result(timeout=TIMEOUT)
        holder["running"] = m.schedule("slow", {})  # the one runner waits in the gate
        assert gate.entered.wait(TIMEOUT)
        m.schedule("slow", {})
        queued = m.schedule("slow", {})  # the mailbox is full
        m.cancel(queued.job_id)  # frees one place; finished() runs on the Scheduler
        gate.opened.set()
    assert said["finished case"] is JobState.DONE
    assert isinstance(said["room left"], str)
    for name, call in [("unfinished case", "JobHandle.result()"), ("no room left", "schedule()")]:
        assert isinstance(said[name], RuntimeError), (name, said[name])
        assert call in str(said[name]) and "Scheduler thread" in str(said[name])


def test_a_call_to_a_busy_scheduler_times_out_naming_the_call_and_what_holds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hook holding the Scheduler's thread made ``stats()`` raise pykka's bare ``Timeout``.

    Its whole message was ``30.0 seconds``: not which call, nor why, nor that a
    ``receive_event`` or ``cancel`` so refused is still queued and may yet be carried out.
    """
    from flows import Gate

    from actors import FullMode

    monkeypatch.setattr("actors._mediator_calls.ASK_TIMEOUT", 0.2)
    gate, in_hook, leave_hook = Gate(), threading.Event(), threading.Event()

    def on_shed(job: Any) -> None:
        in_hook.set()
        assert leave_hook.wait(TIMEOUT)

    flow = Workflow("slow", [Sequential("a", gate)], "a")
    with Mediator(
        [flow], runners=1, capacity=1, full_mode=FullMode.DROP_OLDEST, on_shed=on_shed
    ) as m:
        m.schedule("slow", {})  # taken by the one runner, which waits in the gate
        assert gate.entered.wait(TIMEOUT)
        m.schedule("slow", {})  # queued: the mailbox is full
        m.schedule("slow", {})  # evicts the queued one: the hook holds the Scheduler
        assert in_hook.wait(TIMEOUT)
        try:
            for call, name in ((m.stats, "stats"), (lambda: m.cancel("x"), "cancel")):
                with pytest.raises(TimeoutError) as caught:
                    call()
                said = str(caught.value)
                assert said.startswith(f"Mediator.{name}(): the Scheduler did not answer")
                assert "on_shed" in said
                assert "may yet be carried out" in said
        finally:
            leave_hook.set()
            gate.opened.set()
        assert m.stats().shed == 1  # answered again once the hook returned


def test_an_event_and_a_cancel_that_timed_out_on_a_busy_scheduler_are_carried_out_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An event or a cancel so refused is still queued, and carried out once the hook returns."""
    from flows import Gate

    from actors import CancelOutcome, FullMode, RequestReaction, StepContext

    monkeypatch.setattr("actors._mediator_calls.ASK_TIMEOUT", 0.2)
    gate, in_hook, leave_hook = Gate(), threading.Event(), threading.Event()
    asked: dict[str, StepContext] = {}

    def on_shed(job: Any) -> None:
        in_hook.set()
        assert leave_hook.wait(TIMEOUT)

    def ask(data: Any, ctx: StepContext) -> None:
        asked[ctx.job_id] = ctx

    flows = [
        Workflow("slow", [Sequential("a", gate)], "a"),
        Workflow("ask", [RequestReaction("r", send=ask, on_reply=lambda d, r: d.update(r=r))], "r"),
    ]
    options: dict[str, Any] = {"runners": 1, "capacity": 1, "full_mode": FullMode.DROP_OLDEST}
    with Mediator(flows, on_shed=on_shed, **options) as m:
        answered = m.schedule("ask", {})  # one at a time: a second would evict the first
        wait_until(lambda: m.stats().waiting == 1, "the first request to park")
        cancelled = m.schedule("ask", {})
        wait_until(lambda: m.stats().waiting == 2, "the second request to park")
        m.schedule("slow", {})  # taken by the one runner, which waits in the gate
        assert gate.entered.wait(TIMEOUT)
        m.schedule("slow", {})  # queued: the mailbox is full
        m.schedule("slow", {})  # evicts the queued one: the hook holds the Scheduler
        assert in_hook.wait(TIMEOUT)
        try:
            with pytest.raises(TimeoutError, match="may yet be carried out"):
                m.receive_event(asked[answered.job_id].correlation_id, "yes")
            with pytest.raises(TimeoutError, match="may yet be carried out"):
                m.cancel(cancelled.job_id)
        finally:
            leave_hook.set()
            gate.opened.set()
        done, stopped = answered.result(timeout=TIMEOUT), cancelled.result(timeout=TIMEOUT)
        assert m.cancel(cancelled.job_id) is CancelOutcome.ALREADY_FINISHED
    assert (done.state, done.data) == (JobState.DONE, {"r": "yes"})
    assert stopped.state is JobState.CANCELLED


def test_stop_all_called_in_a_task_stops_every_actor_and_the_case_resumes_after_that_step(
    tmp_path: Path,
) -> None:
    """``stop_all()`` stops each actor and waits for it to stop: the task's own runner too.

    That runner could only stop once the task returned, so the task waited for ever, the
    actors after it in the registry (the Scheduler, the application's own) never stopped,
    and the process did not exit (pykka's threads are not daemons).
    """

    class Till(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> Any:
            return message

    returned = threading.Event()

    def stop_everything(data: dict[str, Any]) -> None:
        pykka.ActorRegistry.stop_all()
        returned.set()
        data["stopped"] = True

    def after(data: dict[str, Any]) -> None:
        data["after"] = True

    flow = Workflow(
        "quits",
        start="quit",
        steps=[Sequential("quit", stop_everything, next="after"), Sequential("after", after)],
    )
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    till = Till.start()
    m = Mediator([flow], runners=2, store=url)
    handle = m.schedule("quits", {})
    assert returned.wait(TIMEOUT)  # stop_all() returned in the task
    assert till.actor_stopped.wait(TIMEOUT)  # the application's actor, started before
    with pytest.raises(EngineStoppedError, match="stopped before the case ended"):
        handle.result(timeout=TIMEOUT)
    m.shutdown()
    with Mediator([flow], runners=1, store=url) as again:  # resumes it after "quit"
        wait_until(lambda: again.get_job(handle.job_id).state is JobState.DONE, "the resume")
        assert again.get_job(handle.job_id).data == {"stopped": True, "after": True}


def test_stop_all_called_in_a_hook_on_the_scheduler_s_thread_stops_every_actor() -> None:
    """A metrics hook's ``finished()`` runs on the Scheduler's thread: its stop waited there."""
    returned = threading.Event()

    class Till(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> Any:
            return message

    class Stopping(CountingMetrics):
        def finished(self, workflow: str, state: JobState) -> None:
            pykka.ActorRegistry.stop_all()
            returned.set()

    till = Till.start()
    flow = Workflow("one", start="a", steps=[Sequential("a", lambda data: None)])
    m = Mediator([flow], metrics=Stopping())
    m.schedule("one", {})
    assert returned.wait(TIMEOUT)  # stop_all() returned on the Scheduler's thread
    assert till.actor_stopped.wait(TIMEOUT)
    assert m.shutdown(timeout=TIMEOUT) is False  # stopped from outside: no drain
