"""Read-only access to one Mediator's internals, for the harness's checks and reports.

Every private attribute of the engine that ``actors.testing`` reads is read here, so
when the engine's internals change, this module is the one to update. Nothing here
changes engine state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from actors._job import FINAL_STATES, JobRecord, JobState
from actors._runner import Runner
from actors._scheduler import Scheduler
from actors._timekeeper import POLL
from actors.stores import MemoryStore

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from collections.abc import Set as AbstractSet

    from actors._admission import AdmissionGate
    from actors._admit import Admissions
    from actors._channel import WorkChannel
    from actors._clock import Alarm
    from actors._engine import EngineConfig
    from actors._mediator import Mediator
    from actors._scheduler_view import SchedulerView
    from actors.stores import Store
    from actors.testing._runtime import ActorCell, DeterministicRuntime

__all__ = ["Probe", "actor_name", "branch_gen", "message_jobs"]


def branch_gen(job: JobRecord) -> int:
    """The split generation a branch belongs to (the parent's ``gen`` when it split)."""
    # Older engines kept it in ``gen``; newer ones in ``parent_gen`` (``gen`` then counts
    # the branch's own splits).
    return int(getattr(job, "parent_gen", job.gen))


def _is(actor: Any, cls: type) -> bool:
    """``isinstance`` by the MRO alone.

    pykka's actors are ABCs, and an ABC's negative check walks every subclass it has,
    which grows with each harness's actor classes.
    """
    return cls in type(actor).__mro__


def actor_name(actor: Any) -> str:
    """``scheduler`` / ``runner-N`` in traces, also for a substituted subclass."""
    if _is(actor, Scheduler):
        return "scheduler"
    if _is(actor, Runner):
        return f"runner-{actor._index}"
    return type(actor).__name__.lower()


def message_jobs(message: Any) -> Iterator[JobRecord]:
    """The job records an engine message carries (a spawn carries its parent too)."""
    for attr in ("job", "parent"):
        value = getattr(message, attr, None)
        if isinstance(value, JobRecord):
            yield value


class Probe:
    """What a Mediator's Scheduler, channel, gate and store hold right now."""

    def __init__(self, mediator: Mediator, runtime: DeterministicRuntime) -> None:
        self.engine: EngineConfig = mediator._engine
        self.admissions: Admissions = mediator._admissions
        self.runtime = runtime
        self.store: Store = self.engine.store
        self.gate: AdmissionGate = self.engine.gate
        self.channel: WorkChannel = self.engine.channel
        self._scheduler: Scheduler | None = None
        self._view: SchedulerView | None = None
        self._runner_classes: dict[type, bool] = {}
        # A memory store's map of live jobs, read in place after every action (never
        # replaced); None for a store that has to be asked.
        self._live: Mapping[str, Any] | None = (
            self.store._live if isinstance(self.store, MemoryStore) else None
        )

    # -- actors --------------------------------------------------------------------------

    def scheduler(self) -> Scheduler | None:
        """The live Scheduler actor, if it has not stopped."""
        if self._scheduler is None or self._scheduler.actor_stopped.is_set():
            self._scheduler = None
            self._view = None
            for cell in self.runtime.cells:
                if _is(cell.actor, Scheduler):
                    self._scheduler = cast("Scheduler", cell.actor)
                    self._view = self._scheduler.view()
        return self._scheduler

    def view(self) -> SchedulerView | None:
        """The live Scheduler's read-only view, if it has not stopped."""
        return self._view if self.scheduler() is not None else None

    def stopped(self) -> bool:
        """Whether the engine was stopped (``shutdown()``, or pykka's stop of its actors).

        What it left unfinished is then held by no actor, and stays in the store for the
        next start, as with threads: neither lost nor stuck.
        """
        return self.engine.stop.requested or self.scheduler() is None

    def runner_cells(self) -> list[ActorCell]:
        """Live Runner actors, in start order."""
        return [c for c in self.runtime.cells if _is(c.actor, Runner)]

    def is_runner(self, cell: ActorCell) -> bool:
        """Whether ``cell`` runs a Runner (or a substituted subclass)."""
        cls = type(cell.actor)
        known = self._runner_classes.get(cls)
        if known is None:
            known = self._runner_classes[cls] = Runner in cls.__mro__
        return known

    @staticmethod
    def runner_index(cell: ActorCell) -> int:
        """A runner's index (kept across restarts)."""
        return int(cell.actor._index)  # type: ignore[attr-defined]

    # -- the Scheduler's bookkeeping -------------------------------------------------------

    def jobs(self) -> Mapping[str, JobRecord]:
        """Jobs the Scheduler keeps: parked, split, held, and branches it spawned."""
        view = self.view()
        return view.jobs if view is not None else {}

    def kids(self) -> Mapping[str, AbstractSet[str]]:
        """Live branches of each split parent."""
        view = self.view()
        return view.kids if view is not None else {}

    def correlations(self) -> dict[str, tuple[str, ...]]:
        """Correlation ids each parked job waits on."""
        view = self.view()
        return dict(view.correlations) if view is not None else {}

    def timers(self) -> dict[str, float]:
        """Due time of each pending timer, by job id."""
        view = self.view()
        return view.timers() if view is not None else {}

    def only_polling(self) -> bool:
        """Whether the one timer left is a shared store's poll, with nothing it could take.

        The poll renews this worker's leases and claims cases nobody runs; when every
        unfinished job in the store is already this engine's, moving the clock for it
        only re-arms it, for ever.
        """
        view = self.view()
        if view is None or not self.store.shared:
            return False
        pending = list(view.timers())
        if len(pending) != 1 or pending[0] in view.jobs:
            return False
        return self._all_held(view)

    def past_polls(self) -> tuple[Alarm, float] | None:
        """The Scheduler's alarm and its earliest job timer, when polls alone come before it.

        As for ``only_polling``: when every unfinished job is already this engine's, the
        polls due before the timer could take nothing, so the clock may jump past them
        to it (the last of them rings then, with the timer, and renews the leases).
        Jumping from poll to poll instead took three actions a second: a day's ``Wait``
        on SQLite ran into ``max_steps``.
        """
        view = self.view()
        scheduler = self._scheduler
        if view is None or scheduler is None or not self.store.shared:
            return None
        pending = iter(view.timers().items())  # earliest first
        first = next(pending, None)
        alarm = scheduler._alarm
        if first is None or first[0] != POLL or alarm is None:
            return None
        due = next((when for job_id, when in pending if job_id != POLL), None)
        if due is None or not self._all_held(view):
            return None
        return alarm, due

    def _all_held(self, view: SchedulerView) -> bool:
        """Whether every unfinished job in the store is held by this engine."""
        held = set(view.jobs) | set(self.channel.running)
        held.update(j.id for j in self.channel._ready)
        held.update(j.id for j in self.gate._queue)
        return all(job_id in held for job_id in self.live_ids())

    # -- the work channel and the gate -----------------------------------------------------

    def running(self) -> dict[str, tuple[int, JobRecord]]:
        """Which runner holds which job."""
        return self.channel.running

    def ready(self) -> list[JobRecord]:
        """Internal jobs ready and not yet taken."""
        return [j for j in self.channel._ready if j.state is JobState.READY]

    def idle(self) -> list[int]:
        """Runners parked as idle."""
        return list(self.channel._idle)

    def queued(self) -> list[JobRecord]:
        """External jobs admitted and not yet started."""
        return list(self.gate._queue)

    # -- the store ---------------------------------------------------------------------------

    def live(self) -> dict[str, JobRecord]:
        """Every job the store holds in a non-final state, as last saved (copies)."""
        return {job.id: job for job in self.store.unfinished()}

    def live_ids(self) -> Iterable[str]:
        """The ids of every job the store holds in a non-final state (to iterate at once)."""
        if self._live is not None:
            return self._live
        return [job.id for job in self.store.unfinished()]

    def is_final(self, job_id: str) -> bool:
        """Whether the store holds ``job_id`` in a final state."""
        store = self.store
        if isinstance(store, MemoryStore):
            saved = store._finished.get(job_id)
            return saved is not None and saved[2] in FINAL_STATES
        job = store.get(job_id)
        return job is not None and job.state in FINAL_STATES

    def stuck(self) -> str:
        """Why a quiescent engine cannot finish ("" when it can, or only awaits the outside)."""
        live = {} if self.stopped() else self.live()
        # Jobs parked on an external event, or on a timer the test has to move the clock
        # for (no autojump), wait for the outside world: their cases are not stuck.
        outside = [*self.correlations(), *self.timers()]
        awaiting = {live[j].case_id for j in outside if j in live}
        stuck = {j.case_id for j in live.values() if j.case_id not in awaiting}
        blocked = [b.name for b in self.runtime.blockers]
        parts = []
        if stuck:
            jobs = sum(1 for j in live.values() if j.case_id in stuck)
            parts.append(f"{jobs} job(s) of {len(stuck)} case(s) cannot finish")
        if blocked:
            parts.append(f"{', '.join(blocked)} blocked for good")
        return " and ".join(parts)

    def check_components(self, *, scheduler_ran: bool = True) -> None:
        """Each component's own ``_check_invariants()`` (plain asserts).

        ``scheduler_ran=False``: nothing was delivered to the Scheduler since the last
        check, so its private collaborators (case book, correlations, timers) are left
        out; see ``SchedulerView.check_invariants``.
        """
        view = self.view()
        if view is not None:  # it checks its channel, timers and gate too
            view.check_invariants(own=scheduler_ran)
        else:
            self.channel._check_invariants()
            self.gate._check_invariants()
        check = getattr(self.store, "_check_invariants", None)
        if check is not None:
            check()
