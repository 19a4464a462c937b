"""Crash points inside a step: after the task ran, before the save; a worker stalled too long.

A runner can crash after its step's task ran and before its save is stored, and a worker
can stall past its lease, whose step then runs again when it wakes.

``CrashPoints`` wraps the three store writes a runner's step ends with (``save``,
``save_split``, ``record_arrival``) on the store instance the harness runs, only once a
plan or a test asks for such a crash. A write by a runner armed to crash raises
``InjectedCrash`` before anything is written (with ``commit="slice"``, before the slice
is committed), so the job resumes from what the store holds and its task runs again.

A stalled worker leaves a ``Ghost``: a copy of the job as that worker had it. When the
chooser wakes it, its step runs once more on that copy, through the engine's own
interpreter, so every piece of the user's code the step runs runs again (a
``Sequential``'s task, and its ``on_fault`` when the task raised; a choice's ``spec``; a
dynamic split's ``branches`` function; a ``Wait``'s ``duration`` function; the
``on_reply``, ``on_event`` or ``on_fault`` of a wait resumed with its answer; a join's
``merge``), and its save is dropped, as the store fences a save from a worker that no
longer holds the case's lease. A ``RequestReaction``'s ``send`` is
not run again: the engine sends only once the park is stored, and that save is fenced.

A worker frozen *inside* a ``send`` (``"in_send"``) has stored its park: the case goes
on without it (its timeout fires, another branch runs), and when the chooser wakes it,
the request is sent, once, late; a failed send is reported to the Scheduler as the
runner reports it.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from actors._interpreter import Interpreter
from actors._job import JobRecord
from actors._step_effects import End
from actors._steps import (
    DeferredChoice,
    Discriminator,
    ExclusiveChoice,
    ParallelSplit,
    RequestReaction,
    Sequential,
    Synchronize,
    Wait,
)
from actors.testing._errors import InjectedCrash
from actors.testing._foreign import delivering, set_delivering

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors._workflow import Workflow
    from actors.stores import Store
    from actors.testing._faults import Crash
    from actors.testing._monitor import Monitor
    from actors.testing._runtime import ActorCell, DeterministicRuntime
    from actors.testing._writer import ScheduledWriter

__all__ = ["CrashPoints", "Ghost"]

_WRITES = ("save", "save_split", "record_arrival")
_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(JobRecord))


@dataclass(eq=False)
class Ghost:
    """A worker that stalled past its lease at ``step`` of ``job`` and has not woken yet."""

    runner: int
    job: JobRecord
    step: Any
    wakes_from: int = 0
    """The harness action from which it may wake (sooner only when nothing else can run)."""
    send: Callable[[], None] | None = None
    """Frozen inside a request's ``send`` (``step`` is then the step's name): sends it."""

    def describe(self) -> str:
        """Who it is, for traces."""
        if self.send is not None:
            return f"runner {self.runner} (frozen in send) wakes at {self.step!r}"
        return f"runner {self.runner} (stalled) wakes at {self.step.name!r}"


class CrashPoints:
    """Crashes inside a step, and stalled workers that wake later (see the module doc)."""

    def __init__(
        self,
        store: Store,
        runtime: DeterministicRuntime,
        monitor: Monitor,
        record: Callable[[str, str, str | None, str], None],
        workflow: Callable[[str, int], Workflow],
    ) -> None:
        self._store = store
        self._runtime = runtime
        self._monitor = monitor
        self.record = record
        self._workflow = workflow
        self._unsaved: dict[ActorCell, tuple[int, JobRecord, Crash, JobRecord]] = {}
        self._in_send: dict[int, Crash] = {}
        self._wrapped = False
        self.ghosts: list[Ghost] = []
        """Stalled workers not yet woken, oldest first."""
        self.sleep: Callable[[], int] = lambda: 0
        """The action from which a worker stalling now may wake (the harness's choice)."""
        self.writer: ScheduledWriter | None = None
        """The store's writer under the harness (``commit="group"``), else ``None``."""
        self.lease = 15.0
        """The engine's lease: how long a case whose worker lost it waits to be taken over."""
        self.takeovers: list[Callable[[], Any]] = []
        """``Harness.on_takeover``'s calls: a case goes to a worker without this one's memory."""

    def lease_lapses(self, crash: Crash) -> str:
        """Let a lost lease's time pass before the case is taken over; the trace's words.

        An expired lease (``lease=True``) or a stalled worker hands the case over only once
        the lease has lapsed: the clock moves that far now, so the rerun sees the time a
        takeover does (a key built from the clock differs) and timers due meanwhile ring
        late. A runner that merely crashed is restarted at once, as pykka restarts it.
        """
        clock = self._runtime.clock
        if clock is None or not (crash.lease or crash.point == "stalled"):
            return ""
        clock.skip(self.lease)
        for forget in self.takeovers:  # the worker that takes it over never saw that memory
            forget()
        return f"; taken over at t={clock.now():g}, once its lease lapsed"

    def arm_group(self, crash: Crash) -> None:
        """Lose the group that will hold the slice the delivering runner hands over next."""
        if self.writer is None:  # refused up front; a guard for plans built by hand
            msg = f"{crash.describe()}: the store does not commit in groups"
            raise ValueError(msg)
        self.writer.doom(self._runtime.delivering[-1], crash)

    # -- after the task, before the save ---------------------------------------------------

    def arm_unsaved(self, runner: int, job: JobRecord, step: Any, crash: Crash) -> None:
        """Crash ``runner`` at its next store write: ``step`` of ``job`` ran, unsaved."""
        if not self._wrapped:
            self._wrap()
        cell = self._runtime.delivering[-1]
        # The runner's record is the last save here (right before the step runs).
        self._unsaved[cell] = (runner, job, crash, copy.deepcopy(job))

    def _wrap(self) -> None:
        self._wrapped = True
        for name in _WRITES:
            original = getattr(self._store, name)
            setattr(self._store, name, self._guarded(original))

    def _guarded(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def write(*args: Any, **kwargs: Any) -> Any:
            if self._unsaved:
                self._maybe_crash()
            return original(*args, **kwargs)

        return write

    def _maybe_crash(self) -> None:
        cells = self._runtime.delivering
        if not cells or cells[-1] not in self._unsaved:
            return
        runner, job, crash, before = self._unsaved.pop(cells[-1])
        job_id = job.id
        self._monitor.crashed_unsaved(runner, job_id, (before.step, before.data))
        # What the step changed in the runner's memory dies with it: the record, which
        # the work channel still lists as running until the Scheduler hears of the
        # crash, is as it was when the step began.
        for name in _RECORD_FIELDS:
            setattr(job, name, getattr(before, name))
        action = "lease-expired" if crash.lease else "crash"
        where = f"after step #{crash.at_step}'s task, before its save is stored"
        where += self.lease_lapses(crash)
        self.record(f"runner-{runner}", action, job_id, where)
        msg = f"injected: runner {runner} {action} {where} (job {job_id})"
        raise InjectedCrash(msg)

    # -- frozen inside a request's send ---------------------------------------------------------

    def arm_send(self, runner: int, crash: Crash) -> None:
        """Freeze ``runner`` in the ``send`` of the next request it sends."""
        self._in_send[runner] = crash

    def in_send(self, runner: int, job: JobRecord, send: Callable[[], None]) -> bool:
        """The engine's ``send_hook``: whether ``runner`` freezes here (``send`` runs later)."""
        crash = self._in_send.pop(runner, None)
        if crash is None:
            return False
        # The park is stored and the Scheduler told: the case goes on without this worker.
        name = str(job.step)
        where = f"in the send of {name!r} (from step #{crash.at_step}), its park stored"
        self.record(f"runner-{runner}", "frozen", job.id, where)
        self.ghosts.append(Ghost(runner, copy.deepcopy(job), name, self.sleep(), send))
        return True

    def unfired_sends(self) -> list[str]:
        """The ``"in_send"`` crashes armed whose runner has sent no request since."""
        return [f"runner {r}'s {c.describe()} (no request sent)" for r, c in self._in_send.items()]

    # -- stalled past the lease ---------------------------------------------------------------

    def stalled(self, runner: int, job: JobRecord, step: Any) -> None:
        """``runner`` stalls before ``step`` of ``job``; it wakes when the chooser says."""
        # Only a step that runs user code runs again late: a task, a choice's spec, a
        # dynamic split's branches, a wait's duration or handler of the answer it resumes
        # with, or a join's merge. Not a request's send: the engine sends once its park is
        # stored, and a stalled worker's park is fenced.
        if _late_code(job, step) is not None:
            self.ghosts.append(Ghost(runner, copy.deepcopy(job), step, self.sleep()))

    def wake(self, ghost: Ghost) -> None:
        """The stalled worker runs its step's user code on its own copy; its save is fenced."""
        self.ghosts.remove(ghost)
        job, step = ghost.job, ghost.step
        outer = delivering()
        set_delivering(self._runtime.foreign)  # on the woken worker's thread, no actor's
        try:
            if ghost.send is not None:
                self.record(f"runner-{ghost.runner}", "wakes", job.id, f"sends {step!r} late")
                ghost.send()  # a failed send: the engine reports it to the Scheduler
                return
            for forget in self.takeovers:  # nor did it see what the new owner did since
                forget()
            self._run_late(ghost)
        finally:
            set_delivering(outer)
        self.record(f"runner-{ghost.runner}", "save fenced", job.id, "the lease is gone")

    def _run_late(self, ghost: Ghost) -> None:
        """The stalled worker runs its step as the engine runs it, on its own copy."""
        job, step = ghost.job, ghost.step
        self.record(f"runner-{ghost.runner}", "wakes", job.id, _late_code(job, step) or "")
        wf = self._workflow(job.workflow, job.version)
        # The engine's own interpreter: every callable of the user's the step calls (a
        # failed task's on_fault too) runs again, as on the stalled thread. What it would
        # do next (save, park, split, send) is fenced: the worker no longer holds the case.
        before = job.error
        effect = Interpreter(self._store.codec).step(job, step, wf)
        # A fault, or a failed attempt a retry would answer (its error kept on the record).
        error = effect.error if isinstance(effect, End) else job.error
        if error is not None and (isinstance(effect, End) or error != before):
            self.record(f"runner-{ghost.runner}", "task raised", job.id, error)


def _late_code(job: JobRecord, step: Any) -> str | None:
    """What a stalled worker's late run of ``step`` runs, for the trace; ``None``: no code.

    A task, a choice's spec, a dynamic split's branches, a wait's duration, a join's
    ``merge`` of the branches that released it, or a resumed wait's handler.
    """
    late = f"runs {step.name!r} late"
    if isinstance(step, Sequential):
        return late
    if isinstance(step, ExclusiveChoice):
        return f"{late} (spec)"
    if isinstance(step, ParallelSplit):
        return f"{late} (branches)" if step.is_dynamic else None
    if isinstance(step, Wait):
        timer = job.event is not None and job.event[0] == "timer"
        return f"{late} (duration)" if callable(step.duration) and not timer else None
    if isinstance(step, Synchronize | Discriminator):
        if step.merge is None or job.event is None or job.event[0] != "join":
            return None  # the default merge has no effect outside the data
        return f"runs merge of {step.name!r} late"
    handler = _handler(job, step)
    return None if handler is None else f"{late} ({handler})"


def _handler(job: JobRecord, step: Any) -> str | None:
    """The name of the handler a resumed wait runs, if any.

    As the interpreter applies the answer a ``RequestReaction`` or ``DeferredChoice``
    resumes with: a reply, an event or a fault, never a timeout (whose step runs no code
    of the user's here).
    """
    if job.event is None or job.event[0] not in ("reply", "fault"):
        return None
    if not isinstance(step, RequestReaction | DeferredChoice):
        return None
    if job.event[0] == "fault":
        said = "on_fault"
    else:
        said = "on_reply" if isinstance(step, RequestReaction) else "on_event"
    return said if getattr(step, said) is not None else None
