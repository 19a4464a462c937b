"""``Scenario``: a generated workflow, a configuration, cases and faults, played under a Harness."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from actors._admission import FullMode
from actors._errors import MailboxFull
from actors._job import JobState
from actors._outcomes import CancelOutcome
from actors.testing._faults import FaultPlan
from actors.testing._generated import GeneratedWorkflow
from actors.testing._harness import Harness

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from actors.testing._external import Submission
    from actors.testing._future import DeterministicFuture

__all__ = ["Case", "EngineConfig", "Scenario"]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """How the simulated engine is configured."""

    runners: int = 2
    capacity: int = 4
    full_mode: FullMode = FullMode.BACKPRESSURE
    runner_batch: int = 1


@dataclass(frozen=True, slots=True)
class Case:
    """One case of a scenario: its input, when it is scheduled, and maybe when it is cancelled."""

    flags: tuple[bool, ...] = ()
    at: int = 0
    """Harness action after which its producer calls ``schedule()``."""
    cancel_at: int | None = None
    """Harness action after which it is cancelled (if it was admitted by then)."""


@dataclass(frozen=True)
class Scenario:
    """A generated workflow, an engine configuration, cases and faults: one simulated run."""

    workflow: GeneratedWorkflow
    config: EngineConfig = field(default_factory=EngineConfig)
    cases: tuple[Case, ...] = (Case(),)
    faults: FaultPlan = field(default_factory=FaultPlan)

    def play(
        self,
        *,
        seed: int | None = None,
        data: Any = None,
        substitutions: Mapping[type, type] | None = None,
        max_steps: int = 20_000,
    ) -> Harness:
        """Run it under a ``Harness`` and check every case; returns the (closed) harness.

        Raises what the harness raises (``Deadlock``, ``Livelock``, ``InvariantViolation``)
        and ``InvariantViolation`` when a case ends in a state it should not, takes a path
        the workflow does not allow, or a step runs twice (checked when every planned crash
        is a ``"before_step"`` one; the other points rerun a step by design).
        """
        wf, cfg = self.workflow, self.config
        harness = Harness(
            [wf], seed=seed, data=data, runners=cfg.runners, capacity=cfg.capacity,
            full_mode=cfg.full_mode, runner_batch=cfg.runner_batch, faults=self.faults,
            substitutions=substitutions, max_steps=max_steps,
        )  # fmt: skip
        wf.journal.clear()
        wf.requests.clear()
        wf.responder = lambda cid: harness.receive_event(cid, {"reply": cid})
        subs: dict[int, Submission] = {}
        cancelled: dict[int, DeterministicFuture[CancelOutcome]] = {}
        try:
            for i, case in enumerate(self.cases):
                harness.at(case.at, _scheduler(harness, wf, case, i, subs))
                if case.cancel_at is not None:
                    harness.at(case.cancel_at, _canceller(harness, i, subs, cancelled))
            harness.finish()
            self._verify(harness, subs, cancelled)
        finally:
            wf.responder = None
            harness.close()
        return harness

    def _verify(
        self,
        harness: Harness,
        subs: dict[int, Submission],
        cancelled: dict[int, DeterministicFuture[CancelOutcome]],
    ) -> None:
        problems: list[str] = []
        mode = self.config.full_mode
        for i, case in enumerate(self.cases):
            sub = subs[i]
            if sub.refused is not None:
                if not (mode is FullMode.DROP_NEWEST and isinstance(sub.refused, MailboxFull)):
                    problems.append(f"case {i} refused: {sub.refused!r}")
                continue
            job = sub.result()
            if i in cancelled and cancelled[i].get() is CancelOutcome.NOT_FOUND:
                problems.append(f"cancel of case {job.id} answered not_found; it ended {job.state}")
            if job.state is JobState.DONE:
                problems += self.workflow.problems(job, case.flags)
            elif job.state is JobState.SHED and mode is not FullMode.DROP_OLDEST:
                problems.append(f"case {job.id} SHED under {mode.name}")
            elif job.state is JobState.CANCELLED and i not in cancelled:
                problems.append(f"case {job.id} CANCELLED but nobody cancelled it: {job.error}")
            elif job.state is JobState.FAULTED:
                problems.append(f"case {job.id} FAULTED: {job.error}")
        if not any(c.point != "before_step" for c in self.faults.crashes):
            # Other crash points rerun a step by design (at least once): only a crash
            # between two steps, on the memory store a scenario runs on (every save
            # stored as it is made), promises that no step runs twice.
            problems += [f"a step ran twice: {effect}" for effect in self.workflow.repeated()]
        if problems:
            harness.fail("; ".join(problems))

    def __repr__(self) -> str:
        cfg = self.config
        cases = ", ".join(
            f"{list(c.flags)}@{c.at}"
            + (f" cancel@{c.cancel_at}" if c.cancel_at is not None else "")
            for c in self.cases
        )
        return (
            f"Scenario({self.workflow!r}, runners={cfg.runners}, capacity={cfg.capacity}, "
            f"{cfg.full_mode.name}, batch={cfg.runner_batch}, cases=[{cases}], "
            f"faults={self.faults.describe()})"
        )


def _scheduler(
    harness: Harness, wf: GeneratedWorkflow, case: Case, i: int, subs: dict[int, Submission]
) -> Callable[[], None]:
    def schedule() -> None:
        subs[i] = harness.schedule(wf.name, wf.data(case.flags))

    return schedule


def _canceller(
    harness: Harness,
    i: int,
    subs: dict[int, Submission],
    cancelled: dict[int, DeterministicFuture[CancelOutcome]],
) -> Callable[[], None]:
    def cancel() -> None:
        sub = subs.get(i)
        if sub is not None and sub.job_id is not None:
            cancelled[i] = harness.cancel(sub.job_id)

    return cancel
