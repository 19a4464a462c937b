"""The engine's step hook under a harness: each step observed, crashed or stopped.

A Runner calls its ``step_hook`` just before each step, inside its delivery. Under a
harness that is where a planned crash fires (or is armed, to fire later in the step),
where the chooser may let others act first (the choice point between steps), and where
a loop that never waits is stopped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors.testing._errors import InjectedCrash
from actors.testing._trace import step_ran

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors._job import JobRecord
    from actors.testing._clock import VirtualClock
    from actors.testing._crashpoints import CrashPoints
    from actors.testing._fault_injector import FaultInjector
    from actors.testing._monitor import Monitor
    from actors.testing._trace import Ran

__all__ = ["SpinError", "StepHook"]


class SpinError(BaseException):
    """A runner's delivery ran past the step budget (the harness turns it into ``Livelock``)."""

    keeps_actors = True
    """The harness's own stop: the actors stay, so the report can show who held what."""


class StepHook:
    """The engine's ``step_hook`` under a harness: observe each step, crash, stop a spin.

    Called by a Runner just before each step, inside its delivery: checks that must not
    look like a crash there are only recorded (see ``Monitor.step``).
    """

    def __init__(
        self,
        faults: FaultInjector,
        monitor: Monitor,
        record: Callable[[str, str, str | None, str], None],
        cap: int,
        points: CrashPoints,
    ) -> None:
        self.faults = faults
        self.points = points
        self.monitor = monitor
        self.record = record
        self.cap = cap
        """Steps one delivery may run before it counts as a livelock."""
        self.delivery_steps = 0
        self.ran: list[Ran] = []
        """Steps the delivery under way ran, as the trace lists them (``step_ran``)."""
        self.clock: VirtualClock | None = None
        """The harness's clock, which a ``SlowStep`` moves."""
        self.between: Callable[[int, JobRecord, Any], bool] | None = None
        """Called before each step a runner runs: the harness's choice point there.

        Returns whether the runner now stops before the step (a ``StopJob`` came for it).
        """

    def __call__(self, runner: int, job: JobRecord, step: Any) -> bool:
        """Before ``runner`` runs ``step`` of ``job``; whether it stops before the step."""
        self.delivery_steps += 1
        if self.delivery_steps > self.cap:
            # A loop without a parking step never leaves the runner's delivery; stop it
            # with a BaseException, which pykka does not take for an actor's failure.
            msg = (
                f"runner {runner} ran {self.delivery_steps - 1} steps of job {job.id} in one "
                f"delivery (at {step.name!r}): a loop that never waits or splits?"
            )
            raise SpinError(msg)
        stopping = False
        if self.between is not None:
            # The thread could be switched out here, or the step be slow (a branch's only
            # step included): let the chooser run others, and move the clock, first.
            stopping = bool(self.between(runner, job, step))
        crash = self.faults.before_step(runner)
        seconds = self.faults.slow_step() if self.faults.plan.slow_steps else None
        if seconds is not None and self.clock is not None:
            # A slow step: its time passes as it runs. Counted here (after the choice
            # point, whose nested steps count first), as crashes are.
            self.clock.skip(seconds)
            detail = f"{step.name!r} (step #{self.faults.steps}) takes {seconds:g} s"
            self.record(
                f"runner-{runner}", "slow step", job.id, f"{detail}: t={self.clock.now():g}"
            )
        if crash is not None and crash.point == "in_send":
            # The step runs: the runner freezes later, in the send of its next request.
            self.points.arm_send(runner, crash)
            crash = None
        self.monitor.step(runner, job, step, crashing=crash is not None)
        # The trace lists the steps the delivery ran: not one the runner stops before
        # (a cancel that came meanwhile), dies before, or stalls in (its task runs when
        # the stalled worker wakes, an entry of its own).
        if not stopping and (crash is None or crash.point in ("before_save", "in_group")):
            self.ran.append(step_ran(job, step))
        if crash is None:
            return stopping
        if crash.point == "before_save":
            self.points.arm_unsaved(runner, job, step, crash)
            return stopping
        if crash.point == "in_group":
            self.points.arm_group(crash)
            return stopping
        self.monitor.crashed(runner, job, job.step)
        if crash.point == "stalled":
            self.points.stalled(runner, job, step)
            action = "stalled"
        else:
            action = "lease-expired" if crash.lease else "crash"
        where = f"before {step.name!r} (step #{crash.at_step}){self.points.lease_lapses(crash)}"
        self.record(f"runner-{runner}", action, job.id, where)
        msg = f"injected: runner {runner} {action} before step {step.name!r} of job {job.id}"
        raise InjectedCrash(msg)
