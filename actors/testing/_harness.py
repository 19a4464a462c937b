"""``Harness``: the engine's own actors, run one delivery at a time by a seeded chooser."""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING, Any, TypeVar

import pykka

from actors._admission import FullMode
from actors._mediator import Mediator
from actors._workflow import Workflow, workflow_list
from actors.stores import MemoryStore, Store, open_store
from actors.testing._actions import Actions
from actors.testing._arguments import need_callable, need_count, need_seconds
from actors.testing._checking import Checking
from actors.testing._clock import VirtualClock
from actors.testing._closing import Closing
from actors.testing._crashpoints import CrashPoints
from actors.testing._errors import (
    Deadlock,
    InvariantViolation,
    name_public_methods,
    not_an_actor_class,
    while_open,
)
from actors.testing._external import External
from actors.testing._failures import Failures
from actors.testing._fault_injector import FaultInjector
from actors.testing._faults import CrashPoint, FaultPlan, check_crash_runner, no_groups
from actors.testing._ids import harness_ids
from actors.testing._monitor import Monitor
from actors.testing._probe import Probe, actor_name
from actors.testing._report import describe_message
from actors.testing._running import Running
from actors.testing._runtime import ActorCell, DeterministicRuntime
from actors.testing._search import PCT, pick_chooser
from actors.testing._step_hook import StepHook
from actors.testing._trace import Recorder
from actors.testing._writer import ScheduledWriter, adopt_writer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from actors._job import Job
    from actors._pykka_seam import Envelope
    from actors.testing._chooser import Chooser

__all__ = ["Harness"]

_NO_FAULTS = FaultPlan()  # frozen: one for every harness given none


A = TypeVar("A", bound=pykka.Actor)


class Harness(Recorder, Running, External, Failures, Actions, Checking, Closing):
    """Runs the engine's Scheduler and Runners without threads, one delivery at a time.

    Every choice of which actor handles its next message (or which blocked producer
    wakes, which due timer rings, when a held-back event arrives) is made by one chooser:
    seeded (``seed=``; a fresh seed is picked and reported when none is given) or drawn
    from Hypothesis data (``data=``, so failing interleavings shrink). After every action
    the engine's internal invariants and DESIGN's six are checked; a quiescent run with
    unfinished work raises ``Deadlock``, a run that does not settle raises ``Livelock``;
    every failure message carries the seed and the tail of the trace.

    Args:
        workflows: the workflows the simulated Mediator runs: a list (or any iterable) of
            ``Workflow`` objects, ``Harness([flow])``, as for ``Mediator``.
        seed: seeds the chooser; the same seed replays the identical trace.
        data: a Hypothesis ``st.data()`` object to draw choices from (instead of ``seed``).
        runners: as for ``Mediator``.
        capacity: as for ``Mediator``.
        full_mode: as for ``Mediator``.
        on_shed: as for ``Mediator``.
        runner_batch: jobs a runner runs per delivery (1: every job is its own delivery).
        store: the job store, or a store URL (``"sqlite:///..."``: opened here and closed
            with the harness); by default ``MemoryStore(copy_data=True)``. Every store
            gives a crashed runner's job exactly its last saved data back. With ``commit="group"``
            the store's writer thread is replaced by one the chooser schedules (see
            ``Crash(point="in_group")``); a writer process is refused.
        clock: the virtual clock (a new one at t=0 by default).
        faults: what goes wrong (``FaultPlan``); nothing by default.
        substitutions: engine actor classes to replace (``{Scheduler: MyScheduler}``).
        max_steps: the action budget of the whole run (``Livelock`` beyond it).
        check: check invariants after every action (turn off only to measure).
        between_steps: a choice point before every step a runner runs (the first of a
            delivery included), where other actors may run and the clock move first (as
            other threads could while a runner's thread is about to run a step, or while
            a slow step runs); ``False``: steps run back to back.
        strategy: how seeded choices are made: uniform (``None``) or ``PCT(depth, steps)``.
        choices: replay a schedule by its choices (as a failure under ``exhaust`` prints
            them); choice points past the list take option 0.
        chooser: make every choice with this object instead: anything with a
            ``choose(n) -> int`` method returning an index in ``range(n)``.
    """

    def __init__(  # noqa: PLR0913, PLR0915 - a simulation has many knobs, all keyword-only
        self,
        workflows: Iterable[Workflow],
        *,
        seed: int | None = None,
        data: Any = None,
        runners: int = 2,
        capacity: int = 4,
        full_mode: FullMode = FullMode.BACKPRESSURE,
        runner_batch: int = 1,
        store: Store | str | None = None,
        clock: VirtualClock | None = None,
        faults: FaultPlan | None = None,
        on_shed: Callable[[Job], Any] | None = None,
        substitutions: Mapping[type, type] | None = None,
        max_steps: int = 50_000,
        check: bool = True,
        between_steps: bool = True,
        strategy: PCT | None = None,
        choices: Sequence[int] | None = None,
        chooser: Chooser | None = None,
    ) -> None:
        choosing = pick_chooser(seed=seed, data=data, choices=choices, chooser=chooser,
                                strategy=strategy)  # fmt: skip
        workflows = workflow_list(workflows, "Harness(workflows)")
        self._options_kept: dict[str, Any] = {
            "workflows": workflows, "runners": runners, "capacity": capacity,
            "full_mode": full_mode, "runner_batch": runner_batch, "faults": faults,
            "on_shed": on_shed, "substitutions": substitutions, "max_steps": max_steps,
            "check": check, "between_steps": between_steps, "strategy": strategy,
        }  # fmt: skip
        self._chooser: Chooser = choosing.chooser
        self.seed: int | None = choosing.seed
        """The seed of this run (``None`` when choices come from Hypothesis data)."""
        if choosing.replay is not None:
            self._options_kept["replay_choices"] = choosing.replay
        # A chooser that ranks actors (PCT) is shown who each option would run.
        self._pick: Callable[[Sequence[str]], int] | None = getattr(self._chooser, "pick", None)
        if clock is not None and not isinstance(clock, VirtualClock):
            msg = f"Harness(clock=...) takes a VirtualClock, got {clock!r:.60}"
            raise TypeError(msg)
        need_count(max_steps, "Harness(max_steps=...)", least=1)
        self.clock = clock if clock is not None else VirtualClock()
        """The virtual clock every timer of the run is set on."""
        self.clock.hold()  # every ring is an action the harness chooses (and replays)
        self.runtime = DeterministicRuntime(clock=self.clock, substitutions=substitutions)
        """The threadless runtime the engine's actors (and ``actor()``'s) run on."""
        self.runtime.driver = self._step
        self.runtime.namer = actor_name
        self.runtime.stalled = self._stalled
        self.runtime.waited = lambda detail: self._record("clock", "wait", None, detail)
        self.runtime.slow_reply = self._slow_reply
        self.runtime.foreign = self._foreign
        if faults is not None and not isinstance(faults, FaultPlan):
            msg = (
                f"Harness(faults=...) takes a FaultPlan, got {faults!r:.80}; "
                "e.g. faults=FaultPlan(crashes=(Crash(2),))"
            )
            raise TypeError(msg)
        self.plan = faults or _NO_FAULTS
        """The fault plan (``faults=``; an empty plan by default)."""
        self.faults = FaultInjector(self.plan, runners=runners)
        """Applies ``plan`` as the run goes; ``faults.steps`` counts the steps run so far."""
        if self.plan.duplicates:
            self.runtime.put_filter = self._copies
        Recorder.__init__(self)
        self.runners = runners
        """How many runners the simulated Mediator has."""
        self.max_steps = max_steps
        """The action budget of the whole run (``Livelock`` beyond it)."""
        self.check = check
        """Whether invariants are checked after every action."""
        self.failure: BaseException | None = None
        """The failure this run raised (``Deadlock``, ``Livelock``...), once it has."""
        self._closed = False
        self._depth = 0
        self._scheduler_ran = True  # what the Scheduler holds is checked after it acts
        self._frozen = False  # run_until_quiescent(advance_time=False): no clock jumps
        self._at: list[tuple[int, int, Callable[[], Any]]] = []
        self._at_seq = itertools.count()
        self._call_error: Exception | None = None  # what an h.at() call raised mid-delivery
        self._owned_store = isinstance(store, str)  # opened here from a URL: closed here
        if isinstance(store, str):
            store = open_store(store)
        elif store is not None and not isinstance(store, Store):
            msg = f"Harness(store=...) takes a Store or a store URL, got {store!r:.60}"
            raise TypeError(msg)
        self.store = store if store is not None else MemoryStore(copy_data=True)
        """The job store the simulated engine saves to."""
        grouped = adopt_writer(self.store)  # ValueError for commits it cannot schedule
        if grouped is None and any(c.point == "in_group" for c in self.plan.crashes):
            raise ValueError(no_groups("Crash(point='in_group')", self.store))
        # Per simulated thread: the store state a real thread would keep to itself.
        self._threads: dict[object, Any] | None = (
            {} if isinstance(getattr(self.store, "_slice", None), threading.local) else None
        )
        self.mediator = Mediator(
            workflows,
            runners=runners,
            capacity=capacity,
            full_mode=full_mode,
            store=self.store,
            on_shed=on_shed,
            clock=self.clock,
            runtime=self.runtime,
            ids=harness_ids(self.store),  # j1, j2...: none an earlier run left in the store
            owner="harness",  # the same on every run (a shared store's lease stamps)
            runner_batch=runner_batch,
        )
        """The simulated engine: a real ``Mediator`` on the harness's runtime and clock."""
        self.probe = Probe(self.mediator, self.runtime)
        """Reads what the engine's actors, channel, gate and store hold (for the checks)."""
        self.monitor = Monitor(self.probe)
        """The harness's own records of the run and its invariant checks."""
        self.points = CrashPoints(
            self.store, self.runtime, self.monitor, self._record, self.probe.engine.workflow
        )
        """Crashes inside a step and stalled runners that wake later (the fault plan's)."""
        self.points.sleep = self._stall_ends
        self.points.lease = self.probe.engine.lease_seconds
        self.writer = (
            ScheduledWriter(self.store, self.runtime, self.monitor, self._record)
            if grouped is not None
            else None
        )
        """With ``commit="group"``: the store's writer, which stores when the chooser says."""
        self.points.writer = self.monitor.writer = self.writer
        self._hook = StepHook(self.faults, self.monitor, self._record, max_steps, self.points)
        self._hook.clock = self.clock
        if between_steps:
            self._hook.between = self._between_steps
        self.runtime.step_hook = self._hook  # each runner calls it before a step
        self.runtime.send_hook = self.points.in_send  # and before a request's send
        External.__init__(self, self.probe)
        if self.plan.events:  # every external event, whatever path it takes to the engine
            self.runtime.event_gate = self._gate

    # -- running (step and run_until_quiescent are Running's) ----------------------------------

    @while_open
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
            self._fail(Deadlock, f"case(s) {ids} still wait for external events")
        results = [s.result() for s in self.submissions if s.handle is not None]
        try:
            self.monitor.check_end(results)
        except AssertionError as exc:
            self._fail(InvariantViolation, str(exc), exc)
        return results

    @while_open
    def at(self, action: int, fn: Callable[[], Any]) -> None:
        """Call ``fn()`` once ``action`` actions have run (sooner if everything goes quiet).

        How a scenario schedules outside activity (a producer, a cancel, an event) to
        interleave with the engine's own deliveries. A call due while a runner is between
        two steps of one delivery may be made there, as the chooser picks, as another
        thread's could. "Quiet" means nothing at all is left to do: a call not due yet
        while a timer is set waits until the clock has jumped to it and it has rung, so
        an ``action`` past the run's end is made after every timer (an event then comes
        after every timeout). To send one while a case still waits, call
        ``run_until_quiescent(advance_time=False)`` first, or delay it by ``seconds``
        with an ``EventFault``.
        """
        need_count(action, "Harness.at(action, fn): action")
        need_callable(fn, "Harness.at(action, fn): fn")
        self._at.append((action, next(self._at_seq), fn))
        self._at.sort()

    @while_open
    def actor(self, behaviour: type[A], *args: Any, **kwargs: Any) -> pykka.ActorRef[A]:
        """Start your own actor class under the harness, unchanged; returns its ref.

        ``behaviour`` may be a ``pykka.ThreadingActor`` subclass: here it runs without its
        thread, one delivery at a time like the engine's actors, so the chooser decides
        when it handles each message and a cycle of asks is reported as ``Deadlock``.

        Raises ``TypeError`` for anything but an actor class: an actor instance or an
        ``ActorRef`` is refused (the harness starts the actor itself, from its class).
        """
        if not (isinstance(behaviour, type) and issubclass(behaviour, pykka.Actor)):
            raise TypeError(not_an_actor_class(behaviour))
        return self.runtime.actor_class(behaviour).start(*args, **kwargs)

    @while_open
    def crash_runner(
        self,
        index: int,
        *,
        lease: bool = False,
        point: CrashPoint = "before_step",
        after: int = 0,
    ) -> None:
        """Crash runner ``index`` at the next step it runs (``lease``: report it as expired).

        ``point`` is where, as for ``Crash``: ``"before_step"``, ``"before_save"`` (its
        task ran, its save is not stored), ``"stalled"`` (stalled past its lease; it
        wakes later and runs the step's task, handler or merge again), ``"in_send"``
        (frozen in the send of its next request, which it sends late) or ``"in_group"``
        (the group holding its slice is lost before it is stored; ``commit="group"``
        only). ``after``: let
        the runner run that many steps first, so the crash can hit a step that never
        starts a delivery (one that always runs right after another). A ``Wait`` counts
        twice: as the job parks on it, and as its timer releases the job.
        """
        check_crash_runner(index, point, self.runners, self.store, grouped=self.writer is not None)
        need_count(after, "crash_runner(after)")
        self.faults.arm(index, lease, point, after)

    @while_open
    def advance(self, seconds: float) -> int:
        """Move the virtual clock forward, ringing alarms on the way; how many rang."""
        need_seconds(seconds, "Harness.advance(seconds)")
        rang = self.clock.advance(seconds)
        self._record("clock", "advance", None, f"+{seconds} -> t={self.clock.now()}")
        return rang

    def replay(self) -> Harness:
        """A fresh harness with this one's seed and options: the same run, action for action."""
        kept = dict(self._options_kept)
        workflows = kept.pop("workflows")
        script = kept.pop("replay_choices", None)
        if script is not None:
            return Harness(workflows, choices=script, **kept)
        if self.seed is None:
            msg = "this run's choices came from Hypothesis data; Hypothesis replays it"
            raise ValueError(msg)
        return Harness(workflows, seed=self.seed, **kept)

    def __enter__(self) -> Harness:
        return self

    # -- faults inside the engine ----------------------------------------------------------------

    def _copies(self, cell: ActorCell, envelope: Envelope[Any]) -> int:
        name = type(envelope.message).__name__
        extra = self.faults.copies(name)
        if extra:
            _, job, _ = describe_message(envelope.message)
            self._record("harness", f"duplicate {name}", job, f"to {cell.name}")
        return extra


name_public_methods(Harness)
