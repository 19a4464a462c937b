"""The Scheduler's runners, and the work it hands them through the work channel.

A plain object owned by the Scheduler. It starts the runner actors (through a factory
the Scheduler gives it, so a test can count tells on fakes instead), restarts one that
failed, stops them all, and routes work: a ready job into the channel (told to an idle
runner at once if one waits), admitted jobs to idle runners, and the flow-control
tally of runners' reports, which holds admission back while reports pile up.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

import pykka

from actors import messages as m

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from actors._channel import WorkChannel
    from actors._job import JobRecord
    from actors._runner_roster import RunnerRoster

__all__ = ["JOB_REPORTS", "REPORTS", "Crew"]

# Messages a runner sends about the job it ran: counted for the runner/Scheduler flow control.
REPORTS = frozenset(
    {
        m.SpawnBranch,
        m.BranchArrived,
        m.JobParked,
        m.JobEnded,
        m.JobSendFailed,
        m.CaseLost,
        m.SliceUnsaved,
        m.LeaseUnvouched,
    }
)
# Reports about one job of a case: ignored once this worker has lost the case.
JOB_REPORTS = frozenset({m.SpawnBranch, m.BranchArrived, m.JobParked, m.JobEnded, m.LeaseUnvouched})


class _Runner(Protocol):
    actor_stopped: threading.Event

    def tell(self, message: Any) -> None: ...

    def stop(self, *, block: bool) -> Any: ...


class Crew:
    """Runner actors by index, and the work channel they pull from."""

    def __init__(
        self,
        channel: WorkChannel,
        start: Callable[[int], _Runner],
        runners: int,
        out: set[str] | None = None,
        roster: RunnerRoster | None = None,
    ) -> None:
        self._channel = channel
        self._start = start
        # The engine's record of the runners started, where a shutdown finds them even
        # once the Scheduler has stopped (stopped from outside, say).
        self._roster = roster
        self._count = runners
        # Ids of the jobs handed to the channel (the case book's): their records are not
        # the Scheduler's until a report or a withdrawal brings them back.
        self._out = out if out is not None else set()
        self.refs: list[_Runner] = []
        # While ``held()``: the RunJob tells ``ready`` would have sent, in order.
        self._held: list[tuple[int, JobRecord]] | None = None

    def start(self) -> None:
        """Start every runner."""
        self.refs = [self._started(index) for index in range(self._count)]

    def _started(self, index: int) -> _Runner:
        ref = self._start(index)
        if self._roster is not None:
            self._roster.add(index, ref)
        return ref

    def failed(self, index: int, job: JobRecord | None) -> None:
        """Runner ``index`` failed (with ``job`` in hand): it holds nothing any more."""
        self._channel.forget_runner(index)
        if job is not None:
            self._channel.done(job, index)

    def restart(self, index: int) -> None:
        """Start runner ``index`` again, in the place of the one that failed."""
        self.refs[index] = self._started(index)

    def stop(self) -> None:
        """Ask every runner to stop after its current delivery."""
        for ref in self.refs:
            ref.stop(block=False)

    def wait_stopped(self, timeout: float) -> None:
        """Wait (``timeout`` seconds at most, for all) until every runner asked has stopped.

        Threaded runners only; a runtime whose refs have no ``actor_stopped`` is not waited on.
        """
        deadline = time.monotonic() + timeout
        for ref in self.refs:
            stopped = getattr(ref, "actor_stopped", None)
            if isinstance(stopped, threading.Event):
                stopped.wait(max(0.0, deadline - time.monotonic()))

    def ready(self, job: JobRecord) -> None:
        """``job`` is ready: into the channel, or straight to a runner idle for it.

        The record is handed over: the Scheduler touches it again once it comes back.
        """
        self._out.add(job.id)
        # The runners to tell, each with the job the channel started on it: for a job
        # taken over, that may be another watched job whose turn came first.
        for runner, started in self._channel.put(job):
            if self._held is not None:
                self._held.append((runner, started))
            else:
                self._hand(runner, started)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Runners get the jobs made ready inside the block only when it ends.

        For what must be stored before a job runs again (an operator's action, in the
        job's history ahead of the step it let run).
        """
        if self._held is not None:  # inside an outer block: that one hands them over
            yield
            return
        self._held = []
        try:
            yield
        finally:
            held, self._held = self._held, None
            for runner, job in held:
                self._hand(runner, job)

    def admitted(self) -> None:
        """Hand admitted jobs to idle runners."""
        for runner, job in self._channel.assign_admitted():
            self._hand(runner, job)

    def _hand(self, runner: int, job: JobRecord) -> None:
        """Tell runner ``runner`` to run ``job``.

        A runner idle in the channel is dead only when it was stopped from outside
        (``pykka.ActorRegistry.stop_all()``), and then the whole engine is stopping: the
        job stays as last saved, for the next start, and the Scheduler must not fail.
        """
        with contextlib.suppress(pykka.ActorDeadError):
            self.refs[runner].tell(m.RunJob(job))

    def reported(self) -> bool:
        """A runner's report was handled; whether admission may go on (backlog shrank)."""
        channel = self._channel
        channel.handled += 1
        return channel.wants_admission()

    def stop_job(self, job_id: str, why: str) -> None:
        """Tell the runner that holds ``job_id``, if one does, to stop it before its next step."""
        runner = self._channel.runner_of(job_id)
        if runner is not None:  # else its report is on the way to the Scheduler already
            with contextlib.suppress(pykka.ActorDeadError):  # its failure report is, then
                self.refs[runner].tell(m.StopJob(job_id, why))

    def withdraw(self, job: JobRecord) -> bool:
        """Take ready ``job`` back from the channel; ``False`` if a runner has it already."""
        return self._channel.withdraw(job)

    def quiet(self) -> bool:
        """Whether no job is queued, ready or running."""
        return self._channel.quiet()
