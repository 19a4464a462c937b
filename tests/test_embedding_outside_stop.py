"""The application stops the engine's actors itself; ``shutdown()`` still waits for their steps.

A ``Mediator`` embedded in a pykka application has its actors in pykka's registry, where
the application may stop them: its Scheduler's ref (``mediator.scheduler.stop()``),
``pykka.ActorRegistry.stop_all()``, or one runner's ref. ``shutdown()`` found its runners
by asking the Scheduler, so after such a stop it found none, closed the store under the
step still running, and that step's save was refused: it ran again at the next start.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pykka
import pytest
from bounds import TIMEOUT, wait_until

from actors import EngineStoppedError, JobState, Mediator, Sequential, Workflow
from actors._runner import Runner


class Step:
    """Step "a" of the test's case: it counts its runs, and the first one blocks.

    The first run waits for ``release``, which the test sets once ``shutdown()`` is seen
    waiting for it (renewing the lease on the thread that called it) or once the store is
    closed under it (the defect: the run's save is then refused).
    """

    def __init__(self) -> None:
        self.runs: dict[str, int] = {"a": 0, "b": 0}
        self.entered, self.release, self.left = threading.Event(), threading.Event(), False
        self.closed_under_it = False

    def a(self, data: dict[str, Any]) -> None:
        self.runs["a"] += 1
        if self.runs["a"] == 1:
            self.entered.set()
            assert self.release.wait(TIMEOUT), "nothing released the step"
            self.left = True

    def b(self, data: dict[str, Any]) -> None:
        self.runs["b"] += 1

    def flow(self) -> Workflow:
        return Workflow(
            "two",
            start="a",
            steps=[Sequential("a", self.a, next="b"), Sequential("b", self.b)],
        )

    def watch(self, m: Mediator, shutting_down: set[threading.Thread]) -> None:
        """Release the step when ``shutdown()`` waits for it, or when the store closes."""
        store = m.store
        heartbeat, close = store.heartbeat, store.close

        def watched_heartbeat(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() in shutting_down:  # shutdown() waits for the step
                self.release.set()
            return heartbeat(*args, **kwargs)

        def watched_close() -> None:
            self.closed_under_it = self.entered.is_set() and not self.left
            self.release.set()
            close()

        store.heartbeat = watched_heartbeat  # type: ignore[method-assign]
        store.close = watched_close  # type: ignore[method-assign]


def _runner_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and t.name.startswith("Runner-")]


def _resume_and_check(url: str, step: Step, job_id: str) -> None:
    """The next start runs the case on from its saved step: each step ran once in all."""
    with Mediator([step.flow()], runners=1, store=url) as again:
        wait_until(lambda: again.get_job(job_id).state is JobState.DONE, "the resumed case")
    assert step.runs == {"a": 1, "b": 1}


def _started(tmp_path: Path) -> tuple[Step, str, Mediator, Any, list[threading.Thread]]:
    """A Mediator on SQLite with two runners, one inside step "a" of its one case."""
    step = Step()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    before = set(threading.enumerate())
    m = Mediator([step.flow()], runners=2, store=url, poll_interval=0.05)
    handle = m.schedule("two", {})
    assert step.entered.wait(TIMEOUT)
    runners = _runner_threads(before)
    assert len(runners) == 2
    return step, url, m, handle, runners


def _shut_down_and_check(
    m: Mediator, step: Step, handle: Any, runners: list[threading.Thread], url: str
) -> None:
    """``shutdown()`` from another thread waits for the step; nothing is lost or run twice."""
    with pytest.raises(EngineStoppedError, match="admits no new jobs"):
        m.schedule("two", {})  # refused at once, not admitted to wait for ever
    answer: list[bool] = []
    stopper = threading.Thread(target=lambda: answer.append(m.shutdown(timeout=TIMEOUT)))
    step.watch(m, {stopper})
    stopper.start()
    stopper.join(TIMEOUT)
    assert not stopper.is_alive(), "shutdown() did not return"
    _check_stopped(step, handle, runners)
    assert answer == [False]  # stopped from outside: no drain
    _resume_and_check(url, step, handle.job_id)


def _check_stopped(step: Step, handle: Any, runners: list[threading.Thread]) -> None:
    assert not step.closed_under_it, "the store was closed while step 'a' ran"
    with pytest.raises(EngineStoppedError, match="stopped before the case ended"):
        handle.result(timeout=TIMEOUT)
    for thread in runners:  # the runners' threads end with their steps
        thread.join(TIMEOUT)
        assert not thread.is_alive(), thread.name
    assert pykka.ActorRegistry.get_all() == []


def test_shutdown_after_the_scheduler_was_stopped_waits_for_the_running_step(
    tmp_path: Path,
) -> None:
    """Before, ``shutdown()`` found no runner and closed the store under step "a" at once.

    The step's save was refused, and "a" ran a second time at the next start.
    """
    step, url, m, handle, runners = _started(tmp_path)
    m.scheduler.stop(block=True, timeout=TIMEOUT)
    _shut_down_and_check(m, step, handle, runners, url)


def test_shutdown_after_stop_all_waits_for_the_running_step(tmp_path: Path) -> None:
    """``stop_all(block=False)`` (as an actor of the application would call it) returns at once.

    The runner inside step "a" was still running it when ``shutdown()`` closed the store.
    """
    step, url, m, handle, runners = _started(tmp_path)
    for stopping in pykka.ActorRegistry.stop_all(block=False):
        assert isinstance(stopping, pykka.Future)
    _shut_down_and_check(m, step, handle, runners, url)


@pytest.mark.parametrize("which", ["idle", "busy"])
def test_a_runner_stopped_from_outside_stops_the_whole_engine(tmp_path: Path, which: str) -> None:
    """Stopping one runner's ref stops the engine, as ``shutdown(drain=False)`` does.

    Before, the Scheduler went on admitting cases and handing them to the stopped runner,
    while the other runners, told to stop between steps, ran none: the cases admitted
    never ran, and their handles waited for ever.
    """
    step, url, m, handle, runners = _started(tmp_path)
    ((busy, _job),) = m._engine.channel.running.values()
    refs = pykka.ActorRegistry.get_by_class(Runner)
    refs[busy if which == "busy" else 1 - busy].stop(block=False)
    _shut_down_and_check(m, step, handle, runners, url)


def test_leaving_the_with_block_after_the_scheduler_was_stopped_waits_for_the_step(
    tmp_path: Path,
) -> None:
    """``__exit__`` is a ``shutdown()``: it too closed the store under the running step."""
    step, url, m, handle, runners = _started(tmp_path)
    with m:
        m.scheduler.stop(block=True, timeout=TIMEOUT)
        with pytest.raises(EngineStoppedError, match="admits no new jobs"):
            m.schedule("two", {})
        step.watch(m, {threading.current_thread()})
    _check_stopped(step, handle, runners)
    _resume_and_check(url, step, handle.job_id)


def test_a_drain_the_scheduler_was_stopped_under_is_not_reported_drained(tmp_path: Path) -> None:
    """The stopping Scheduler answers the drain it was asked: ``shutdown()`` said ``True``.

    The case was not drained (its step was still running, and the case did not end).
    """
    step, url, m, handle, runners = _started(tmp_path)
    answer: list[bool] = []
    stopper = threading.Thread(target=lambda: answer.append(m.shutdown(timeout=TIMEOUT)))
    step.watch(m, {stopper})
    stopper.start()
    wait_until(lambda: m._engine.channel.drain_requested, "the Scheduler to take the drain")
    m.scheduler.stop(block=True, timeout=TIMEOUT)
    stopper.join(TIMEOUT)
    assert not stopper.is_alive(), "shutdown() did not return"
    _check_stopped(step, handle, runners)
    assert answer == [False]
    _resume_and_check(url, step, handle.job_id)


def test_a_step_outliving_the_timeout_after_an_outside_stop_is_named_and_runs_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``timeout`` bounds the wait for the step, as in any shutdown: the warning names it."""
    step, url, m, handle, runners = _started(tmp_path)
    ((busy, _job),) = m._engine.channel.running.values()
    m.scheduler.stop(block=True, timeout=TIMEOUT)
    try:
        assert m.shutdown(timeout=0.2) is False  # the step is still inside "a"
    finally:
        step.release.set()
    assert f"runner {busy} (job {handle.job_id} at 'a') still running a step" in caplog.text
    for thread in runners:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), thread.name
    with Mediator([step.flow()], runners=1, store=url) as again:
        wait_until(lambda: again.get_job(handle.job_id).state is JobState.DONE, "the resume")
    assert step.runs == {"a": 2, "b": 1}  # its save was refused: "a" ran again, as documented
