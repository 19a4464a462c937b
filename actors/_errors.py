"""Exception hierarchy: one root, one class per thing that can go wrong."""

from __future__ import annotations

__all__ = [
    "ActorsError",
    "CodecError",
    "EngineStoppedError",
    "JobExistsError",
    "JobNotFoundError",
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


class CodecError(ActorsError, TypeError):
    """Job data cannot be encoded to (or decoded from) the store's JSON form."""
