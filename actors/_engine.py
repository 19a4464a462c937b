"""What one Mediator's actors share: workflows, store, clock, admission gate, handles."""

from __future__ import annotations

import copy
import itertools
import logging
import threading
import uuid
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from actors._errors import CodecError, UnknownWorkflowError
from actors._handle import JobHandle
from actors._job import JobRecord
from actors.messages import Admitted, CaseFinished, JobShed

if TYPE_CHECKING:
    import pykka

    from actors._admission import AdmissionGate
    from actors._clock import Clock
    from actors._job import Job
    from actors._runtime import Runtime
    from actors._workflow import Workflow
    from actors.stores import Store

__all__ = ["Engine", "logger"]

logger = logging.getLogger("actors")


def _unique_ids() -> Callable[[], str]:
    """Ids unique across processes: a random prefix per engine, then a counter (fast)."""
    prefix = uuid.uuid4().hex[:16]
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter):x}"


class Engine:
    """Configuration and cross-actor registries owned by one Mediator (no globals)."""

    def __init__(
        self,
        workflows: list[Workflow],
        store: Store,
        clock: Clock,
        gate: AdmissionGate,
        runtime: Runtime,
        *,
        on_shed: Callable[[Job], Any] | None = None,
        ids: Callable[[], str] | None = None,
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
        self.runtime = runtime
        self.on_shed = on_shed
        self.new_id: Callable[[], str] = ids or _unique_ids()
        self.stopping = False  # set on a non-draining shutdown: runners stop between steps
        self.scheduler: pykka.ActorRef[Any] = None  # type: ignore[assignment]  # set on start
        self._handles: weakref.WeakValueDictionary[str, JobHandle] = (
            weakref.WeakValueDictionary()
        )
        self._reply_to: dict[str, pykka.ActorRef[Any]] = {}
        self._lock = threading.Lock()

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
        """Remember who to tell when case ``case_id`` ends (weakly: a dropped handle frees it)."""
        with self._lock:
            self._handles[case_id] = handle
            if reply_to is not None:
                self._reply_to[case_id] = reply_to

    def unwatch(self, case_id: str) -> None:
        """Forget a case whose admission was refused."""
        with self._lock:
            self._handles.pop(case_id, None)
            self._reply_to.pop(case_id, None)

    def resolve(self, job: Job) -> None:
        """The case ``job`` is the root of has ended: resolve its handle, tell its actor."""
        with self._lock:
            handle = self._handles.pop(job.case_id, None)
            reply_to = self._reply_to.pop(job.case_id, None)
        if handle is not None:
            handle._future.set(job)  # noqa: SLF001 - the engine owns its handles' futures
        if reply_to is not None and reply_to.is_alive():
            reply_to.tell(CaseFinished(job))

    def fail_all(self, error: BaseException) -> int:
        """Resolve every handle still waiting with ``error`` (the engine stopped)."""
        with self._lock:
            handles = list(self._handles.values())
            self._handles.clear()
            self._reply_to.clear()
        for handle in handles:
            handle._future.set_exception((type(error), error, None))  # noqa: SLF001
        return len(handles)

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
    ) -> JobHandle:
        """Validate, copy, save and queue a new case; return its handle.

        Nothing is half-admitted: every check runs before a slot is taken, and a refused
        job is removed from the store before ``MailboxFull`` reaches the caller.
        """
        wf = self.workflow(workflow, version)
        data = self.copy_data(wf.name, data)
        job_id = self.new_id()
        job = JobRecord(
            id=job_id,
            case_id=job_id,
            workflow=wf.name,
            version=wf.version,
            step=wf.start,
            data=data,
        )
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
        return handle

    def copy_data(self, workflow: str, data: Any) -> Any:
        """A private deep copy of a case's input (the caller may keep mutating theirs)."""
        try:
            return copy.deepcopy(data)
        except Exception as exc:
            msg = (
                f"data for workflow {workflow!r} cannot be copied for its branches "
                f"({type(exc).__name__}: {exc}); pass plain values, dicts, lists or dataclasses"
            )
            raise CodecError(msg) from exc
