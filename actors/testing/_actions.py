"""What a ``Harness`` can do next (its options at a choice point), and doing one of them.

Also the choice point before each step of a runner's delivery, and the outside
activity a test schedules with ``Harness.at``.
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any, NoReturn

from actors import messages as m
from actors.testing._errors import Livelock
from actors.testing._future import DeterministicFuture
from actors.testing._own_threads import OwnThreads
from actors.testing._report import describe_message
from actors.testing._runtime import STARTED
from actors.testing._step_hook import SpinError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from actors._job import JobRecord
    from actors.testing._chooser import Chooser
    from actors.testing._clock import VirtualAlarm, VirtualClock
    from actors.testing._crashpoints import CrashPoints, Ghost
    from actors.testing._event_faults import HeldEvent
    from actors.testing._fault_injector import FaultInjector
    from actors.testing._faults import FaultPlan
    from actors.testing._monitor import Monitor
    from actors.testing._probe import Probe
    from actors.testing._runtime import ActorCell, Blocker, DeterministicRuntime
    from actors.testing._step_hook import StepHook
    from actors.testing._trace import Ran
    from actors.testing._writer import ScheduledWriter

__all__ = ["Actions"]

_DELIVER, _RESUME, _RING, _EVENT, _JUMP, _WAKE, _WRITE, _CALL, _END_WAIT = range(9)
_Option = tuple[int, Any]
STALL_ACTIONS = 16  # the most actions a stalled worker may sleep (see _stall_ends)
# Simulated threads besides the actors' (see _on_own_thread): that of the calls
# ``Harness.at`` schedules and the events it releases, and the clock's.
_OUTSIDE, _CLOCK = "outside", "clock"
_PLAIN = "plain"  # a jump to the next alarm, polls included (a runner is between steps)


def _label(option: _Option) -> str:
    """Who an option would run, for a chooser that ranks actors."""
    kind, target = option
    if kind == _DELIVER:
        return str(target.name)
    if kind == _RESUME:
        return str(target.name)
    if kind == _WAKE:
        return f"runner-{target.runner} (stalled)"
    if kind == _WRITE:
        return "writer"
    return "clock" if kind in (_RING, _JUMP, _END_WAIT) else "outside"


class Actions(OwnThreads):
    """Options and actions of a ``Harness`` (a mixin: the harness supplies the run)."""

    runtime: DeterministicRuntime
    faults: FaultInjector
    plan: FaultPlan
    clock: VirtualClock
    held: list[HeldEvent]
    points: CrashPoints
    probe: Probe
    monitor: Monitor
    store: Any
    writer: ScheduledWriter | None
    actions: int
    max_steps: int
    _frozen: bool
    _depth: int
    _scheduler_ran: bool
    _hook: StepHook
    _chooser: Chooser
    _pick: Callable[[Sequence[str]], int] | None
    _at: list[tuple[int, int, Callable[[], Any]]]
    _call_error: Exception | None
    failure: BaseException | None
    _after: Callable[[], None]  # Checking's, after every action (later in the harness's bases)
    _release: Callable[[HeldEvent], None]  # EventFaults', as are held and _held_until
    _held_until: Callable[[], float | None]

    def _record(self, actor: str, action: str, job: str | None = None, detail: str = "") -> None:
        raise NotImplementedError

    def _note_steps(self, index: int, steps: list[Ran]) -> None:
        raise NotImplementedError

    def _note_outcome(self, index: int, outcome: str) -> None:
        raise NotImplementedError

    def _fail(
        self, kind: type[Exception], headline: str, cause: BaseException | None = None
    ) -> NoReturn:
        raise NotImplementedError

    def _unsettled(self, actions: str) -> str:
        raise NotImplementedError

    def _options(self, *, nested: bool = False) -> list[_Option]:
        """What could happen next; ``nested``: while a runner between two steps could go on."""
        # Runs before every action and at every choice point between steps: one pass over
        # the cells (runtime.runnable(), inlined), and the rarer sources only when set.
        options: list[_Option] = [
            (_DELIVER, c)
            for c in self.runtime.cells
            if not c.busy and c.blocker is None and (c.inbox.queue or not c.started)
        ]
        if self.plan.stalls:
            options = self._unstalled(options, nested=nested)
        blockers = self.runtime.blockers
        if blockers:
            options += [(_RESUME, b) for b in blockers if b.ready()]
        if self.clock._alarms:  # none set: nothing can be due
            options += [(_RING, a) for a in self.clock.due()]
        held = self.held
        if held:
            now = self.clock.now()
            options += [(_EVENT, h) for h in held if h.due(self.actions, now)]
        ghosts = self.points.ghosts
        if ghosts:
            options += [(_WAKE, g) for g in ghosts if g.wakes_from <= self.actions]
        writer = self.writer
        if writer is not None and writer.queued:
            options.append((_WRITE, writer))
        if options:
            return self._with_deadline(options) if not nested else options
        # Nothing else can run: an event held for actions, or for the next event, ends
        # its delay now, before time moves (a delay, never "after every timer").
        options = [(_EVENT, h) for h in held if not h.timed]
        if nested:
            # The runner's step may take as long as it likes: time may pass meanwhile
            # (the next alarm's time, not past a poll: that would lapse its leases).
            if not options and self._may_jump():
                options.append((_JUMP, _PLAIN))
            return options
        options += [(_WAKE, g) for g in ghosts]  # asleep yet, but nothing else can run
        if len(options) == len(ghosts) and self._may_jump():
            options.append((_JUMP, None))
        return self._with_deadline(options) if options else options

    def _with_deadline(self, options: list[_Option]) -> list[_Option]:
        """``options``, and the end of the wait in progress if its deadline is reached.

        Its timeout races what else can act at that time (a timer due then, and what its
        ring sets off); once nothing else can, the wait times out all the same.
        """
        deadline = self.runtime.wait_deadline()
        if deadline is not None and deadline <= self.clock.now():
            options.append((_END_WAIT, None))
        return options

    def _stall_ends(self) -> int:
        """The action from which a worker that stalls now may wake: the chooser's pick.

        It stalled past its lease, and the case goes on elsewhere meanwhile, often to its
        end; a uniform choice among all that may act would mostly wake it at once. So it
        may sleep up to ``STALL_ACTIONS`` actions first (0, awake at once, is the choice a
        failing run shrinks toward), or less if nothing else can run.
        """
        return self.actions + self._chooser.choose(STALL_ACTIONS + 1)

    def _slow_reply(self) -> str | None:
        """An ask with a timeout awaited in a delivery: made slow if the plan says so.

        The test's own waits (outside any delivery) are not the run's: never slow.
        """
        return self.faults.slow_reply() if self.runtime.delivering else None

    def _may_jump(self) -> bool:
        """Whether the clock may jump to its next alarm (none is due yet)."""
        if not self.clock.autojump or self._frozen:
            return False
        deadline = self.runtime.wait_deadline()
        if deadline is not None and deadline <= self.clock.now():
            return False  # the wait in progress times out now, before time moves on
        if self.held and self._held_until() is not None:  # an event delayed by seconds
            return True
        return self.clock.next_alarm() is not None and not self.probe.only_polling()

    def _jump_limit(self) -> float | None:
        """The latest time a jump may reach before the next alarm (``None``: no limit)."""
        limits = [self.runtime.wait_deadline(), self._held_until() if self.held else None]
        times = [t for t in limits if t is not None]
        return min(times) if times else None

    def _step(self, pick: int | None = None) -> bool:
        # What step() does, for callers that know the harness is open (the run loop,
        # the runtime's driver, which close() replaces).
        if self.actions >= self.max_steps:
            self._fail(Livelock, self._unsettled(f"{self.actions} actions"))
        if self._at:
            self._run_due()
        options = self._options()
        if not options:
            return self._run_next_external()
        if len(options) == 1:
            choice = 0
        elif pick is not None:
            choice = pick % len(options)
        elif self._pick is not None:
            choice = self._pick([_label(o) for o in options])
        else:
            choice = self._chooser.choose(len(options))
        self._depth += 1
        self._hook.delivery_steps = 0
        failure = self.failure
        try:
            self._perform(*options[choice])
        except SpinError as spin:
            self._fail(Livelock, str(spin))
        finally:
            self._depth -= 1
        error, self._call_error = self._call_error, None
        if error is not None:  # an h.at() call raised while a runner was between steps
            self.runtime.failures = [f for f in self.runtime.failures if f[1] is not error]
            raise error
        if self.failure is not None and self.failure is not failure:
            # Found during this action but caught on its way out (a task that asked an
            # actor and got Deadlock, say): the run fails all the same, never the job.
            raise self.failure
        self._after()
        return True

    def _unstalled(self, options: list[_Option], *, nested: bool) -> list[_Option]:
        """``options`` without deliveries to runners a ``Stall`` holds back now."""
        stalled = self.faults.stalled(self.actions)
        if not stalled:
            return options
        moving = [o for o in options if self._runner_index(o[1]) not in stalled]
        # A stall delays a runner; it never halts the run.
        return moving if nested or moving or self._others() else options

    def _others(self) -> bool:
        return bool(self.clock.due() or any(b.ready() for b in self.runtime.blockers))

    @staticmethod
    def _runner_index(cell: ActorCell) -> int | None:
        index = getattr(cell.actor, "_index", None)
        return index if isinstance(index, int) else None

    def _perform(self, kind: int, target: Any) -> None:
        if kind != _DELIVER or not self.probe.is_runner(target):
            # Anything but a runner's delivery may reach the Scheduler (a ring tells it,
            # a resumed producer's admission too): check its private state next time.
            self._scheduler_ran = True
        if kind == _DELIVER:
            self._deliver(target)
        elif kind == _RESUME:
            blocker: Blocker = target
            self._record(blocker.name, "resume", None, blocker.why)
            self._on_own_thread(blocker, functools.partial(self.runtime.resume, blocker))
        elif kind == _RING:
            alarm: VirtualAlarm = target
            self._record("clock", "ring", None, f"t={self.clock.now()}")
            self._on_own_thread(_CLOCK, alarm.ring)
        elif kind == _EVENT:
            held: HeldEvent = target
            self._on_own_thread(_OUTSIDE, functools.partial(self._release, held))
        elif kind == _WAKE:
            ghost: Ghost = target
            self.points.wake(ghost)
        elif kind == _WRITE:
            writer: ScheduledWriter = target
            self._on_own_thread(writer, writer.write)
        elif kind == _END_WAIT:
            self.runtime.end_wait()
        elif kind == _CALL:
            _, _, fn = self._at.pop(0)
            try:
                self._on_own_thread(_OUTSIDE, fn)
            except Exception as exc:
                # Made inside a runner's delivery: its error is the test's, which the
                # runner must not take for its own failure (see _step).
                self._call_error = exc
                raise
        else:
            # To the next alarm, or to the end of an event's delay in seconds, or to the
            # deadline of the wait in progress, whichever comes first.
            until = self._jump_limit()
            past = None if target is _PLAIN else self.probe.past_polls()
            if past is None:
                self.clock.jump(until)
            else:  # past the polls, to the job's timer
                self.clock._jump_past(past[0], past[1] if until is None else min(until, past[1]))
            self._record("clock", "jump", None, f"t={self.clock.now()}")

    def _deliver(self, cell: ActorCell) -> None:
        """Deliver ``cell``'s next message, and trace it with what it led to."""
        envelope = None
        if cell.started:
            envelope = cell.inbox.queue[0]
            self._record(cell.name, *describe_message(envelope.message))
        else:
            self._record(cell.name, STARTED)
        # The steps a runner runs in this delivery join its entry: the trace then
        # shows which step ran where (a delivery runs them back to back).
        hook, entry = self._hook, self.actions - 1
        outer, hook.ran = hook.ran, []
        try:
            if self._threads is None:
                delivered = self.runtime.deliver(cell)
            else:
                delivered = self._deliver_on_own_thread(cell)
        finally:
            ran, hook.ran = hook.ran, outer
            if ran:
                self._note_steps(entry, ran)
        if envelope is not None and type(envelope.message) is m.DeliverEvent:
            # What became of the event: one that came before its job waited (UNKNOWN)
            # or after it stopped waiting (LATE) explains a case that waits on.
            answer = envelope.reply_to
            if isinstance(answer, DeterministicFuture) and answer.resolved:
                with contextlib.suppress(Exception):
                    self._note_outcome(entry, answer.get().value)
        if delivered is not STARTED:
            self.monitor.delivered(delivered)

    # -- between two steps, and outside activity -----------------------------------------------

    def _between_steps(self, runner: int, job: JobRecord, step: Any) -> bool:
        """A runner is about to run a step: the chooser may run other actions first.

        Before the first step of a delivery too (a branch's only step, the step after a
        wait): a step may be slow, and time passes for other jobs while it runs.

        Option 0 (go on with the runner) is the canonical choice, so a failing
        interleaving shrinks toward steps that run back to back. The runner's cell is
        busy meanwhile, so nothing is delivered to it until it goes on. The trace shows
        where it paused. Returns whether the runner stops before ``step``: a stop for
        ``job`` came meanwhile, and the chooser had it come before the runner's check
        (option 0) rather than once the check was past, where ``step`` still runs (the
        runner reads the stop after it), as a thread may.
        """
        paused = False
        cell = self.runtime.delivering[-1]
        here = cell.name  # the paused runner, e.g. runner-0#2
        while True:
            options = self._options(nested=True)
            if self._at and self._at[0][0] <= self.actions:
                # A call h.at() made due may come while the runner is between two steps,
                # as a webhook's thread may: before the step that reads what it writes.
                options.append((_CALL, None))
            if not options:
                choice = 0
            elif self._pick is not None:
                choice = self._pick([here, *map(_label, options)])
            else:
                choice = self._chooser.choose(len(options) + 1)
            if choice == 0:
                lane = getattr(cell.inbox, "lane", ())
                stopping = any(getattr(stop, "job_id", None) == job.id for stop in lane)
                if not paused:
                    return stopping
                said = f"at {step.name!r}"
                if stopping:
                    stopping = self._chooser.choose(2) == 0
                    said = f"stops before {step.name!r}"
                    if not stopping:
                        said = f"runs {step.name!r}: its stop came once its check was past"
                self._record(here, "go on", job.id, said)
                cell.paused_at = None
                return stopping
            if not paused:
                paused = True
                cell.paused_at = step.name
                self._record(here, "pause", job.id, f"before {step.name!r}")
            if self.actions >= self.max_steps:
                self._fail(Livelock, self._unsettled(f"{self.actions} actions"))
            hook = self._hook
            steps, hook.delivery_steps = hook.delivery_steps, 0
            self._depth += 1
            try:
                self._perform(*options[choice - 1])
            finally:
                self._depth -= 1
                hook.delivery_steps = steps

    def _run_due(self) -> None:
        while self._at and self._at[0][0] <= self.actions:
            _, _, fn = self._at.pop(0)
            self._on_own_thread(_OUTSIDE, fn)

    def _run_next_external(self) -> bool:
        if not self._at:
            return False
        _, _, fn = self._at.pop(0)
        self._on_own_thread(_OUTSIDE, fn)
        return True
