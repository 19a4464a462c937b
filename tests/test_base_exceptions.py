"""A ``BaseException`` a user's callable raises is its failure, as ``SystemExit`` is.

pykka takes any ``BaseException`` on an actor's thread for a fatal error and stops every
actor of the process. A task raising ``KeyboardInterrupt``, ``GeneratorExit``, asyncio's
``CancelledError`` (a ``BaseException``) or a library's own stopped the engine and the
application's actors, with nothing logged above DEBUG; the case, left as last saved,
did it again at every start. Only a ``KeyboardInterrupt`` on the main thread (the
user's Ctrl-C, where the harness runs tasks) still stops what runs.
"""

from __future__ import annotations

import asyncio
import threading

import pykka
import pytest
from bounds import TIMEOUT
from flows import setter

from actors import JobState, Mediator, Sequential, Workflow
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


def test_keyboard_interrupt_on_the_main_thread_still_stops_a_harness_run():
    """The harness runs tasks on the test's thread: Ctrl-C there stops the run."""
    assert threading.current_thread() is threading.main_thread()

    def interrupted(data):
        raise KeyboardInterrupt

    flow = Workflow("ctrl_c", [Sequential("a", interrupted)], "a")
    harness = Harness([flow], seed=1)
    try:
        harness.schedule("ctrl_c", {})
        with pytest.raises(KeyboardInterrupt):
            harness.run_until_quiescent()
    finally:
        harness.close()
