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
