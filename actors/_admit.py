"""Admission: a new case is checked, copied, saved and queued, and its handle watched.

Producers admit on their own threads (``Mediator.schedule``), and the Scheduler admits
for an actor that sends it ``messages.Schedule``; both use an ``Admissions`` bound to the
Scheduler's ref, which they tell when a job was evicted or admission has work for it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pykka

from actors._cases import (
    batch_cases,
    case_data,
    check_items,
    id_refused,
    new_case,
    valid_id,
)
from actors._engine import job_log, logger
from actors._errors import JobExistsError, user_error
from actors._handle import JobHandle, owned
from actors._job import JobRecord, JobState
from actors.messages import Admitted, JobShed, Schedule, ScheduleRefused

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors._engine import EngineConfig
    from actors._job import Job
    from actors._workflow import Workflow

__all__ = ["Admissions"]


class Admissions:
    """Admits new cases into one engine, and tells its Scheduler what it must know."""

    SHED = "shed: evicted from the full admission mailbox (DROP_OLDEST)"

    @staticmethod
    def evicted(job: JobRecord) -> JobRecord:
        """``job`` (queued, not started) was evicted to make room: it ends SHED."""
        job.state, job.error = JobState.SHED, Admissions.SHED
        return job

    def __init__(self, config: EngineConfig, tell: Callable[[Any], Any]) -> None:
        self._c = config
        self._tell = tell  # the Scheduler's, given once it exists: nothing patched later
        self._ids = config.id_claims  # named ids being admitted now (see actors._id_claims)

    def _registered(self, workflow: Any, version: Any) -> Workflow:
        """The workflow a caller names; ``TypeError`` naming the argument given wrong."""
        if not isinstance(workflow, str):
            msg = (
                f"workflow must be a registered workflow's name (a str), got "
                f"{type(workflow).__name__} {workflow!r:.60}; the case's data comes second"
            )
            raise TypeError(msg)
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            msg = f"version must be an int or None, got {type(version).__name__} {version!r:.60}"
            raise TypeError(msg)
        return self._c.workflow(workflow, version)

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
        wf = self._registered(workflow, version)
        data = self.copy_data(wf.name, data)
        named = job_id is not None
        if job_id is None:
            job_id = self._c.new_id()
        elif not valid_id(job_id):
            raise id_refused(job_id)
        job = new_case(wf, job_id, data)
        handle = JobHandle(job_id, wf.name, self._c.runtime.create_future(), self._c)
        # A named id is this caller's until its admission is decided (another caller of
        # it waits for that), and the store's create refuses it if another process
        # stored it meanwhile.
        began = time.monotonic()
        claim = self._ids.take([job_id], block=block, timeout=timeout) if named else None
        reserved = watched = False
        try:
            found = self._c.store.get(job_id) if named else None
            if found is not None:
                raise JobExistsError(_exists(found, self._c.store.url))
            # One timeout for the whole call: what waiting for the id took is spent. (Only
            # then: a harness's wait for a slot is in virtual time, which the real time
            # this call took so far must not shorten.)
            left = timeout if claim is None else _left(timeout, began)
            evicted = self._c.gate.reserve(timeout=left, block=block)
            reserved = True
            if evicted is not None:
                self._tell(JobShed(evicted))
            if not self._c.handles.watch(job_id, handle, reply_to):
                raise JobExistsError(self._taken(job_id))
            watched = True
            self._c.store.create(job)
        except BaseException:
            if reserved:
                self._c.gate.release()
            if watched:
                self._c.handles.unwatch(job_id, handle)
            raise
        finally:
            if claim is not None:
                self._ids.give_back([job_id], claim)
        if self._c.gate.commit(job):
            self._tell(Admitted())
        if self._c.metrics is not None:
            self._c.metrics.admitted(wf.name, len(self._c.gate))
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
        wf = self._registered(workflow, version)
        check_items(items)
        if isinstance(job_ids, str | bytes):  # a sequence, but of characters
            msg = "job_ids must be a list of ids, one per item, not one string"
            raise TypeError(msg)
        named = sorted(set(job_ids)) if job_ids else []
        began = time.monotonic()
        claim = self._ids.take(named, block=block, timeout=timeout) if named else None
        try:
            left = timeout if claim is None else _left(timeout, began)
            return self._admit_batch(wf, items, timeout=left, block=block, job_ids=job_ids)
        finally:
            if claim is not None:
                self._ids.give_back(named, claim)

    def _admit_batch(
        self,
        wf: Workflow,
        items: Iterable[Any],
        *,
        timeout: float | None,
        block: bool,
        job_ids: Sequence[str] | None,
    ) -> list[JobHandle]:
        jobs = batch_cases(self._c.store, wf, items, job_ids, self._c.new_id)
        if not jobs:
            return []
        new_future = self._c.runtime.create_future
        handles = [JobHandle(job.id, wf.name, new_future(), self._c) for job in jobs]
        for evicted in self._c.gate.reserve_many(len(jobs), timeout=timeout, block=block):
            self._tell(JobShed(evicted))
        watched: list[tuple[str, JobHandle]] = []
        try:
            for job, handle in zip(jobs, handles, strict=True):
                if not self._c.handles.watch(job.id, handle):
                    raise JobExistsError(f"{self._taken(job.id)}; the whole batch is refused")
                watched.append((job.id, handle))
            self._c.store.create_many(jobs)
        except BaseException:
            self._c.gate.release(len(jobs))
            for job_id, handle in watched:
                self._c.handles.unwatch(job_id, handle)
            raise
        wake = False
        for job in jobs:
            wake = self._c.gate.commit(job) or wake
        if wake:
            self._tell(Admitted())
        if self._c.metrics is not None:
            for _ in jobs:
                self._c.metrics.admitted(wf.name, len(self._c.gate))
        return handles

    def _taken(self, job_id: str) -> str:
        """Why an id another handle of this process watches cannot be admitted now."""
        found = self._c.store.get(job_id)
        if found is not None:
            return _exists(found, self._c.store.url)
        return f"a job with id {job_id!r} is being admitted by another caller"

    def scheduled(self, msg: Schedule) -> JobHandle:
        """Admit the case an actor's ``Schedule`` asks for, on the Scheduler: never waits.

        A ``BaseException`` the application's code raises meanwhile (its ids factory) is
        raised as a ``RuntimeError``: pykka stops every actor of the process for one on
        an actor's thread, where the asker gets an ``Exception`` raised to it.
        """
        try:
            return self.admit(
                msg.workflow,
                msg.data,
                version=msg.version,
                block=False,
                reply_to=msg.reply_to,
                job_id=msg.job_id,
            )
        except BaseException as exc:
            if isinstance(exc, Exception) or not user_error(exc):
                raise
            why = f"admitting a case of {msg.workflow!r} raised {type(exc).__name__}: {exc}"
            raise RuntimeError(why) from exc

    @staticmethod
    def told_refused(schedule: Schedule, error: Exception) -> None:
        """A ``Schedule`` sent with tell was refused: log it, and tell its ``reply_to``."""
        logger.warning(
            "a Schedule of %r sent with tell was refused: %s: %s",
            schedule.workflow,
            type(error).__name__,
            error,
            extra=job_log(None),
        )
        if schedule.reply_to is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                schedule.reply_to.tell(ScheduleRefused(schedule, error))

    def shed(self, job: JobRecord) -> None:
        """``job`` was evicted from the full admission mailbox and saved SHED: say so.

        Counted in the metrics, logged, given to the ``on_shed`` hook and its handle.
        """
        if self._c.metrics is not None:
            self._c.metrics.shed(job.workflow)
        snapshot = job.snapshot()
        logger.warning(
            "job %s (%s) shed from the admission mailbox", job.id, job.workflow, extra=job_log(job)
        )
        if self._c.on_shed is not None:
            try:
                self._c.on_shed(owned(snapshot, self._c))  # the hook's own data
            except BaseException as exc:
                if not user_error(exc):
                    raise
                logger.exception("on_shed hook failed for job %s", job.id, extra=job_log(job))
        self._c.handles.resolve(snapshot)

    def copy_data(self, workflow: str, data: Any) -> Any:
        """A private deep copy of a case's input (the caller may keep mutating theirs)."""
        return case_data(workflow, data, self._c.store.codec)


def _left(timeout: float | None, began: float) -> float | None:
    """What is left of a caller's ``timeout`` that began at ``began`` (monotonic)."""
    if timeout is None:
        return None
    return max(0.0, timeout - (time.monotonic() - began))


def _exists(job: Job, url: str) -> str:
    """Why ``job``'s id cannot be admitted again: it is stored, and what to do instead."""
    said = f"a job with id {job.id!r} already exists in {url} ({job.state.value}"
    if job.state is JobState.SHED:  # never ran: a reset to its step runs it
        return (
            f"{said} before it ran; to run it, reset it to step {job.step!r}: actors jobs "
            "retry JOB --from STEP, or Admin.retry(job, from_step=...))"
        )
    if job.state is JobState.FAULTED:
        again = "actors jobs retry JOB, or Admin.retry"
        return f"{said} at step {job.step!r}; to run it again: {again})"
    if job.state.is_final:
        return f"{said})"
    return f"{said} at step {job.step!r}: under way)"
