"""How a Mediator starts: its options checked, its store opened, its Scheduler started.

What a starting Mediator takes from its store before it admits anything new is resumed
first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pykka

from actors._admission import AdmissionGate, FullMode
from actors._clock import Clock, SystemClock
from actors._engine import EngineConfig
from actors._hook_guards import guarded, guarded_tracer
from actors._leases_log import log_leases_held, own_leases
from actors._mediator_options import check_hooks, check_options, check_unheld, warn_short_lease
from actors._runtime import Runtime, ThreadingRuntime
from actors._scheduler import Scheduler
from actors.stores import Store, open_store

if TYPE_CHECKING:
    from actors._job import Job, JobRecord
    from actors._workflow import Workflow
    from actors.metrics import Metrics
    from actors.tracing import Tracer

__all__ = ["start_engine", "take_unfinished"]


def start_engine(  # noqa: PLR0913 - the Mediator's options, each a keyword
    workflows: list[Workflow],
    store: Store | str,
    clock: Clock | None,
    runtime: Runtime | None,
    *,
    tune_gc: Any,
    runners: int,
    capacity: int,
    full_mode: FullMode,
    on_shed: Callable[[Job], Any] | None,
    ids: Callable[[], str] | None,
    runner_batch: int,
    metrics: Metrics | None,
    lease_seconds: float,
    poll_interval: float,
    owner: str | None,
    tracer: Tracer | None,
) -> tuple[EngineConfig, pykka.ActorRef[Any]]:
    """Check a Mediator's options, open its store and start its Scheduler.

    Every option is checked before the store opens; what a previous run left unfinished
    is taken before anything new can be admitted.
    """
    if not isinstance(tune_gc, bool):
        msg = f"tune_gc must be True or False, got {tune_gc!r:.40}"
        raise TypeError(msg)
    check_options(runners, runner_batch, lease_seconds, poll_interval)
    gate = AdmissionGate(capacity, full_mode)
    # A threadless runtime (the harness's) runs a blocked schedule() as it runs a wait.
    gate.drive = getattr(runtime, "drive_until", None)
    gate.runners = runners
    check_hooks(store, clock, on_shed, owner)
    check_unheld(store, runtime)
    the_store = open_store(store) if isinstance(store, str) else store
    config = EngineConfig.build(
        workflows,
        the_store,
        clock or SystemClock(),
        gate,
        runtime or ThreadingRuntime(),
        runners=runners,
        on_shed=on_shed,
        ids=ids,
        runner_batch=runner_batch,
        metrics=guarded(metrics),
        lease_seconds=lease_seconds,
        poll_interval=poll_interval,
        owner=owner,
        tracer=guarded_tracer(tracer),
    )
    # A store that commits in groups waits for more slices only while this engine
    # has work under way: bigger groups under load, no wait for a lone case.
    the_store.pace(config.channel.busy)
    # Take what a previous run left unfinished before anything new can be admitted:
    # on a shared store, only the cases no live worker holds.
    now = config.clock.now()
    resume = take_unfinished(config, capacity, lease_seconds, poll_interval, now)
    cls = config.runtime.actor_class(Scheduler)  # type: ignore[type-abstract]
    return config, cls.start(config, runners, resume, now)


def take_unfinished(
    config: EngineConfig, capacity: int, lease_seconds: float, poll_interval: float, now: float
) -> list[JobRecord]:
    """The jobs a previous run left unfinished, to resume.

    On a shared store, only the cases no live worker holds (up to ``capacity``), which
    are leased to this worker as they are taken.
    """
    store = config.store
    if not store.shared:
        return store.unfinished()
    warn_short_lease(lease_seconds, poll_interval)
    store.owner = config.owner
    store.lease_seconds = lease_seconds
    own = own_leases(store, config.owner, now)  # before they are taken back
    resume = store.claim(
        config.owner,
        now,
        lease_seconds,
        limit=capacity,
        reclaim=True,
        workflows=config.workflows,
    )
    log_leases_held(store, config.owner, now, own)
    return resume
