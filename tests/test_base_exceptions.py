"""A ``BaseException`` a user's callable raises is its failure, as ``SystemExit`` is.

pykka takes any ``BaseException`` on an actor's thread for a fatal error and stops every
actor of the process. A task raising ``KeyboardInterrupt``, ``GeneratorExit``, asyncio's
``CancelledError`` (a ``BaseException``) or a library's own stopped the engine and the
application's actors, with nothing logged above DEBUG; the case, left as last saved,
did it again at every start. On the main thread one still stops what runs: a Ctrl-C,
or a test framework's stop under the harness, which runs tasks there.
"""

from __future__ import annotations

import asyncio
import threading

import pykka
import pytest
from bounds import TIMEOUT
from flows import setter

from actors import (
    ExclusiveChoice,
    FullMode,
    JobState,
    Mediator,
    ParallelSplit,
    RequestReaction,
    Sequential,
    Synchronize,
    Wait,
    Workflow,
)
from actors.metrics import CountingMetrics
from actors.testing import Harness


class LibraryStop(BaseException):
    """A library's own ``BaseException`` (a test framework's failure, a green thread's kill)."""


RAISED = [KeyboardInterrupt("k"), GeneratorExit("g"), asyncio.CancelledError("c"), LibraryStop("x")]
FINE = Workflow("fine", [Sequential("a", setter("a"))], "a")


@pytest.mark.parametrize("error", RAISED, ids=lambda e: type(e).__name__)
def test_a_base_exception_in_a_task_faults_its_job_and_every_actor_goes_on(error, caplog, tmp_path):
    def leave(data):
        raise error

    class Till(pykka.ThreadingActor):
        def on_receive(self, message):
            return message

    class StoppingMetrics(CountingMetrics):
        def finished(self, workflow, state):
            raise type(error)("from the metrics hook")

    leaving = Workflow("leaves", [Sequential("a", leave)], "a")
    store = f"sqlite:///{tmp_path}/base.db"
    till = Till.start()
    try:
        with Mediator([leaving, FINE], store=store, metrics=StoppingMetrics()) as m:
            left = m.schedule("leaves", {}).result(timeout=TIMEOUT)
            fine = m.schedule("fine", {}).result(timeout=TIMEOUT)
        assert left.state is JobState.FAULTED
        assert left.error == f"step 'a': {type(error).__name__}: {error} (attempt 1)"
        assert fine.state is JobState.DONE
        assert till.ask("still here", timeout=TIMEOUT) == "still here"
        assert "the metrics hook's finished() raised" in caplog.text
    finally:
        till.stop()


@pytest.mark.parametrize("error", [KeyboardInterrupt, LibraryStop], ids=lambda e: e.__name__)
def test_a_base_exception_on_the_main_thread_still_stops_a_harness_run(error):
    """Under the harness, which runs tasks on the test's thread, it stops the run.

    A Ctrl-C there, or a test framework's stop (``pytest.fail()``, Hypothesis's end of
    data), is the test's, not the job's failure.
    """
    assert threading.current_thread() is threading.main_thread()

    def interrupted(data):
        raise error

    flow = Workflow("stops", [Sequential("a", interrupted)], "a")
    harness = Harness([flow], seed=1)
    try:
        harness.schedule("stops", {})
        with pytest.raises(error):
            harness.run_until_quiescent()
    finally:
        harness.close()


def _leave(*args: object) -> None:
    raise SystemExit(3)


class _LeavingTracer:
    def step(self, job: object, name: str) -> object:
        raise SystemExit(4)


# docs/how-to/embed.md: "A task (or a send, a merge, a spec, a hook, a tracer) that raises
# SystemExit ... fails as if it raised any other error". The job each one faults, by kind.
CALLABLES = {
    "send": Workflow("send", [RequestReaction("r", send=_leave)], "r"),
    "merge": Workflow(
        "merge",
        [
            ParallelSplit("s", branches=["a", "b"]),
            Sequential("a", setter("a"), next="j"),
            Sequential("b", setter("b"), next="j"),
            Synchronize("j", merge=_leave),
        ],
        "s",
    ),
    "spec": Workflow(
        "spec",
        [ExclusiveChoice("c", _leave, if_true="a", if_false="a"), Sequential("a", setter("a"))],
        "c",
    ),
    "on_fault": Workflow(
        "on_fault",
        [
            Sequential("a", lambda d: 1 / 0, on_fault=_leave, fault_next="b"),
            Sequential("b", setter("b")),
        ],
        "a",
    ),
    "branches": Workflow(
        "branches",
        [ParallelSplit("s", branches=_leave, each="a"), Sequential("a", setter("a"))],
        "s",
    ),
    "duration": Workflow(
        "duration", [Wait("w", _leave, next="a"), Sequential("a", setter("a"))], "w"
    ),
}


@pytest.mark.parametrize("kind", list(CALLABLES))
def test_sys_exit_in_any_callable_of_a_workflow_faults_its_job_and_every_actor_goes_on(kind):
    flow = CALLABLES[kind]
    with Mediator([flow, FINE]) as m:
        left = m.schedule(flow.name, {}).result(timeout=TIMEOUT)
        fine = m.schedule("fine", {}).result(timeout=TIMEOUT)
    assert left.state is JobState.FAULTED
    assert "SystemExit: 3" in (left.error or ""), left.error
    assert fine.state is JobState.DONE


def test_sys_exit_in_a_tracer_or_an_on_shed_hook_is_logged_and_the_engine_goes_on(caplog):
    busy, release = threading.Event(), threading.Event()

    def hold(data):
        if data.get("hold"):
            busy.set()
            assert release.wait(TIMEOUT)

    held = Workflow("hold", [Sequential("a", hold)], "a")
    options = {"runners": 1, "capacity": 1, "full_mode": FullMode.DROP_OLDEST}
    with Mediator([held], tracer=_LeavingTracer(), on_shed=_leave, **options) as m:
        m.schedule("hold", {"hold": True})
        assert busy.wait(TIMEOUT)
        shed, kept = m.schedule("hold", {}), m.schedule("hold", {})  # the second sheds the first
        release.set()
        assert shed.result(timeout=TIMEOUT).state is JobState.SHED
        assert kept.result(timeout=TIMEOUT).state is JobState.DONE
        assert m.schedule("hold", {}).result(timeout=TIMEOUT).state is JobState.DONE
    assert "the tracer's step() raised" in caplog.text
    assert "on_shed hook failed" in caplog.text
