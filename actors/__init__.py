"""actors: a workflow engine on pykka actors.

Workflows are graphs of steps run by a Scheduler actor and N Runner actors, with a
bounded admission mailbox, parallel branches, joins, timers, external events and a
store that saves every step.
"""

from __future__ import annotations

import logging

from actors._admission import FullMode
from actors._client import enqueue, enqueue_many
from actors._clock import Alarm, Clock, SystemClock
from actors._errors import (
    ActorsError,
    CodecError,
    EngineStoppedError,
    JobExistsError,
    JobNotFoundError,
    LeaseLostError,
    MailboxFull,
    StoreError,
    UnknownWorkflowError,
    WorkflowDefinitionError,
)
from actors._handle import JobHandle
from actors._job import Job, JobState, StepContext
from actors._mediator import Mediator
from actors._merges import merge_changes
from actors._outcomes import CancelOutcome, EventOutcome, Stats
from actors._spec import Spec
from actors._steps import (
    DeferredChoice,
    Discriminator,
    ExclusiveChoice,
    ParallelSplit,
    RequestReaction,
    Retry,
    Sequential,
    SimpleMerge,
    Step,
    Synchronize,
    Wait,
)
from actors._version import __version__
from actors._workflow import Workflow

__all__ = [
    "ActorsError",
    "Alarm",
    "CancelOutcome",
    "Clock",
    "CodecError",
    "DeferredChoice",
    "Discriminator",
    "EngineStoppedError",
    "EventOutcome",
    "ExclusiveChoice",
    "FullMode",
    "Job",
    "JobExistsError",
    "JobHandle",
    "JobNotFoundError",
    "JobState",
    "LeaseLostError",
    "MailboxFull",
    "Mediator",
    "ParallelSplit",
    "RequestReaction",
    "Retry",
    "Sequential",
    "SimpleMerge",
    "Spec",
    "Stats",
    "Step",
    "StepContext",
    "StoreError",
    "Synchronize",
    "SystemClock",
    "UnknownWorkflowError",
    "Wait",
    "Workflow",
    "WorkflowDefinitionError",
    "__version__",
    "enqueue",
    "enqueue_many",
    "merge_changes",
]

logging.getLogger("actors").addHandler(logging.NullHandler())
