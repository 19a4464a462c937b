"""A runner runs a chain of data-only Sequential steps inline: the same guarantees.

With no tracer or metrics timing every step (so under the threaded runtime and the
test harness alike) a runner calls such steps' tasks itself instead of through the
interpreter's dispatch. These tests run that path on threads and check what the
step-by-step path promises: a save after every step, a resume from the last saved step
after a runner crash, retries and fault paths, the data rule naming the step and the
path, and one history row per step.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from bounds import TIMEOUT

from actors import JobState, Mediator, Retry, Sequential, Workflow
from actors._interpreter import Interpreter
from actors._job import JobRecord
from actors.stores import MemoryStore


@pytest.fixture(autouse=True)
def no_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if a data-only Sequential step goes through the interpreter's dispatch."""

    def dispatched(self: Interpreter, job: JobRecord, step: Sequential, wf: Workflow) -> None:
        if step.name not in wf.context_steps:
            msg = f"step {step.name!r} was dispatched, not run inline"
            raise AssertionError(msg)

    monkeypatch.setattr(Interpreter, "sequential", dispatched)


def chain(calls: list[str], *, middle: Any = None) -> Workflow:
    def task(name: str) -> Any:
        def run(data: dict[str, Any]) -> None:
            calls.append(name)
            data[name] = len(calls)

        return run

    return Workflow(
        "chain",
        [
            Sequential("s1", task("s1"), next="s2"),
            Sequential("s2", middle or task("s2"), next="s3"),
            Sequential("s3", task("s3")),
        ],
        start="s1",
    )


class CrashOnce(MemoryStore):
    """Raises (as a failing store would) on the first save of a job about to run ``at``."""

    def __init__(self, at: str) -> None:
        super().__init__(copy_data=True)
        self.at = at
        self.crashed = False

    def save(self, job: JobRecord) -> None:
        if job.step == self.at and not self.crashed:
            self.crashed = True
            msg = "the process died between two steps"
            raise RuntimeError(msg)
        super().save(job)


def test_a_runner_crash_between_two_steps_resumes_from_the_last_saved_step(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []
    store = CrashOnce(at="s3")  # s2 ran; its save (job now at s3) never happened
    with (
        caplog.at_level(logging.INFO, logger="actors"),
        Mediator([chain(calls)], runners=1, store=store) as m,
    ):
        job = m.schedule("chain", {}).result(timeout=TIMEOUT)
    assert store.crashed
    # A real crash is loud (the harness's injected ones are logged at INFO).
    levels = {r.getMessage(): r.levelno for r in caplog.records if r.name == "actors"}
    # It names what the runner died of: pykka's traceback goes to its own logger, which
    # nothing shows by default (an `actors worker` only prints the engine's loggers).
    died = "runner 0 failed (RuntimeError: the process died between two steps); restarting it"
    assert levels[died] == logging.ERROR
    resumed = [lvl for msg, lvl in levels.items() if "resumes from its last saved step" in msg]
    assert resumed == [logging.WARNING]
    assert job.state is JobState.DONE
    # The last save was after s1 (job at s2, data {s1: 1}): s2 ran again from there.
    assert calls == ["s1", "s2", "s2", "s3"]
    assert job.data == {"s1": 1, "s2": 3, "s3": 4}
    steps = [row.step for row in store.step_history(job.id)]
    assert steps == ["s1", "s2", "s3", "s3"]  # created, after s1, after s2, DONE


def test_each_step_of_the_chain_is_saved_with_its_data() -> None:
    calls: list[str] = []
    store = MemoryStore(copy_data=True)
    seen: list[tuple[str | None, dict[str, Any]]] = []
    saved = store.save

    def spy(job: JobRecord) -> None:
        saved(job)
        stored = store.load(job.id)
        assert stored is not None
        seen.append((stored.step, stored.data))

    store.save = spy  # type: ignore[method-assign]
    with Mediator([chain(calls)], runners=1, store=store) as m:
        m.schedule("chain", {}).result(timeout=TIMEOUT)
    assert seen == [
        ("s2", {"s1": 1}),
        ("s3", {"s1": 1, "s2": 2}),
        ("s3", {"s1": 1, "s2": 2, "s3": 3}),  # the DONE save
    ]


def test_a_retry_and_a_fault_path_inside_the_chain() -> None:
    attempts: list[int] = []

    def flaky(data: dict[str, Any]) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) < 3:
            msg = "not yet"
            raise ValueError(msg)

    def broken(data: dict[str, Any]) -> None:
        msg = "no"
        raise KeyError(msg)

    wf = Workflow(
        "retrying",
        [
            Sequential("flaky", flaky, next="broken", retry=Retry(attempts=3, backoff=0)),
            Sequential("broken", broken, next="never", fault_next="recover"),
            Sequential("never", lambda data: None),
            Sequential("recover", lambda data: {**data, "recovered": True}),
        ],
        start="flaky",
    )
    with Mediator([wf], runners=1) as m:
        job = m.schedule("retrying", {}).result(timeout=TIMEOUT)
        history = [(row.step, row.attempt) for row in m.store.step_history(job.id)]
    assert job.state is JobState.DONE
    assert job.data == {"recovered": True}
    assert attempts == [1, 2, 3]
    assert ("flaky", 2) in history
    assert ("flaky", 3) in history


def test_data_a_step_cannot_store_faults_the_job_at_that_step() -> None:
    def bad(data: dict[str, Any]) -> None:
        data["lock"] = object()

    calls: list[str] = []
    with Mediator([chain(calls, middle=bad)], runners=1) as m:
        job = m.schedule("chain", {}).result(timeout=TIMEOUT)
    assert job.state is JobState.FAULTED
    assert job.step == "s2"  # the step that put the value there, not the next one
    assert job.error is not None
    assert "['lock']: value of type builtins.object is not JSON data" in job.error
    assert calls == ["s1"]  # s3 never ran
