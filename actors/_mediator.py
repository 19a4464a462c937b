"""``Mediator``: the facade that owns one Scheduler, N Runners, a store and a clock."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pykka

from actors import _gc_pace
from actors import messages as m
from actors._admission import FullMode
from actors._admit import Admissions
from actors._clock import Clock
from actors._copy import copy_data
from actors._engine import logger
from actors._errors import EngineStoppedError
from actors._mediator_calls import ask_scheduler, need_job_id, read_job, refuse_admission
from actors._mediator_options import hold_store, not_started, wait_bound
from actors._mediator_start import start_engine
from actors._outcomes import CancelOutcome
from actors._runtime import Runtime
from actors._served import deliver_unserved
from actors._shutdown import drain_and_stop, refuse_from_task
from actors._workflow import Workflow, workflow_list
from actors.stores import Store
from actors.stores._admin_types import Request

if TYPE_CHECKING:
    from types import TracebackType

    from actors._handle import JobHandle
    from actors._job import Job
    from actors._outcomes import EventOutcome, Stats
    from actors.metrics import Metrics
    from actors.tracing import Tracer

__all__ = ["Mediator"]


class Mediator:
    """Runs workflows: one Scheduler actor, ``runners`` Runner actors, a store and a clock.

    Use it as a context manager; leaving the block drains (or, after an exception,
    stops) the engine. Each Mediator owns its actors, store and clock, so several can
    run side by side in one process.

    Args:
        workflows: the workflows this mediator can run, looked up by name (and version).
        runners: how many Runner actors (threads) execute steps; 1 to ``MAX_RUNNERS``
            (1024).
        capacity: how many external jobs may be admitted and not yet started; 1 to
            ``MAX_CAPACITY`` (100,000). On a shared store, also the most cases in
            progress the worker claims.
        full_mode: what ``schedule()`` does when that many are queued.
        store: a ``Store`` or a store URL (``"memory://"``).
        on_shed: called with the snapshot of every job evicted under ``DROP_OLDEST``, on
            the Scheduler's thread: keep it short, and do not call this Mediator from it
            (a call that asks the Scheduler raises ``RuntimeError`` there).
        clock: the source of time (a virtual clock in tests); system time by default.
        runtime: the actor runtime (threads by default; ``actors.testing`` has another).
        ids: a factory of job ids (by default: a random prefix, a counter and a random
            tag, so that no id can be told before it is made). Each id
            it makes must be new to the store and follow the id rule; a case it names
            badly is refused (``ValueError``; ``JobExistsError`` for an id it made
            before), and a split it cannot name (the factory raises, or makes an id the
            store holds or it made before, stored yet or not) faults at the split,
            never writing over another job.
        runner_batch: how many jobs a runner may run back to back in one delivery
            before it yields to its inbox (throughput under load vs. interleaving
            granularity; the deterministic harness uses 1).
        metrics: a hook told about admissions, sheds, starts, ends and step times
            (see ``actors.metrics``); none by default.
        lease_seconds: on a shared (SQL) store, how long this worker's hold on a case
            lasts without a heartbeat; after a crash its cases resume elsewhere once
            their leases expire.
        poll_interval: on a shared store, how often the worker renews its leases and
            looks for cases to take over (new, released, or left by a dead worker).
        owner: this worker's name on a shared store (unique among live workers; by
            default host, process id and a random suffix). A worker restarted under
            the same name takes its unfinished cases back at once, without waiting for
            their leases to expire: as many as ``capacity`` allows, and the others are
            freed for its next polls or another worker.
        tracer: wraps every step (``actors.tracing.OpenTelemetryTracer`` makes a span per
            step, one trace per case); none by default.
        tune_gc: while a Mediator runs, the cyclic garbage collector's first threshold
            is raised to 10,000 (CPython's default is 700) unless it is higher already or
            0 (collection turned off); the last Mediator of the process to shut down
            puts back the thresholds the first one found, unless the program changed
            them meanwhile. A Mediator never shut down keeps it raised. The collector's
            walks over the records a running engine keeps cost a quarter to two fifths
            of W's time in memory. ``False`` leaves the collector as it is.
    """

    def __init__(  # noqa: PLR0913 - every option is a keyword with a default
        self,
        workflows: Iterable[Workflow],
        *,
        runners: int = 4,
        capacity: int = 100,
        full_mode: FullMode = FullMode.BACKPRESSURE,
        store: Store | str = "memory://",
        on_shed: Callable[[Job], Any] | None = None,
        clock: Clock | None = None,
        runtime: Runtime | None = None,
        ids: Callable[[], str] | None = None,
        runner_batch: int = 32,
        metrics: Metrics | None = None,
        lease_seconds: float = 15.0,
        poll_interval: float = 1.0,
        owner: str | None = None,
        tracer: Tracer | None = None,
        tune_gc: bool = True,
    ) -> None:
        config, self._scheduler = start_engine(
            workflow_list(workflows, "Mediator(workflows)"),  # before a store opens
            store,
            clock,
            runtime,
            tune_gc=tune_gc,
            runners=runners,
            capacity=capacity,
            full_mode=full_mode,
            on_shed=on_shed,
            ids=ids,
            runner_batch=runner_batch,
            metrics=metrics,
            lease_seconds=lease_seconds,
            poll_interval=poll_interval,
            owner=owner,
            tracer=tracer,
        )
        self._engine = config
        self._closed = False
        self._drained = False  # what shutdown() answers (again, if called again)
        self._stopping = threading.RLock()  # one shutdown at a time
        self._admissions = Admissions(config, self._scheduler.tell)
        self._gc_held = False
        if not getattr(config.runtime, "starts_synchronously", False):
            # Answered after on_start: the runners run and what the store held is resumed.
            try:
                self._ask(m.GetStats(), "Mediator()")
            except EngineStoppedError as exc:
                self.shutdown(drain=False)  # what it opened and claimed is let go
                raise not_started(config.stop.failure, exc) from config.stop.failure
        hold_store(config.store, config.gate)
        self._gc_held = tune_gc
        if self._gc_held:
            _gc_pace.hold()

    # -- the public surface ---------------------------------------------------------------------

    @property
    def scheduler(self) -> pykka.ActorRef[Any]:
        """The Scheduler's actor ref: other actors may ``ask`` it ``messages.Schedule``.

        Stopping it (or a runner, or all actors) stops the engine without a drain; a
        ``shutdown()`` after it still waits for the steps running, then closes the store.
        """
        return self._scheduler

    @property
    def store(self) -> Store:
        """The job store."""
        return self._engine.store

    def schedule(
        self,
        workflow: str,
        data: Any = None,
        *,
        version: int | None = None,
        timeout: float | None = None,
        job_id: str | None = None,
    ) -> JobHandle:
        """Admit a new case of ``workflow`` with a private copy of ``data``.

        Under ``BACKPRESSURE`` this blocks while the mailbox is full (``timeout`` seconds
        at most, then ``MailboxFull``); ``DROP_NEWEST`` raises ``MailboxFull`` at once;
        ``DROP_OLDEST`` evicts the oldest queued job to make room. Raises
        ``UnknownWorkflowError`` for an unknown name, ``CodecError`` for data that cannot
        be copied, and ``EngineStoppedError`` after shutdown, each before anything is
        admitted. ``job_id`` names the case (a business key such as ``"order-17"``): a
        non-empty string without ``/`` or control characters (NUL, a newline, a tab...),
        with no white space at either end, at most 500 characters long, which every
        store can index (``ValueError`` otherwise, before anything is admitted);
        scheduling an id the store already holds, or one another caller is admitting
        at the same moment, raises ``JobExistsError``, so a producer that restarts
        cannot admit the same case twice and a stored case is never replaced.
        """
        refuse_admission(self._engine, self._closed, "Mediator.schedule()")
        timeout = wait_bound(timeout)
        return self._admissions.admit(
            workflow, data, version=version, timeout=timeout, job_id=job_id
        )

    def schedule_many(
        self,
        workflow: str,
        items: Iterable[Any],
        *,
        version: int | None = None,
        timeout: float | None = None,
        job_ids: Sequence[str] | None = None,
    ) -> list[JobHandle]:
        """Admit one new case of ``workflow`` per item of ``items``, all together or none.

        The batch is checked whole first (unknown workflow, data that cannot be copied,
        and with ``job_ids``, one well-formed new id per item), then takes its mailbox
        slots at once and is saved in one transaction: a durable store commits it once
        rather than once per case. Under ``BACKPRESSURE`` this blocks until the mailbox
        has room for the whole batch (``timeout`` seconds at most, then ``MailboxFull``);
        ``DROP_NEWEST`` refuses a batch that does not fit; ``DROP_OLDEST`` evicts queued
        jobs to make room. A batch larger than the capacity raises ``ValueError``. On any
        error nothing of the batch is admitted; errors about one item name its position
        (``batch item 3: ...``). Handles come back in the order of ``items``.
        """
        refuse_admission(self._engine, self._closed, "Mediator.schedule_many()")
        timeout = wait_bound(timeout)
        return self._admissions.admit_many(
            workflow, items, version=version, timeout=timeout, job_ids=job_ids
        )

    def receive_event(
        self, correlation_id: str, event: Any = None, *, fault: bool = False
    ) -> EventOutcome:
        """Deliver an external event: a ``RequestReaction`` reply or a ``DeferredChoice`` event.

        Never raises for a stray event: the result says whether it was delivered, a
        duplicate, late, for a finished job, or unknown (also logged). A job of a workflow
        version not served here, its case held by no live worker, gets it in the store,
        unchecked, for a worker serving it. A payload follows the data rule of job data:
        one no store could keep raises ``CodecError`` (naming where the bad value sits)
        before anything is delivered, and the job still waits. ``TimeoutError`` when the
        Scheduler does not answer within 30 seconds (a hook holds its thread): the event
        is still queued and may yet be delivered.
        """
        if not isinstance(correlation_id, str):
            kind = type(correlation_id).__name__
            msg = f"a correlation id is a str, got {kind} {correlation_id!r:.40}"
            raise TypeError(msg)
        where = f"event payload for {correlation_id!r}"
        payload = copy_data(event, self._engine.store.codec, where)
        asked = m.DeliverEvent(correlation_id, payload, fault)
        outcome = self._ask(asked, "Mediator.receive_event()")
        return deliver_unserved(self._engine, outcome, correlation_id, payload, fault)

    def cancel(self, job_id: str) -> CancelOutcome:
        """Cancel a job and every branch below it; its timers and pending events are withdrawn.

        A running step finishes, but nothing after it runs (the cancel is stored at once:
        should the process die first, the job is cancelled on the next start). A case
        this Mediator does
        not run (a workflow version it does not serve, a case another worker holds) is
        cancelled as ``Admin.cancel`` does it: in the store, or by the worker holding it.
        A cancel that comes as the job's runner ends its slice (its last step run) is
        answered once the runner has reported: ``ALREADY_FINISHED`` if the slice ended
        the job (``DONE``, ``FAULTED``, arrived at its join), else ``CANCELLED``.
        ``TimeoutError`` when the answer does not come within 30 seconds (a hook holds
        the Scheduler's thread, a store does not answer the runner's save): the cancel
        is taken or still queued, and may yet be carried out. ``EngineStoppedError`` when
        the Mediator shuts down before that runner reported. ``TypeError`` for an id that
        is no str.
        """
        need_job_id(job_id, "Mediator.cancel(job_id)")
        outcome: CancelOutcome | None = self._ask(m.CancelJob(job_id), "Mediator.cancel()")
        if outcome is not None:
            return outcome
        from actors.admin import Admin  # the operator's API builds on this one: no cycle

        with Admin(self._engine.store, operator=f"mediator {self._engine.owner}") as admin:
            return CancelOutcome(admin.cancel(job_id).outcome)

    def _operator_action(
        self, kind: str, case_id: str, job_id: str, payload: Any, operator: str
    ) -> str:
        """Carry out an ``Admin``'s cancel or event and record it in the job's history."""
        request = Request(0, case_id, job_id, kind, payload, operator, time.time())
        outcome: str = self._ask(m.OperatorAction(request), f"an operator's {kind}")
        return outcome

    def stats(self) -> Stats:
        """Queue depths, counters and the admission high-water mark.

        ``TimeoutError`` when the Scheduler does not answer within 30 seconds (a hook
        holds its thread).
        """
        stats: Stats = self._ask(m.GetStats(), "Mediator.stats()")
        return stats

    def get_job(self, job_id: str) -> Job:
        """The job as last saved (``JobNotFoundError`` if the store has no such job).

        ``TypeError`` for an id that is no str (``None``: a request that left it out).

        Its data is the caller's own (a copy): changing it changes nothing stored, and a
        read of a running job gives its data as last saved, not as its step changes it.
        With a SQL store's default ``commit="group"`` a job's steps are stored once it
        parks, splits, joins or ends: until then it reads as it was when its runner took
        it (``READY`` at that step).

        After ``shutdown()``, ``EngineStoppedError`` on a durable store (it is closed).
        """
        need_job_id(job_id, "Mediator.get_job(job_id)")
        return read_job(self._engine, job_id, self._closed)

    def _take_case(self, case_id: str) -> int:
        """Take case ``case_id`` now (an operator made it runnable again); jobs taken."""
        taken: int = self._ask(m.TakeCase(case_id), "taking a case back")
        return taken

    def shutdown(self, *, drain: bool = True, timeout: float | None = None) -> bool:
        """Stop the engine; whether it was drained. Idempotent.

        Admission closes first (``schedule()`` raises ``EngineStoppedError``, blocked
        producers wake with it). With ``drain=True`` the call then waits (up to
        ``timeout``) until no job is queued, ready or running: every admitted case runs
        until it ends or parks on a timer or event. With ``drain=False`` runners stop
        after their current step. Jobs still parked or unstarted stay saved in the store
        (a durable store resumes them on the next start); their handles raise
        ``EngineStoppedError``.

        ``timeout`` bounds the drain, then, once more, the wait for running steps to
        end. A drain that runs out of it stops the engine anyway (a WARNING says so). A
        step still running then is not waited for (a WARNING names it): the store is
        closed under it, its save is refused, and its job runs that step again on the
        next start. Once this returns, the engine writes nothing more to the store.
        Never raises ``pykka.Timeout``. Called from a task (or a request's ``send``) that
        this Mediator runs, it raises ``RuntimeError``: it would wait for that task.

        Returns:
            ``True`` when the engine was drained: ``drain=True``, the drain finished
            within ``timeout``, and every actor stopped in time. ``False`` when the
            drain ran out of time (work was left unfinished), when the engine could not
            be drained (``drain=False``, or its Scheduler had failed or been stopped),
            or when a step was still running when time ran out. A second call (from any
            thread) waits for the first to end, and returns what it did.
        """
        timeout = wait_bound(timeout)  # before admission closes: a bad one changes nothing
        if os.getpid() != self._engine.pid:  # a forked child: the parent's engine and store stay
            logger.warning("shutdown() in a child process forked after the Mediator was made")
            return False
        refuse_from_task(self._engine)  # before the lock: that shutdown may wait for it
        with self._stopping:  # re-entrant: the harness drives a drain on the caller's thread
            if self._closed:
                return self._drained
            try:
                self._closed = True  # with the gate, which drain_and_stop closes first
                self._drained = drain_and_stop(self._engine, self._scheduler, drain, timeout)
                return self._drained
            finally:
                if self._gc_held:
                    self._gc_held = False
                    _gc_pace.release()

    def __enter__(self) -> Mediator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown(drain=exc_type is None)

    def _ask(self, message: Any, call: str) -> Any:
        return ask_scheduler(self._engine, self._scheduler, message, call)
