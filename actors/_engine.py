"""What one Mediator's actors share: workflows, store, clock, admission gate, handles."""

from __future__ import annotations

import itertools
import math
import os
import socket
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from actors._cases import batch_cases, case_data, new_case, valid_id
from actors._channel import WorkChannel
from actors._errors import JobExistsError, UnknownWorkflowError
from actors._handle import JobHandle
from actors._job import JobRecord
from actors._redact import redacted_logger
from actors.messages import Admitted, CaseFinished, JobShed

if TYPE_CHECKING:
    import pykka

    from actors._admission import AdmissionGate
    from actors._clock import Clock
    from actors._job import Job
    from actors._runtime import Runtime
    from actors._workflow import Workflow
    from actors.metrics import Metrics
    from actors.stores import Store
    from actors.tracing import Tracer

__all__ = ["Engine", "job_log", "logger"]

logger = redacted_logger("actors")


def job_log(job: JobRecord | None) -> dict[str, Any]:
    """``extra=`` for a log record about ``job``: its id, step and attempt as attributes.

    Every record the engine logs about a job carries ``job_id``, ``step`` and
    ``attempt`` (``None`` when no job is involved), so a formatter or a structured
    handler can use them.
    """
    if job is None:
        return {"job_id": None, "step": None, "attempt": None}
    return {"job_id": job.id, "step": job.step, "attempt": job.attempt}


def _unique_ids() -> Callable[[], str]:
    """Ids unique across processes: a random prefix per engine, then a counter (fast)."""
    prefix = uuid.uuid4().hex[:16]
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter):x}"


class Engine:
    """Configuration and cross-actor registries owned by one Mediator (no globals)."""

    def __init__(  # noqa: PLR0913 - the Mediator's options, passed through
        self,
        workflows: list[Workflow],
        store: Store,
        clock: Clock,
        gate: AdmissionGate,
        runtime: Runtime,
        *,
        runners: int = 1,
        on_shed: Callable[[Job], Any] | None = None,
        ids: Callable[[], str] | None = None,
        runner_batch: int = 32,
        metrics: Metrics | None = None,
        lease_seconds: float = 15.0,
        poll_interval: float = 1.0,
        owner: str | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.workflows: dict[tuple[str, int], Workflow] = {}
        self.latest: dict[str, Workflow] = {}
        for wf in workflows:
            if wf.key in self.workflows:
                msg = f"workflow {wf.name!r} version {wf.version} is registered twice"
                raise ValueError(msg)
            self.workflows[wf.key] = wf
            if wf.name not in self.latest or self.latest[wf.name].version < wf.version:
                self.latest[wf.name] = wf
        self.store = store
        self.clock = clock
        self.gate = gate
        self.channel = WorkChannel(gate, runners)
        self.runner_refs: list[pykka.ActorRef[Any]] = []  # filled by the Scheduler
        self.runtime = runtime
        self.on_shed = on_shed
        self.new_id: Callable[[], str] = ids or _unique_ids()
        # Jobs a runner may run back to back within one delivery before it yields to its
        # inbox: fewer messages under load; 1 makes every job its own delivery.
        self.runner_batch = runner_batch
        self.metrics = metrics
        self.tracer = tracer
        # Who this process is to other workers on a shared store, and its lease rhythm.
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        # On a shared store a runner starts a step only while this worker can vouch for
        # its leases: until ``lease_deadline``, its last successful renewal (or claim)
        # plus the lease, less a margin for clock drift between workers. A worker that
        # was frozen past it (SIGSTOP, a GC pause, a suspended VM) hands its jobs back to
        # the Scheduler, which renews and drops the cases taken over before any runs on.
        self.vouch_leases = store.shared
        self.lease_margin = lease_seconds / 4
        self.lease_deadline = math.inf if not store.shared else -math.inf
        # Cases another worker took over from this one, kept by the Scheduler (which
        # alone changes it); runners read it to stop before the next step of one.
        self.lost_cases: OrderedDict[str, None] = OrderedDict()
        self.stopping = False  # set on a non-draining shutdown: runners stop between steps
        # Called by a Runner just before each step as ``step_hook(runner, job, step)``. None
        # in production; the deterministic harness (actors.testing) observes steps here and
        # raises from it to crash a runner between two steps.
        self.step_hook: Callable[[int, JobRecord, Any], None] | None = None
        self.scheduler: pykka.ActorRef[Any] = None  # type: ignore[assignment]  # set on start
        # Futures of cases not yet ended, by case id: single dict operations, atomic on
        # their own, so producers and the Scheduler never contend for a lock here. A
        # future is dropped when its case ends, so finished cases are not retained.
        self._futures: dict[str, pykka.Future[Any]] = {}
        self._reply_to: dict[str, pykka.ActorRef[Any]] = {}

    def vouch(self, now: float) -> None:
        """Every lease this worker holds was renewed (or taken) at ``now``."""
        self.lease_deadline = now + self.lease_seconds - self.lease_margin

    def may_run(self, job: JobRecord) -> bool:
        """Whether a runner may start a step of ``job`` now (its case's lease is vouched for)."""
        if not self.vouch_leases:
            return True
        return job.case_id not in self.lost_cases and self.clock.now() < self.lease_deadline

    def workflow(self, name: str, version: int | None = None) -> Workflow:
        """The registered workflow ``name`` (newest version unless ``version`` is given)."""
        wf = self.latest.get(name) if version is None else self.workflows.get((name, version))
        if wf is None:
            known = ", ".join(f"{n} v{v}" for n, v in sorted(self.workflows)) or "none"
            what = repr(name) if version is None else f"{name!r} version {version}"
            msg = f"no workflow {what} is registered (known: {known})"
            raise UnknownWorkflowError(msg)
        return wf

    def watch(self, case_id: str, handle: JobHandle, reply_to: Any = None) -> None:
        """Remember who to tell when case ``case_id`` ends."""
        self._futures[case_id] = handle._future
        if reply_to is not None:
            self._reply_to[case_id] = reply_to

    def unwatch(self, case_id: str) -> None:
        """Forget a case whose admission was refused."""
        self._futures.pop(case_id, None)
        self._reply_to.pop(case_id, None)

    def resolve(self, job: Job) -> None:
        """The case ``job`` is the root of has ended: resolve its handle, tell its actor."""
        future = self._futures.pop(job.case_id, None)
        reply_to = self._reply_to.pop(job.case_id, None)
        if future is not None:
            future.set(job)
        if reply_to is not None and reply_to.is_alive():
            reply_to.tell(CaseFinished(job))

    def fail_case(self, case_id: str, error: BaseException) -> bool:
        """Resolve the handle of case ``case_id`` with ``error`` (this worker lost the case)."""
        future = self._futures.pop(case_id, None)
        self._reply_to.pop(case_id, None)
        if future is None:
            return False
        future.set_exception((type(error), error, None))
        return True

    def fail_all(self, error: BaseException) -> int:
        """Resolve every handle still waiting with ``error`` (the engine stopped)."""
        futures = [self._futures.pop(k, None) for k in list(self._futures)]
        self._reply_to.clear()
        for future in futures:
            if future is not None:
                future.set_exception((type(error), error, None))
        return len(futures)

    # -- admission --------------------------------------------------------------------------

    def admit(
        self,
        workflow: str,
        data: Any,
        *,
        version: int | None = None,
        timeout: float | None = None,
        block: bool = True,
        reply_to: Any = None,
        job_id: str | None = None,
    ) -> JobHandle:
        """Validate, copy, save and queue a new case; return its handle.

        Nothing is half-admitted: every check runs before a slot is taken, and a refused
        job is removed from the store before ``MailboxFull`` reaches the caller.
        """
        wf = self.workflow(workflow, version)
        data = self.copy_data(wf.name, data)
        if job_id is None:
            job_id = self.new_id()
        elif not valid_id(job_id):
            msg = f"job_id must be a non-empty string without '/', got {job_id!r}"
            raise ValueError(msg)
        elif self.store.get(job_id) is not None:
            msg = f"a job with id {job_id!r} already exists in {self.store.url}"
            raise JobExistsError(msg)
        job = new_case(wf, job_id, data)
        handle = JobHandle(job_id, wf.name, self.runtime.create_future())
        evicted = self.gate.reserve(timeout=timeout, block=block)
        if evicted is not None:
            self.scheduler.tell(JobShed(evicted))
        self.watch(job_id, handle, reply_to)
        try:
            self.store.create(job)
        except BaseException:
            self.gate.release()
            self.unwatch(job_id)
            raise
        if self.gate.commit(job):
            self.scheduler.tell(Admitted())
        if self.metrics is not None:
            self.metrics.admitted(wf.name, len(self.gate))
        return handle

    def admit_many(
        self,
        workflow: str,
        items: Iterable[Any],
        *,
        version: int | None = None,
        timeout: float | None = None,
        block: bool = True,
        job_ids: Sequence[str] | None = None,
    ) -> list[JobHandle]:
        """Validate, copy, save and queue a batch of new cases together: all, or none.

        Every check runs before any slot is taken; the batch takes its slots at once
        (``AdmissionGate.reserve_many``) and is saved with one ``create_many``, so a
        failure anywhere leaves nothing of it admitted.
        """
        wf = self.workflow(workflow, version)
        jobs = batch_cases(self.store, wf, items, job_ids, self.new_id)
        if not jobs:
            return []
        handles = [JobHandle(job.id, wf.name, self.runtime.create_future()) for job in jobs]
        for evicted in self.gate.reserve_many(len(jobs), timeout=timeout, block=block):
            self.scheduler.tell(JobShed(evicted))
        for job, handle in zip(jobs, handles, strict=True):
            self.watch(job.id, handle)
        try:
            self.store.create_many(jobs)
        except BaseException:
            self.gate.release(len(jobs))
            for job in jobs:
                self.unwatch(job.id)
            raise
        wake = False
        for job in jobs:
            wake = self.gate.commit(job) or wake
        if wake:
            self.scheduler.tell(Admitted())
        if self.metrics is not None:
            for _ in jobs:
                self.metrics.admitted(wf.name, len(self.gate))
        return handles

    def copy_data(self, workflow: str, data: Any) -> Any:
        """A private deep copy of a case's input (the caller may keep mutating theirs)."""
        return case_data(workflow, data, self.store.codec)
