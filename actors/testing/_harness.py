"""``Harness``: the engine's own actors, run one delivery at a time by a seeded chooser."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, NoReturn

from actors._admission import FullMode
from actors._errors import ActorsError
from actors._mediator import Mediator
from actors.stores import MemoryStore
from actors.testing._chooser import DataChooser, SeededChooser, fresh_seed
from actors.testing._clock import VirtualAlarm, VirtualClock
from actors.testing._errors import Deadlock, InjectedCrash, InvariantViolation, Livelock
from actors.testing._external import External, HeldEvent
from actors.testing._faults import FaultInjector, FaultPlan, SpinError, StepHook
from actors.testing._monitor import Monitor
from actors.testing._probe import Probe, actor_name
from actors.testing._report import TraceEntry, describe_failure, describe_message, state_report
from actors.testing._runtime import STARTED, ActorCell, Blocker, DeterministicRuntime

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from actors._job import Job
    from actors._pykka_seam import Envelope
    from actors._workflow import Workflow
    from actors.stores import Store
    from actors.testing._chooser import Chooser

__all__ = ["Harness"]

_DELIVER, _RESUME, _RING, _EVENT, _JUMP = range(5)
_Option = tuple[int, Any]


class Harness(External):
    """Runs the engine's Scheduler and Runners without threads, one delivery at a time.

    Every choice of which actor handles its next message (or which blocked producer
    wakes, which due timer rings, when a held-back event arrives) is made by one chooser:
    seeded (``seed=``; a fresh seed is picked and reported when none is given) or drawn
    from Hypothesis data (``data=``, so failing interleavings shrink). After every action
    the engine's internal invariants and DESIGN's six are checked; a quiescent run with
    unfinished work raises ``Deadlock``, a run that does not settle raises ``Livelock``;
    every failure message carries the seed and the tail of the trace.

    Args:
        workflows: the workflows the simulated Mediator runs.
        seed: seeds the chooser; the same seed replays the identical trace.
        data: a Hypothesis ``st.data()`` object to draw choices from (instead of ``seed``).
        runners: as for ``Mediator``.
        capacity: as for ``Mediator``.
        full_mode: as for ``Mediator``.
        on_shed: as for ``Mediator``.
        runner_batch: jobs a runner runs per delivery (1: every job is its own delivery).
        store: the job store; by default ``MemoryStore(copy_data=True)``, which gives a
            crashed runner's job exactly its last saved data back. Not a store with
            ``commit="group"``: its writer thread is outside the harness's schedule.
        clock: the virtual clock (a new one at t=0 by default).
        faults: what goes wrong (``FaultPlan``); nothing by default.
        substitutions: engine actor classes to replace (``{Scheduler: MyScheduler}``).
        max_steps: the action budget of the whole run (``Livelock`` beyond it).
        check: check invariants after every action (turn off only to measure).
    """

    def __init__(  # noqa: PLR0913 - a simulation has many knobs, all keyword-only
        self,
        workflows: Iterable[Workflow],
        *,
        seed: int | None = None,
        data: Any = None,
        runners: int = 2,
        capacity: int = 4,
        full_mode: FullMode = FullMode.BACKPRESSURE,
        runner_batch: int = 1,
        store: Store | None = None,
        clock: VirtualClock | None = None,
        faults: FaultPlan | None = None,
        on_shed: Callable[[Job], Any] | None = None,
        substitutions: Mapping[type, type] | None = None,
        max_steps: int = 50_000,
        check: bool = True,
    ) -> None:
        if seed is not None and data is not None:
            msg = "pass seed= or data= (Hypothesis data), not both"
            raise ValueError(msg)
        workflows = list(workflows)
        self._options_kept: dict[str, Any] = {
            "workflows": workflows, "runners": runners, "capacity": capacity,
            "full_mode": full_mode, "runner_batch": runner_batch, "faults": faults,
            "on_shed": on_shed, "substitutions": substitutions, "max_steps": max_steps,
            "check": check,
        }  # fmt: skip
        self.seed: int | None = None
        """The seed of this run (``None`` when choices come from Hypothesis data)."""
        self._chooser: Chooser
        if data is not None:
            self._chooser = DataChooser(data)
        else:
            self.seed = fresh_seed() if seed is None else seed
            self._chooser = SeededChooser(self.seed)
        self.clock = clock if clock is not None else VirtualClock()
        self.runtime = DeterministicRuntime(clock=self.clock, substitutions=substitutions)
        self.runtime.driver = self.step
        self.runtime.namer = actor_name
        self.runtime.stalled = self._stalled
        self.plan = faults or FaultPlan()
        self.faults = FaultInjector(self.plan)
        if self.plan.duplicates:
            self.runtime.put_filter = self._copies
        self.trace: list[TraceEntry] = []
        """Every action so far: deliveries, clock moves, admissions, faults."""
        self.actions = 0
        """Actions taken so far (the next trace entry's index)."""
        self.runners = runners
        self.max_steps = max_steps
        self.check = check
        self.failure: BaseException | None = None
        self._depth = 0
        self._at: list[tuple[int, int, Callable[[], Any]]] = []
        self._at_seq = itertools.count()
        counter = itertools.count(1)
        if store is not None and store.background_commit:
            msg = (
                f"the harness needs a store that stores in the calling thread; {store.url} "
                "stores on a writer thread of its own (commit='group'), which the harness "
                "cannot schedule: open it with commit='step' or 'slice'"
            )
            raise ValueError(msg)
        self.store = store if store is not None else MemoryStore(copy_data=True)
        self.mediator = Mediator(
            workflows,
            runners=runners,
            capacity=capacity,
            full_mode=full_mode,
            store=self.store,
            on_shed=on_shed,
            clock=self.clock,
            runtime=self.runtime,
            ids=lambda: f"j{next(counter)}",
            runner_batch=runner_batch,
        )
        self.probe = Probe(self.mediator, self.runtime)
        self.monitor = Monitor(self.probe)
        self._hook = StepHook(self.faults, self.monitor, self._record, max_steps)
        self.probe.engine.step_hook = self._hook
        External.__init__(self, self.probe)

    # -- running ----------------------------------------------------------------------------------

    def step(self, pick: int | None = None) -> bool:
        """Take one action; ``False`` when nothing is left to do (quiescent).

        ``pick`` chooses among the enabled actions (modulo their number) instead of the
        chooser: how a stateful test steers the interleaving.
        """
        if self.actions >= self.max_steps:
            self._fail(Livelock, f"Livelock: {self.actions} actions and the run has not settled")
        self._run_due()
        options = self._options()
        if not options:
            return self._run_next_external()
        if len(options) == 1:
            choice = 0
        elif pick is not None:
            choice = pick % len(options)
        else:
            choice = self._chooser.choose(len(options))
        self._depth += 1
        self._hook.delivery_steps = 0
        try:
            self._perform(*options[choice])
        except SpinError as spin:
            self._fail(Livelock, f"Livelock: {spin}")
        finally:
            self._depth -= 1
        self._after()
        return True

    def run_until_quiescent(self, max_steps: int | None = None) -> int:
        """Run until nothing is left to do; return how many actions ran.

        Raises ``Deadlock`` if work is left that cannot finish (jobs waiting only on
        external events, which the test may still send, are not a deadlock), and
        ``Livelock`` after ``max_steps`` actions (default: the harness's budget).
        """
        start = self.actions
        budget = max_steps if max_steps is not None else self.max_steps
        limit = start + budget
        self._hook.cap, cap = budget, self._hook.cap
        try:
            while self.step():
                if self.actions >= limit:
                    self._fail(Livelock, f"Livelock: {self.actions - start} actions, not settled")
        finally:
            self._hook.cap = cap
        stuck = self._stuck()
        if stuck:
            self._fail(Deadlock, f"Deadlock: the run is quiescent but {stuck}")
        return self.actions - start

    def finish(self) -> list[Job]:
        """Run to quiescence, require every admitted case to have ended, and return their results.

        Also checks the end-of-run invariants: every admitted case ended DONE, FAULTED or
        CANCELLED or was reported SHED, and every split whose branches all arrived fired
        its join exactly once.
        """
        self.run_until_quiescent()
        waiting = [s for s in self.submissions if s.handle is not None and not s.done]
        if waiting:
            ids = ", ".join(s.job_id or "?" for s in waiting)
            self._fail(Deadlock, f"Deadlock: case(s) {ids} still wait for external events")
        results = [s.result() for s in self.submissions if s.handle is not None]
        try:
            self.monitor.check_end(results)
        except AssertionError as exc:
            self._fail(InvariantViolation, str(exc), exc)
        return results

    def at(self, action: int, fn: Callable[[], Any]) -> None:
        """Call ``fn()`` once ``action`` actions have run (sooner if everything goes quiet).

        How a scenario schedules outside activity (a producer, a cancel, an event) to
        interleave with the engine's own deliveries.
        """
        self._at.append((action, next(self._at_seq), fn))
        self._at.sort()

    def crash_runner(self, index: int, *, lease: bool = False) -> None:
        """Crash runner ``index`` before the next step it runs (``lease``: report it as expired)."""
        self.faults.armed[index] = lease

    def advance(self, seconds: float) -> int:
        """Move the virtual clock forward, ringing alarms on the way; how many rang."""
        rang = self.clock.advance(seconds)
        self._record("clock", "advance", None, f"+{seconds} -> t={self.clock.now()}")
        return rang

    def check_invariants(self) -> None:
        """Check every invariant now (the harness also does after every action)."""
        try:
            self.monitor.check(self.probe.gate.capacity)
        except AssertionError as exc:
            self._fail(InvariantViolation, str(exc), exc)

    def check_invariant(self, number: int) -> None:
        """Check DESIGN invariant ``number`` (1-6) now (``InvariantViolation`` or ``Deadlock``).

        1: every live job is held by some actor, queue or message (nothing vanishes);
        2: a job is with one runner at a time; 3: a join fired once, after all branches;
        4: if nothing can run, nothing is stuck; 5: a crashed job resumed from its last
        save; 6: admitted, unstarted cases stay within capacity.
        """
        try:
            if number == 4:
                self.check_progress()
            else:
                self.monitor.check_one(number, self.probe.gate.capacity)
        except AssertionError as exc:
            self._fail(InvariantViolation, str(exc), exc)

    def check_progress(self) -> None:
        """Invariant 4: when nothing can run, no unfinished work is stuck (else ``Deadlock``)."""
        if not self._options() and not self._at:
            stuck = self._stuck()
            if stuck:
                self._fail(Deadlock, f"Deadlock: nothing can run but {stuck}")

    def fail(self, message: str) -> NoReturn:
        """Raise ``InvariantViolation(message)`` with this run's seed, config and trace tail."""
        self._fail(InvariantViolation, message)

    def report(self) -> str:
        """A readable dump of the engine's state: jobs, actors, gate, parked jobs, clock."""
        refused = [f"{s.name} ({type(s.refused).__name__})" for s in self.submissions if s.refused]
        return state_report(self.probe, self.clock, refused)

    def replay(self) -> Harness:
        """A fresh harness with this one's seed and options: the same run, action for action."""
        if self.seed is None:
            msg = "this run's choices came from Hypothesis data; Hypothesis replays it"
            raise ValueError(msg)
        kept = dict(self._options_kept)
        workflows = kept.pop("workflows")
        return Harness(workflows, seed=self.seed, **kept)

    def close(self) -> None:
        """Stop every simulated actor at once (no ``on_stop``: the simulation is over)."""
        self.runtime.stop_all()

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one action -------------------------------------------------------------------------------

    def _options(self) -> list[_Option]:
        cells = self.runtime.runnable()
        stalled = self.faults.stalled(self.actions) if self.plan.stalls else set()
        if stalled:
            moving = [c for c in cells if self._runner_index(c) not in stalled]
            if moving or self._others():  # a stall delays a runner; it never halts the run
                cells = moving
        options: list[_Option] = [(_DELIVER, c) for c in cells]
        options += [(_RESUME, b) for b in self.runtime.blockers if b.ready()]
        options += [(_RING, a) for a in self.clock.due()]
        options += [(_EVENT, h) for h in self.held if h.due(self.actions)]
        if options:
            return options
        options = [(_EVENT, h) for h in self.held]
        if self.clock.autojump and self.clock.next_alarm() is not None:
            options.append((_JUMP, None))
        return options

    def _others(self) -> bool:
        return bool(self.clock.due() or any(b.ready() for b in self.runtime.blockers))

    @staticmethod
    def _runner_index(cell: ActorCell) -> int | None:
        index = getattr(cell.actor, "_index", None)
        return index if isinstance(index, int) else None

    def _perform(self, kind: int, target: Any) -> None:
        if kind == _DELIVER:
            cell: ActorCell = target
            message = cell.pending[0].message if cell.started else None
            action, job, detail = describe_message(message) if cell.started else (STARTED, None, "")
            self._record(cell.name, action, job, detail)
            delivered = self.runtime.deliver(cell)
            if delivered is not STARTED:
                self.monitor.delivered(delivered)
        elif kind == _RESUME:
            blocker: Blocker = target
            self._record(blocker.name, "resume", None, blocker.why)
            self.runtime.resume(blocker)
        elif kind == _RING:
            alarm: VirtualAlarm = target
            self._record("clock", "ring", None, f"t={self.clock.now()}")
            alarm.ring()
        elif kind == _EVENT:
            held: HeldEvent = target
            self._release(held)
        else:
            self.clock.jump()
            self._record("clock", "jump", None, f"t={self.clock.now()}")

    def _after(self) -> None:
        failures, self.runtime.failures = self.runtime.failures, []
        for cell, exc in failures:
            if not isinstance(exc, InjectedCrash):
                why = f"{cell.name} raised {type(exc).__name__}: {exc} (an engine bug)"
                self._fail(InvariantViolation, why, exc)
        if self.check and self._depth == 0:
            # Only between top-level actions: a nested get() (a task asking an actor) runs
            # while another actor is half-way through a handler.
            self.check_invariants()

    def _record(self, actor: str, action: str, job: str | None = None, detail: str = "") -> None:
        self.trace.append(TraceEntry(self.actions, actor, action, job, detail))
        self.actions += 1

    def _run_due(self) -> None:
        while self._at and self._at[0][0] <= self.actions:
            _, _, fn = self._at.pop(0)
            fn()

    def _run_next_external(self) -> bool:
        if not self._at:
            return False
        _, _, fn = self._at.pop(0)
        fn()
        return True

    # -- faults inside the engine ----------------------------------------------------------------

    def _copies(self, cell: ActorCell, envelope: Envelope[Any]) -> int:
        name = type(envelope.message).__name__
        extra = self.faults.copies(name)
        if extra:
            _, job, _ = describe_message(envelope.message)
            self._record("harness", f"duplicate {name}", job, f"to {cell.name}")
        return extra

    # -- failures ---------------------------------------------------------------------------------

    def _stuck(self) -> str:
        return self.probe.stuck()

    def _stalled(self, what: str) -> BaseException:
        message = self._describe_failure(f"Deadlock: {what}; nothing can run", with_state=True)
        error = Deadlock(message)
        self.failure = error
        return error

    def _fail(
        self, kind: type[Exception], headline: str, cause: BaseException | None = None
    ) -> NoReturn:
        with_state = (
            kind is not InvariantViolation or cause is None or isinstance(cause, AssertionError)
        )
        error = kind(self._describe_failure(headline, with_state=with_state))
        self.failure = error
        raise error from cause

    def _describe_failure(self, headline: str, *, with_state: bool) -> str:
        state = None
        if with_state:
            try:
                state = self.report()
            except (ActorsError, AssertionError, LookupError, TypeError) as exc:
                state = f"(no state report: {exc!r})"  # never mask the failure itself
        return describe_failure(
            headline, self.seed, self._options_kept, self.plan.describe(), state, self.trace
        )
