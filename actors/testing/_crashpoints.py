"""Crash points inside a step: after the task ran, before the save; a worker stalled too long.

A runner can crash after its step's task ran and before its save is stored, and a worker
can stall past its lease, whose step then runs again when it wakes.

``CrashPoints`` wraps the three store writes a runner's step ends with (``save``,
``save_split``, ``record_arrival``) on the store instance the harness runs, only once a
plan or a test asks for such a crash. A write by a runner armed to crash raises
``InjectedCrash`` before anything is written (with ``commit="slice"``, before the slice
is committed), so the job resumes from what the store holds and its task runs again.

A stalled worker leaves a ``Ghost``: a copy of the job as that worker had it. When the
chooser wakes it, the user's code of its step runs once more on that copy (a
``Sequential``'s task; the ``on_reply``, ``on_event`` or ``on_fault`` of a wait resumed
with its answer; a join's ``merge``), and its save is dropped, as the store fences a save
from a worker that no longer holds the case's lease. A ``RequestReaction``'s ``send`` is
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

from actors._job import JobRecord
from actors._steps import DeferredChoice, Discriminator, RequestReaction, Sequential, Synchronize
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
        # Only a step that runs user code runs again late: a task, a wait's handler of
        # the answer it resumes with, or a join's merge. Not a request's send: the engine
        # sends once its park is stored, and a stalled worker's park is fenced.
        if isinstance(step, Sequential) or _late_code(job, step) is not None:
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
            self._run_late(ghost)
        finally:
            set_delivering(outer)
        self.record(f"runner-{ghost.runner}", "save fenced", job.id, "the lease is gone")

    def _run_late(self, ghost: Ghost) -> None:
        """The stalled worker's step runs its user code: a task, a handler or a merge."""
        job, step = ghost.job, ghost.step
        handler = _late_code(job, step)
        what = handler[0] if handler else f"runs {step.name!r} late"
        self.record(f"runner-{ghost.runner}", "wakes", job.id, what)
        wf = self._workflow(job.workflow, job.version)
        try:
            if handler is not None:
                handler[1](job.data, *handler[2])
            elif step.name in wf.context_steps:
                step.task(job.data, job.context())
            else:
                step.task(job.data)
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"
            self.record(f"runner-{ghost.runner}", "task raised", job.id, detail)


def _late_code(job: JobRecord, step: Any) -> tuple[str, Callable[..., Any], tuple[Any, ...]] | None:
    """``(trace text, user code, its arguments after the data)`` a stalled step reruns.

    A join's ``merge`` of the branches that released it, or a resumed wait's handler.
    """
    if isinstance(step, Synchronize | Discriminator):
        if step.merge is None or job.event is None or job.event[0] != "join":
            return None  # the default merge has no effect outside the data
        datas = [job.arrivals[i] for i in sorted(job.arrivals)]
        return f"runs merge of {step.name!r} late", step.merge, (datas,)
    handler = _handler(job, step)
    if handler is None:
        return None
    said, fn, args = handler
    return f"runs {step.name!r} late ({said})", fn, args


def _handler(job: JobRecord, step: Any) -> tuple[str, Callable[..., Any], tuple[Any, ...]] | None:
    """``(name, handler, its arguments after the data)`` a resumed wait runs, if any.

    As the interpreter applies the answer a ``RequestReaction`` or ``DeferredChoice``
    resumes with: a reply, an event or a fault, never a timeout (whose step runs no code
    of the user's here).
    """
    if job.event is None or job.event[0] not in ("reply", "fault"):
        return None
    kind, name, payload = job.event
    fn: Callable[..., Any] | None
    args: tuple[Any, ...]
    if isinstance(step, RequestReaction):
        said, args = ("on_fault" if kind == "fault" else "on_reply"), (payload,)
    elif isinstance(step, DeferredChoice):
        said, args = ("on_fault" if kind == "fault" else "on_event"), (name, payload)
    else:
        return None
    fn = getattr(step, said)
    return None if fn is None else (said, fn, args)
