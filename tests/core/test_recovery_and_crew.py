"""Recovery's decisions and the crew's routing, with no actor: fakes stand in for both ends.

Recovery takes back the jobs of workflows this worker serves and leaves the others (and
logs them once); it resumes a job from its saved step or faults it when that step is
gone; a slice that could not be stored faults its jobs only when it would fail the same
way again. The crew tells a ready job straight to an idle runner, hands admitted jobs to
idle runners, and counts reports for the flow control.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pykka
import pytest
from records import record

from actors import Sequential, Workflow
from actors import messages as m
from actors._admission import AdmissionGate, FullMode
from actors._channel import WorkChannel
from actors._crew import Crew
from actors._errors import CodecError, JobNotFoundError, StoreError, UnknownWorkflowError
from actors._job import JobRecord, JobState
from actors._recovery import Fault, Recovery, Resume

WF = Workflow("w", [Sequential("a", lambda d: d, next="b"), Sequential("b", lambda d: d)], "a")


@dataclass
class Reads:
    """The store as recovery reads it."""

    rows: dict[str, JobRecord] = field(default_factory=dict)
    restored: list[str] = field(default_factory=list)

    def load(self, job_id: str) -> JobRecord | None:
        return self.rows.get(job_id)

    def workflow(self, name: str, version: int) -> Workflow:
        if (name, version) != WF.key:
            raise UnknownWorkflowError(f"no workflow {name!r} version {version}")
        return WF

    def cannot_store(self, job: JobRecord, error: BaseException) -> str:
        self.restored.append(job.id)
        return f"step {job.step!r}: data cannot be stored: {error}"


def test_only_jobs_of_served_workflows_are_taken_and_the_others_are_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recovery = Recovery([WF.key])
    mine, other = record("j1"), record("j2", workflow="x")
    with caplog.at_level(logging.WARNING, logger="actors"):
        assert recovery.served([mine, other]) == [mine]
        assert recovery.served([other]) == []
    assert sum("wait for a worker that serves it" in r.message for r in caplog.records) == 1


def test_a_job_resumes_from_its_step_or_faults_when_the_step_is_gone() -> None:
    reads = Reads()
    resume = Recovery.resume(record("j1", step="b"), reads)
    assert isinstance(resume, Resume)
    assert set(resume.steps) == {"a", "b"}
    gone = Recovery.resume(record("j2", step="zz"), reads)
    assert isinstance(gone, Fault)
    assert gone.why.startswith("cannot resume job j2")
    unknown = Recovery.resume(record("j3", version=9), reads)
    assert isinstance(unknown, Fault)
    assert "version 9" in unknown.why


def test_an_unstored_slice_faults_only_when_running_it_again_would_fail_the_same_way() -> None:
    reads = Reads()
    job = record("p.0", parent_id="p", case_id="p")
    codec = Recovery.unstored(job, CodecError("bad value"), reads, lost=False)
    assert isinstance(codec, Fault)
    assert "data cannot be stored" in codec.why
    orphan = Recovery.unstored(job, JobNotFoundError("p"), reads, lost=False)
    assert isinstance(orphan, Fault)
    assert "missing from the store" in orphan.why
    assert Recovery.unstored(job, StoreError("disk full"), reads, lost=False) is None
    assert Recovery.unstored(job, CodecError("bad"), reads, lost=True) is None  # not ours now


def test_a_job_whose_work_was_lost_reloads_as_saved_keeping_a_pending_cancel() -> None:
    saved = record("j1", step="a")
    reads = Reads(rows={"j1": saved})
    again = Recovery.reload(
        record("j1", step="b"), "its runner failed", reads, lost=False, cancel=True
    )
    assert again is saved
    assert saved.cancel_requested
    missing = Recovery.reload(record("j9"), "its runner failed", reads, lost=False, cancel=False)
    assert isinstance(missing, Fault)
    assert missing.why == "its runner failed and no saved state exists"
    assert Recovery.reload(record("j1"), "x", reads, lost=True, cancel=False) is None


@dataclass
class FakeRunner:
    index: int
    told: list[Any] = field(default_factory=list)
    stopped: bool = False

    def tell(self, message: Any) -> None:
        self.told.append(message)

    def stop(self, *, block: bool) -> None:
        self.stopped = True


def test_the_crew_routes_ready_and_admitted_jobs_to_idle_runners() -> None:
    gate = AdmissionGate(4, FullMode.BACKPRESSURE)
    channel = WorkChannel(gate, 2)
    started: list[FakeRunner] = []

    def start(index: int) -> FakeRunner:
        started.append(FakeRunner(index))
        return started[-1]

    crew = Crew(channel, start, 2)
    crew.start()
    assert [r.index for r in crew.refs] == [0, 1]
    assert channel.take(0) is None  # runner 0 waits idle
    job = record("j1")
    crew.ready(job)
    assert crew.refs[0].told == [m.RunJob(job)]  # straight to the idle runner
    assert channel.take(1) is None  # runner 1 waits idle too
    queued = record("q1")
    gate.reserve(block=False)
    gate.commit(queued)
    crew.admitted()
    assert crew.refs[1].told == [m.RunJob(queued)]
    crew.failed(1, queued)
    crew.restart(1)
    assert crew.refs[1] is started[-1]
    assert len(started) == 3
    crew.stop()
    assert all(r.stopped for r in crew.refs)
    assert not crew.reported()  # nothing was holding admission back


def test_the_channel_check_catches_a_runner_with_two_jobs_idle_and_running_or_a_stale_job() -> None:
    def channel_running(*held: tuple[str, int]) -> WorkChannel:
        channel = WorkChannel(AdmissionGate(4, FullMode.BACKPRESSURE), 2)
        for job_id, runner in held:
            job = record(job_id)
            job.state = JobState.RUNNING
            channel.running[job_id] = (runner, job)
        return channel

    channel_running(("j1", 0), ("j2", 1))._check_invariants()  # consistent: passes
    with pytest.raises(AssertionError, match="a runner holds two jobs"):
        channel_running(("j1", 0), ("j2", 0))._check_invariants()
    idle = channel_running(("j1", 0))
    idle._idle.append(0)
    with pytest.raises(AssertionError, match="both idle and running"):
        idle._check_invariants()
    stale = channel_running(("j1", 1))
    stale.running["j1"][1].state = JobState.WAITING
    with pytest.raises(AssertionError, match="running job j1 is"):
        stale._check_invariants()


def _delivering_scheduler(done: list[str]) -> tuple[Any, JobRecord]:
    """A Scheduler stand-in whose event delivery readies job o1 for its one idle runner.

    What the runner is told is appended to ``done``.
    """
    from actors._outcomes import EventOutcome

    class Runner(FakeRunner):
        def tell(self, message: Any) -> None:
            done.append(f"runner told {type(message).__name__}")

    channel = WorkChannel(AdmissionGate(4, FullMode.BACKPRESSURE), 1)
    crew = Crew(channel, Runner, 1)
    crew.start()
    assert channel.take(0) is None  # the runner waits idle
    job = record("o1")

    class Scheduler:
        _crew = crew

        def _on_event(self, msg: m.DeliverEvent) -> Any:
            crew.ready(job)  # as delivering it does
            return EventOutcome.DELIVERED

    return Scheduler(), job


def test_an_operators_event_is_in_the_history_before_the_job_it_readied_reaches_a_runner() -> None:
    # The worker delivers the event, then records the action: the job must not reach a
    # runner in between, or the step it runs could be stored ahead of the action.
    from actors._requests import serve_requests
    from actors.stores._admin_types import Request

    done: list[str] = []  # what happened, in order
    scheduler, job = _delivering_scheduler(done)

    class Store:
        def take_requests(self, owner: str, now: float) -> list[Request]:
            return [Request(1, "o1", "o1", "event", ["o1/ask", None, False], "alice", now)]

        def load(self, job_id: str) -> JobRecord:
            return job

        def append_history(self, rows: list[Any]) -> None:
            done.append(f"history {rows[0].action}")

        def finish_request(self, request_id: int, outcome: str, at: float) -> None:
            done.append(f"finished {outcome}")

    assert serve_requests(scheduler, Store(), "w1", 0.0) == 1  # type: ignore[arg-type]
    assert done == [
        "history event o1/ask (delivered, by worker)",
        "runner told RunJob",
        "finished delivered",
    ]


def test_jobs_held_back_reach_their_runner_when_the_block_fails_and_when_nested() -> None:
    told: list[str] = []

    class Runner(FakeRunner):
        def tell(self, message: Any) -> None:
            told.append(message.job.id)

    channel = WorkChannel(AdmissionGate(4, FullMode.BACKPRESSURE), 2)
    crew = Crew(channel, Runner, 2)
    crew.start()
    assert channel.take(0) is None and channel.take(1) is None  # both wait idle

    def act() -> None:
        with crew.held():
            with crew.held():
                crew.ready(record("o1"))
            assert told == []  # the outer block hands it over, not the inner one
            crew.ready(record("o2"))
            raise RuntimeError("the action failed half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        act()
    assert sorted(told) == ["o1", "o2"]  # nothing made ready is lost


def test_an_admins_event_through_its_mediator_is_recorded_before_the_job_reaches_a_runner() -> None:
    from actors._requests import act_for_mediator
    from actors.stores._admin_types import Request

    done: list[str] = []
    scheduler, job = _delivering_scheduler(done)

    class Store:
        def load(self, job_id: str) -> JobRecord:
            return job

        def append_history(self, rows: list[Any]) -> None:
            done.append(f"history {rows[0].action} by {rows[0].worker}")

    request = Request(0, "o1", "o1", "event", ["o1/ask", 1, False], "mo", 0.0)
    assert act_for_mediator(scheduler, Store(), request) == "delivered"  # type: ignore[arg-type]
    assert done == ["history event o1/ask (delivered, by mediator) by mo", "runner told RunJob"]


def test_a_job_for_a_runner_stopped_from_outside_does_not_fail_the_scheduler() -> None:
    """``pykka.ActorRegistry.stop_all()`` may stop an idle runner before the Scheduler."""

    class Stopped(FakeRunner):
        def tell(self, message: Any) -> None:
            raise pykka.ActorDeadError("Runner not found")

    channel = WorkChannel(AdmissionGate(4, FullMode.BACKPRESSURE), 1)
    crew = Crew(channel, Stopped, 1)
    crew.start()
    assert channel.take(0) is None  # idle when it was stopped
    crew.ready(record("j1"))  # no ActorDeadError


def test_a_reloaded_job_with_a_pending_cancel_records_the_cancel_not_its_retrys_failure() -> None:
    retrying = record("j1", step="a")
    retrying.attempt, retrying.error = 2, "step 'a': ValueError: boom (attempt 1)"
    reads = Reads(rows={"j1": retrying})
    again = Recovery.reload(
        record("j1", step="a"), "its runner failed", reads, lost=False, cancel=True
    )
    assert again is retrying
    assert (retrying.cancel_requested, retrying.error) == (True, "cancelled")
    kept = record("j2", step="a")
    kept.error = "step 'a': ValueError: boom (attempt 1)"
    reads = Reads(rows={"j2": kept})
    assert Recovery.reload(record("j2"), "x", reads, lost=False, cancel=False) is kept
    assert (kept.cancel_requested, kept.error) == (False, "step 'a': ValueError: boom (attempt 1)")
