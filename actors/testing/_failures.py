"""How a simulated run fails: the report a ``Harness`` raises, with seed, config and trace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from actors._errors import ActorsError
from actors.testing._errors import Deadlock, HarnessError, InvariantViolation
from actors.testing._report import describe_failure, state_report

if TYPE_CHECKING:
    from actors._job import Job
    from actors.testing._clock import VirtualClock
    from actors.testing._crashpoints import CrashPoints
    from actors.testing._external import Submission
    from actors.testing._fault_injector import FaultInjector
    from actors.testing._faults import FaultPlan
    from actors.testing._probe import Probe
    from actors.testing._report import TraceEntry
    from actors.testing._runtime import DeterministicRuntime

__all__ = ["Failures"]

_LIVELOCK_WINDOW = 200  # actions a livelock report summarises: who kept acting, on what


class Failures:
    """The failure reports of a ``Harness`` (a mixin: the harness supplies the run)."""

    runtime: DeterministicRuntime
    probe: Probe
    clock: VirtualClock
    submissions: list[Submission]
    seed: int | None
    plan: FaultPlan
    faults: FaultInjector
    points: CrashPoints
    failure: BaseException | None
    _options_kept: dict[str, Any]

    @property
    def trace(self) -> list[TraceEntry]:
        raise NotImplementedError

    def fail(self, message: str) -> NoReturn:
        """Fail the run with your own check's ``message``: always raises ``InvariantViolation``.

        The error's message is ``message`` followed by what every harness failure carries:
        the seed (or choices) that replays the run, its config, the engine's state and the
        trace tail. ``InvariantViolation`` is both a ``HarnessError`` and an
        ``AssertionError``: ``pytest.raises(AssertionError)`` catches it too.

        Raises:
            InvariantViolation: always.
        """
        __tracebackhide__ = True  # pytest shows the caller's check, not the harness's code
        self._fail(InvariantViolation, str(message))

    def report(self) -> str:
        """A readable dump of the engine's state: jobs, actors, gate, parked jobs, clock."""
        refused = [f"{s.name} ({type(s.refused).__name__})" for s in self.submissions if s.refused]
        report = state_report(self.probe, self.clock, refused)
        unfired = self.faults.unfired() + self.points.unfired_sends()
        if unfired:
            taken = f"{self.faults.steps} step(s) run so far"
            report = f"{report}\nfaults not reached ({taken}): {'; '.join(unfired)}"
        writer = getattr(self, "writer", None)
        if writer is None:
            return report
        held = ", ".join(sorted(writer.holds())) or "no job"
        return f"{report}\nstore writer: {len(writer.queued)} slice(s) not yet stored ({held})"

    # -- failures ---------------------------------------------------------------------------------

    def _stuck(self) -> str:
        return self.probe.stuck()

    def _unsettled(self, actions: str) -> str:
        """A livelock's headline: who kept acting, on which jobs, in the last actions."""
        recent = self.trace[-_LIVELOCK_WINDOW:]
        actors: dict[str, int] = {}
        jobs: dict[str, int] = {}
        for entry in recent:
            actors[entry.actor] = actors.get(entry.actor, 0) + 1
            if entry.job is not None:
                jobs[entry.job] = jobs.get(entry.job, 0) + 1
        busiest = sorted(actors.items(), key=lambda kv: -kv[1])
        who = ", ".join(f"{name} ({n})" for name, n in busiest)
        which = ", ".join(sorted(jobs)) or "none"
        return (
            f"{actions} and the run has not settled; in the last {len(recent)} actions, "
            f"actions by actor: {who}; jobs involved: {which}"
        )

    def _foreign(self, what: str) -> BaseException:
        error = HarnessError(self._describe_failure(what, with_state=True))
        self.failure = error
        return error

    def _stalled(self, what: str) -> BaseException:
        cells = self.runtime.delivering
        waiting = " -> ".join(
            c.name if c.paused_at is None else f"{c.name} (paused before {c.paused_at!r})"
            for c in cells
        )
        if waiting:
            what = f"{what}; waiting on replies, outermost first: {waiting}"
        if any(c.paused_at is not None for c in cells):
            # Not blocked: a thread would go on. Under the harness its delivery lies under
            # the wait, on one stack, and can only go on once that wait ends.
            what += (
                ". A runner paused between two steps waits on nothing: with threads it "
                "would go on, which the harness cannot do before the wait above it ends; if "
                "its steps would free what that wait needs, threads would not deadlock here"
            )
        message = self._describe_failure(what, with_state=True)
        error = Deadlock(message)
        self.failure = error
        return error

    def _fail(
        self, kind: type[Exception], headline: str, cause: BaseException | None = None
    ) -> NoReturn:
        __tracebackhide__ = True  # its lines say nothing the message does not
        with_state = (
            kind is not InvariantViolation or cause is None or isinstance(cause, AssertionError)
        )
        error = kind(self._describe_failure(headline, with_state=with_state))
        self.failure = error
        raise error from cause

    def check_failed(self, job: Job) -> str:
        """What a failed check of ``job``'s final snapshot is noted with: the case, the trace.

        ``MediatorMachine`` adds it to the error its ``check_result`` raised; the program
        Hypothesis prints replays the run, the trace tail shows who ran which step of it.
        """
        headline = (
            f"check_result failed on case {job.case_id} (workflow {job.workflow}, "
            f"{job.state.name}, step {job.step}); this harness run:"
        )
        return describe_failure(
            headline, None, self._options_kept, self.faults.describe(), None, self.trace
        )

    def _note_replay(self, error: BaseException) -> None:
        """Add how to replay this run to an error the scenario raised itself (a plain assert).

        The harness's own failures already say it; a scenario's ``assert`` or exception
        would name neither the seed nor the choices that reproduce it.
        """
        if error is self.failure or not isinstance(error, Exception):
            return
        note = self._describe_failure("raised in this harness run:", with_state=False)
        if note not in getattr(error, "__notes__", ()):  # a with block inside replay()
            error.add_note(note)

    def _describe_failure(self, headline: str, *, with_state: bool) -> str:
        state = None
        if with_state:
            try:
                state = self.report()
            except (ActorsError, AssertionError, LookupError, TypeError) as exc:
                state = f"(no state report: {exc!r})"  # never mask the failure itself
        return describe_failure(
            headline, self.seed, self._options_kept, self.faults.describe(), state, self.trace
        )
