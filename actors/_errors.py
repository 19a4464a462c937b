"""Exception hierarchy: one root, one class per thing that can go wrong."""

from __future__ import annotations

import threading

from actors._stamps import operator_of

__all__ = [
    "ActorsError",
    "CodecError",
    "EngineStoppedError",
    "JobExistsError",
    "JobNotFoundError",
    "LeaseLostError",
    "MailboxFull",
    "StoreError",
    "UnknownWorkflowError",
    "WorkflowDefinitionError",
]


class ActorsError(Exception):
    """Root of every error the engine raises on purpose."""


class WorkflowDefinitionError(ActorsError, ValueError):
    """A workflow definition is malformed; the message names the workflow, the step and the fix."""


class MailboxFull(ActorsError):  # noqa: N818 - the name is part of the public contract
    """The Scheduler refused a new job: its admission mailbox is at capacity.

    Raised by ``schedule()`` under ``FullMode.DROP_NEWEST``, and under
    ``FullMode.BACKPRESSURE`` when the caller's ``timeout`` passes first.
    """


class UnknownWorkflowError(ActorsError, LookupError):
    """No workflow with this name (and version) is registered with the Mediator."""


class JobNotFoundError(ActorsError, LookupError):
    """No job with this id exists in the store."""


class JobExistsError(ActorsError, ValueError):
    """``schedule(job_id=...)`` names a job that already exists (admission is idempotent)."""


class EngineStoppedError(ActorsError, RuntimeError):
    """The Mediator is shut down (or shutting down) and accepts no new work."""


class StoreError(ActorsError):
    """A job store could not be opened, read or written."""

    blames_job = True
    """Whether a runner that dies of it counts that against its job (three in a row at one
    step fault the job). ``False`` when the database could not be reached: that says
    nothing of the job, which waits for the store and runs again."""

    stops_worker = False
    """Whether no write of this process can reach the store again, whatever it waits for
    (a SQLite file's -wal deleted under it): a running worker then stops, so that its
    supervisor starts it afresh, instead of waiting for a store that cannot come back."""


class SchemaTooNewError(StoreError):
    """The store's schema has a migration this release does not know and must not write past.

    Raised when such a store is opened, and by a running worker's lease renewal once a
    newer release applied such a migration under it: that worker then stops.
    """


class ForeignDatabaseError(StoreError):
    """The database holds another application's tables and no actors schema.

    A SQLite file, or the PostgreSQL schema the store's tables would be made in (its
    session's current schema). Raised when a store is opened on it (by a worker, a
    command, a ``Mediator`` or ``Admin``); nothing was written to it.
    """


class CodecError(ActorsError, TypeError):
    """Job data cannot be encoded to (or decoded from) the store's JSON form."""


class LeaseLostError(StoreError):
    """A save was fenced: the job's case is leased to another worker now; nothing was written.

    Raised on a shared store by ``save``, ``save_split`` and ``record_arrival`` of a
    worker whose lease on the case ran out (a long pause) and which another worker has
    taken over since. The engine stops working on the case; the new owner runs it.
    """

    def __init__(self, job_id: str, case_id: str, owner: str, worker: str | None = None) -> None:
        self.job_id = job_id
        self.case_id = case_id
        self.owner = owner
        self.worker = worker
        me = f" (this worker is {worker!r})" if worker is not None else ""
        operator = operator_of(owner)
        if operator is not None:  # made in the store, which left the case to the next claim
            super().__init__(
                f"job {job_id}: case {case_id} was changed in the store by operator "
                f"{operator!r} after this worker's lease on it lapsed{me}; nothing was written"
            )
            return
        super().__init__(
            f"job {job_id}: case {case_id} is now leased to worker {owner!r}{me}, "
            "which took it over; nothing was written"
        )

    def __reduce__(self) -> tuple[type[LeaseLostError], tuple[str, str, str, str | None]]:
        return (type(self), (self.job_id, self.case_id, self.owner, self.worker))


class StepCutShort(BaseException):
    """A task failed only because its own engine is shutting down (``EngineStoppedError``).

    It called ``schedule()`` after admission closed, say: not the job's fault. The job is
    neither retried nor faulted nor saved; it runs the step again on the next start. A
    ``BaseException``, so that no task-error path on the way to the runner takes it.
    """


def user_error(exc: BaseException) -> bool:
    """Whether ``exc``, raised by a user's callable, is that callable's failure.

    The callables are a task, ``send``, a merge, a spec, an ids factory, a hook and a
    tracer. Every exception is, and ``sys.exit()``'s ``SystemExit``. So is any other
    ``BaseException`` on an engine's thread (a ``KeyboardInterrupt`` or ``GeneratorExit``
    raised by hand, asyncio's ``CancelledError``, a library's own): pykka takes one
    there for a fatal error and stops every actor of the process, the application's own
    included, and the case's next start did it again. Not the engine's own stops
    (``StepCutShort``, the harness's, which keep its actors), nor one on the main thread,
    which is its caller's to handle: a Ctrl-C, or a test framework's stop
    (``pytest.fail()``, Hypothesis's end of data) under the harness, which runs tasks
    there, as a producer runs its ids factory. Nor one raised in another actor that the
    harness delivered inside the callable's call (a task's ask of a user's actor), for
    which the harness has stopped every actor, as pykka does.
    """
    if getattr(exc, "stopped_every_actor", False):
        # Raised in an actor the harness delivered inside this call (an ask of a user's
        # actor): every actor has stopped for it, and it is the test's to see.
        return False
    if isinstance(exc, Exception | SystemExit):
        return True
    if isinstance(exc, StepCutShort) or getattr(exc, "keeps_actors", False):
        return False
    return threading.current_thread() is not threading.main_thread()
