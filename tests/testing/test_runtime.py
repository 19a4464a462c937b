"""The deterministic runtime keeps pykka's actor semantics; one suite runs on both runtimes."""

from __future__ import annotations

import gc
import inspect
import threading
from typing import Any

import pykka
import pytest
from bounds import TIMEOUT
from pykka._actor import ActorInbox

from actors._runtime import ThreadingRuntime
from actors.testing import Deadlock, DeterministicRuntime, VirtualClock


class Recorder(pykka.Actor):
    """Records its life; answers ``("echo", x)`` with x, raises on ``"boom"``."""

    def __init__(self, log: list[Any]) -> None:
        super().__init__()
        self.log = log

    def on_start(self) -> None:
        self.log.append("start")

    def on_stop(self) -> None:
        self.log.append("stop")

    def on_failure(self, *exc_info: Any) -> None:
        self.log.append(f"failure:{exc_info[1]}")

    def on_receive(self, message: Any) -> Any:
        if message == "boom":
            raise ValueError("boom")
        if isinstance(message, tuple) and message[0] == "echo":
            self.log.append(message[1])
            return message[1]
        if isinstance(message, tuple) and message[0] == "ask":  # ask another actor, nested
            return message[1].ask(("echo", message[2]))
        return super().on_receive(message)


@pytest.fixture(params=["threading", "deterministic"])
def runtime(request):
    return ThreadingRuntime() if request.param == "threading" else DeterministicRuntime()


def start(runtime, log):
    return runtime.actor_class(Recorder).start(log)


def test_pykkas_runtime_hooks_are_the_ones_we_implement():
    # The seam STYLE.md pins: if pykka renames these, this fails loudly.
    for hook in ("_create_actor_inbox", "_create_future", "_start_actor_loop"):
        assert hook in pykka.Actor.__abstractmethods__
    members = {n for n, _ in inspect.getmembers(ActorInbox) if not n.startswith("__")}
    assert {"put", "get", "empty"} <= members


def test_on_start_runs_before_the_first_message(runtime):
    log: list[Any] = []
    ref = start(runtime, log)
    try:
        assert ref.ask(("echo", 1), timeout=TIMEOUT) == 1
        assert log == ["start", 1]
    finally:
        ref.stop(timeout=TIMEOUT)


def test_messages_are_handled_in_the_order_they_were_sent(runtime):
    log: list[Any] = []
    ref = start(runtime, log)
    try:
        for i in range(5):
            ref.tell(("echo", i))
        assert ref.ask(("echo", "last"), timeout=TIMEOUT) == "last"
        assert log == ["start", 0, 1, 2, 3, 4, "last"]
    finally:
        ref.stop(timeout=TIMEOUT)


def test_an_error_in_an_ask_goes_to_the_caller_and_the_actor_lives_on(runtime):
    log: list[Any] = []
    ref = start(runtime, log)
    try:
        with pytest.raises(ValueError, match="boom"):
            ref.ask("boom", timeout=TIMEOUT)
        assert ref.ask(("echo", 2), timeout=TIMEOUT) == 2
    finally:
        ref.stop(timeout=TIMEOUT)


def test_an_error_in_a_tell_runs_on_failure_and_stops_the_actor(runtime):
    log: list[Any] = []
    ref = start(runtime, log)
    ref.tell("boom")
    if isinstance(runtime, DeterministicRuntime):
        runtime.driver()  # on_start
        runtime.driver()  # the failing message
    else:
        ref.actor_stopped.wait(TIMEOUT)
    assert not ref.is_alive()
    assert "failure:boom" in log
    assert ref not in pykka.ActorRegistry.get_all()


def test_stop_runs_on_stop_unregisters_and_later_asks_fail(runtime):
    log: list[Any] = []
    ref = start(runtime, log)
    assert ref in pykka.ActorRegistry.get_all()
    assert ref.stop(timeout=TIMEOUT) is True
    assert log[-1] == "stop"
    assert ref not in pykka.ActorRegistry.get_all()
    with pytest.raises(pykka.ActorDeadError):
        ref.ask(("echo", 1), timeout=TIMEOUT)


def test_an_actor_may_ask_another_from_inside_a_handler(runtime):
    log: list[Any] = []
    first, second = start(runtime, log), start(runtime, log)
    try:
        assert first.ask(("ask", second, "x"), timeout=TIMEOUT) == "x"
    finally:
        first.stop(timeout=TIMEOUT)
        second.stop(timeout=TIMEOUT)


# -- deterministic only --------------------------------------------------------------------------


def test_nothing_runs_until_the_runtime_is_driven():
    runtime = DeterministicRuntime()
    log: list[Any] = []
    ref = start(runtime, log)
    ref.tell(("echo", 1))
    assert log == []
    while runtime.driver():
        pass
    assert log == ["start", 1]
    runtime.stop_all()


def test_asks_left_in_the_inbox_of_a_stopped_actor_get_actor_dead_error():
    runtime = DeterministicRuntime()  # only a simulation can order the stop before the ask
    ref = start(runtime, [])
    stopping = ref.stop(block=False)
    pending = ref.ask(("echo", 1), block=False)
    assert stopping.get() is True
    with pytest.raises(pykka.ActorDeadError):
        pending.get()


def test_a_future_that_cannot_resolve_raises_deadlock_instead_of_hanging():
    runtime = DeterministicRuntime()
    future = runtime.create_future()
    with pytest.raises(Deadlock, match="nothing can run"):
        future.get()


def test_asking_yourself_from_a_handler_is_a_deadlock_not_a_hang():
    runtime = DeterministicRuntime()
    log: list[Any] = []
    ref = start(runtime, log)
    with pytest.raises(Deadlock):
        ref.ask(("ask", ref, "me"))
    runtime.stop_all()


def test_timeouts_are_virtual_time():
    clock = VirtualClock()
    runtime = DeterministicRuntime(clock=clock)
    future = runtime.create_future()
    alarm = clock.alarm(lambda: None)
    alarm.set(10.0)

    def driver() -> bool:  # nothing to deliver: let time pass instead
        if clock.jump() is None:
            return False
        for due in clock.due():
            due.ring()
        return True

    runtime.driver = driver
    with pytest.raises(pykka.Timeout, match="virtual"):
        future.get(timeout=5.0)


def test_a_timed_wait_lets_time_pass_to_a_timer_that_resolves_it():
    """Nothing to deliver: time moves to the next alarm, which rings and answers the wait.

    With the default driver (which rings no alarm) the wait jumped to the alarm and then
    looked at it, unrung, for ever.
    """
    clock = VirtualClock()
    runtime = DeterministicRuntime(clock=clock)
    future = runtime.create_future()
    alarm = clock.alarm(lambda: future.set("rang"))
    alarm.set(5.0)
    assert future.get(timeout=10.0) == "rang"
    assert clock.now() == 5.0


def test_stop_all_unregisters_every_actor_without_running_on_stop():
    runtime = DeterministicRuntime()
    log: list[Any] = []
    refs = [start(runtime, log) for _ in range(3)]
    pending = refs[0].ask(("echo", 1), block=False)
    runtime.stop_all()
    assert not any(r in pykka.ActorRegistry.get_all() for r in refs)
    assert "stop" not in log
    with pytest.raises(pykka.ActorDeadError):
        pending.get()


def test_a_blocked_actor_gets_no_delivery_until_resumed():
    runtime = DeterministicRuntime()
    log: list[Any] = []
    ref = start(runtime, log)
    runtime.driver()  # on_start
    gate = threading.Event()
    cell = runtime.cells[0]
    runtime.block(cell.actor, why="waits for the gate", ready=gate.is_set, resume=lambda: None)
    ref.tell(("echo", 1))
    assert not runtime.driver()  # blocked, and not ready to resume
    gate.set()
    assert runtime.driver()  # resumes
    assert runtime.driver()  # then handles the message
    assert log == ["start", 1]
    runtime.stop_all()


def test_substitutions_replace_an_engine_actor_class():
    class Loud(Recorder):
        pass

    runtime = DeterministicRuntime(substitutions={Recorder: Loud})
    cls = runtime.actor_class(Recorder)
    assert issubclass(cls, Loud)
    assert runtime.actor_class(Recorder) is cls  # one class per behaviour and runtime


def test_a_closed_harness_is_freed_without_the_garbage_collector():
    # A property test builds a harness per example: one left in reference cycles (actor,
    # ref, inbox, cell, bound methods) costs a collection every few examples.
    from actors import ParallelSplit, Sequential, Synchronize, Workflow
    from actors.testing import Crash, FaultPlan, Harness

    def task(data):
        data["n"] = data.get("n", 0) + 1

    flow = Workflow("fan", start="a", steps=[
        Sequential("a", task, next="split"),
        ParallelSplit("split", branches=["b", "c"]),
        Sequential("b", task, next="join"),
        Sequential("c", task, next="join"),
        Synchronize("join", next="end"),
        Sequential("end", task),
    ])  # fmt: skip
    gc.collect()
    gc.disable()
    try:
        # A crashed runner (torn down mid-run) and a user's actor are in it too.
        with Harness([flow], seed=3, faults=FaultPlan(crashes=(Crash(2),))) as h:
            h.actor(Recorder, [])
            h.schedule("fan", {})
            h.finish()
        del h
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = [o for o in gc.garbage if type(o).__module__.partition(".")[0] == "actors"]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert not left, f"left for the collector: {sorted({type(o).__qualname__ for o in left})}"
