"""Every message the Scheduler and Runners exchange, as frozen slotted dataclasses.

Two are public: another actor schedules a case by sending ``Schedule`` to
``Mediator.scheduler`` and, if it gave ``reply_to``, receives ``CaseFinished``.
The rest are *internal*: they travel in the actors' unbounded inboxes and are never
blocked or shed by admission control (a split must not wait on a full mailbox, and a
branch of an admitted case must never be dropped). They are listed here, in one module,
so the Scheduler and Runner share one vocabulary and the harness can name them in traces.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka

from actors._frozen_slots import slot_setters
from actors._schedule_checks import schedule_problem

if TYPE_CHECKING:
    from actors._job import Job, JobRecord

__all__ = [
    "Admitted",
    "BranchArrived",
    "CancelJob",
    "CaseFinished",
    "CaseLost",
    "CaseUnfinished",
    "DeliverEvent",
    "Drain",
    "GetStats",
    "JobEnded",
    "JobParked",
    "JobSendFailed",
    "JobShed",
    "LeaseUnvouched",
    "OperatorAction",
    "RunJob",
    "RunnerFailed",
    "RunnerIdle",
    "Schedule",
    "ScheduleRefused",
    "SliceUnsaved",
    "SpawnBranch",
    "StopJob",
    "TakeCase",
    "TimerDue",
    "ToldSchedule",
    "Wake",
]


# -- public ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Schedule:
    """Public: admit a new case of ``workflow`` with ``data``.

    Sent with ``ask`` it answers with the case's ``JobHandle`` (or raises ``MailboxFull``:
    an actor must never block, so a full mailbox refuses at once in every full mode but
    ``DROP_OLDEST``). With ``reply_to`` set, that actor later receives ``CaseFinished``.
    Sent with ``tell``, a refusal (a full mailbox, an unknown workflow, data no store
    could keep, a ``job_id`` the store holds) is logged and, with ``reply_to`` set, told
    to it as ``ScheduleRefused``; the engine goes on either way.
    """

    workflow: str
    """Name of a workflow registered with the Mediator."""
    data: Any
    """The case's initial data (copied on admission)."""
    reply_to: pykka.ActorRef[Any] | None = None
    """Actor to tell ``CaseFinished`` when the case ends."""
    version: int | None = None
    """Workflow version; the newest registered one when ``None``."""
    job_id: str | None = None
    """The case's id, as ``Mediator.schedule(job_id=...)`` takes it: an id the store
    already holds is refused with ``JobExistsError``. Generated when ``None``."""

    def __post_init__(self) -> None:
        # Checked here, in the sender's code: a told Schedule has no one to raise to, and a
        # reply_to that is no ref would fail only when its case ends, inside the Scheduler.
        problem = schedule_problem(self.reply_to, self.version, self.job_id)
        if problem is not None:
            raise TypeError(problem)


@dataclass(frozen=True, slots=True)
class CaseFinished:
    """Public: told to ``Schedule.reply_to`` when the case has ended."""

    job: Job
    """Final snapshot of the case's root job."""


@dataclass(frozen=True, slots=True)
class CaseUnfinished:
    """Public: told to ``Schedule.reply_to`` when this engine will not see the case end.

    The engine stopped with the case unfinished (``EngineStoppedError``), or another
    worker of a shared store took it over (``LeaseLostError``). The case is not lost:
    a durable store resumes it on the next start, or the other worker runs it on; no
    ``CaseFinished`` follows from this engine.
    """

    case_id: str
    """The case's id (its root job's)."""
    error: BaseException
    """Why this engine will not see it end (what its handle raises)."""


@dataclass(frozen=True, slots=True)
class ScheduleRefused:
    """Public: told to ``Schedule.reply_to`` when a ``Schedule`` sent with ``tell`` is refused."""

    schedule: Schedule
    """The refused message."""
    error: Exception
    """Why (``MailboxFull``, ``UnknownWorkflowError``, ``CodecError``...)."""


# -- internal: to the Scheduler ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToldSchedule:
    """A ``Schedule`` that came with ``tell``: its refusal must not stop the Scheduler.

    The Scheduler's inbox wraps such a message as it is put (an ``ask`` is left as it
    is: its refusal is raised to the caller).
    """

    schedule: Schedule


@dataclass(frozen=True, slots=True)
class Admitted:
    """Internal: a job was admitted while a runner was idle; hand it over."""


@dataclass(frozen=True, slots=True)
class RunnerIdle:
    """Internal: runner ``runner`` found no work (sent only while a drain waits)."""

    runner: int


@dataclass(frozen=True, slots=True, init=False)
class SpawnBranch:
    """Internal: one branch of a split, already saved; queue it as a job of its own.

    A split sends one per branch, in branch order. The first also carries the parent
    (saved WAITING), so its bookkeeping exists before any branch can arrive at a join.
    """

    job: JobRecord
    parent: JobRecord | None = None

    def __init__(self, job: JobRecord, parent: JobRecord | None = None) -> None:
        _spawn_job(self, job)  # see actors._frozen_slots
        _spawn_parent(self, parent)


@dataclass(frozen=True, slots=True, init=False)
class BranchArrived:
    """Internal: branch ``job`` reached the join ``join_step`` of its parent's split.

    ``open``: branches of it may still run (``has_open_branches``), so its row was saved
    WAITING (``saved_open``), to be saved as it ended once its last branch ends.
    """

    runner: int
    job: JobRecord
    join_step: str
    open: bool

    def __init__(self, runner: int, job: JobRecord, join_step: str, open: bool = False) -> None:
        _arrived_runner(self, runner)  # see actors._frozen_slots
        _arrived_job(self, job)
        _arrived_join_step(self, join_step)
        _arrived_open(self, open)


@dataclass(frozen=True, slots=True)
class JobParked:
    """Internal: ``job`` is WAITING on a timer (``job.due``) and/or ``correlations``."""

    runner: int
    job: JobRecord
    correlations: tuple[tuple[str, str], ...] = ()
    """(correlation id, event name) pairs the job waits on; the name is "" for a reply."""


@dataclass(frozen=True, slots=True, init=False)
class JobEnded:
    """Internal: ``job``'s own thread of control ended (DONE, FAULTED or CANCELLED).

    ``open``: branches of it still ran, so its row was saved WAITING (``saved_open``),
    to be saved as it ended once its last branch ends.
    """

    runner: int
    job: JobRecord
    open: bool

    def __init__(self, runner: int, job: JobRecord, open: bool = False) -> None:
        _ended_runner(self, runner)  # see actors._frozen_slots
        _ended_job(self, job)
        _ended_open(self, open)


@dataclass(frozen=True, slots=True)
class JobSendFailed:
    """Internal: a ``RequestReaction``'s ``send`` raised; delivered as a fault reply."""

    correlation_id: str
    error: str


@dataclass(frozen=True, slots=True)
class RunnerFailed:
    """Internal: runner ``runner`` died; its job resumes elsewhere from its last save."""

    runner: int
    job: JobRecord | None
    level: int = logging.ERROR
    """How loudly to log it: the failure's ``log_level`` if it has one (see ``log_level``)."""
    error: str = ""
    """What it died of (``Type: message``)."""
    blames_job: bool = True
    """Whether the death counts toward faulting the job (see ``actors._runner_failures``)."""
    store_down: BaseException | None = None
    """The store's failure it died of, when the database refused the write (a full disk,
    a lock held too long): the job waits for the next poll instead of running again."""


@dataclass(frozen=True, slots=True)
class LeaseUnvouched:
    """Internal: the runner did not start ``job``'s next step: its lease may have lapsed.

    The worker's last lease renewal is too old to vouch for the case (the process was
    frozen, or its heartbeats failed). The job is handed back as last saved; the
    Scheduler renews the leases, drops the cases another worker took over, and makes
    the job ready again if its case is still this worker's.
    """

    runner: int
    job: JobRecord


@dataclass(frozen=True, slots=True)
class CaseLost:
    """Internal: a save of ``job`` was fenced: another worker took its case over.

    The runner stopped working on the job and wrote nothing; the Scheduler drops the
    whole case (``error`` is the store's ``LeaseLostError``).
    """

    runner: int
    job: JobRecord
    error: Exception


@dataclass(frozen=True, slots=True)
class SliceUnsaved:
    """Internal: the store could not store what runner ``runner`` saved while running ``job``.

    With a store that groups slices (``commit="group"``: its writer failed the group), a
    slice run alone, or a request's park. Nothing of the slice was written; the Scheduler
    resumes the job from its last save, alone or faulted if refused again (_unsaved_slices).
    """

    runner: int
    job: JobRecord
    error: BaseException


@dataclass(frozen=True, slots=True)
class JobShed:
    """Internal: ``job`` was evicted from the admission mailbox (DROP_OLDEST)."""

    job: JobRecord


@dataclass(frozen=True, slots=True)
class TimerDue:
    """Internal: the alarm rang; release every timer whose due time has come."""


@dataclass(frozen=True, slots=True)
class Wake:
    """Internal: new cases (or, ``requests``, operators' requests) wait in the shared store."""

    requests: bool = False


@dataclass(frozen=True, slots=True)
class DeliverEvent:
    """Internal (asked): deliver an external event; answers an ``EventOutcome``."""

    correlation_id: str
    payload: Any
    fault: bool = False


@dataclass(frozen=True, slots=True)
class CancelJob:
    """Internal (asked): cancel a job and its branches; answers a ``CancelOutcome``."""

    job_id: str


@dataclass(frozen=True, slots=True)
class OperatorAction:
    """Internal (asked): carry out an operator's action and record it in the job's history.

    ``request`` is an ``actors.stores.Request`` (a cancel or an event); answers the
    outcome as a string. What ``actors.admin.Admin`` sends a Mediator it was given.
    """

    request: Any


@dataclass(frozen=True, slots=True)
class StopJob:
    """Internal (told to a runner): job ``job_id`` was cancelled; stop it before its next step.

    It goes to a lane of the runner's apart from its mailbox, which the runner
    reads between two steps of the one delivery it runs them in. A stop for a job the
    runner no longer holds is dropped: the Scheduler marks the job when its report comes.
    """

    job_id: str
    why: str


@dataclass(frozen=True, slots=True)
class TakeCase:
    """Internal (asked): an operator made case ``case_id`` runnable again; take it now.

    Answers how many of its jobs this worker took.
    """

    case_id: str


@dataclass(frozen=True, slots=True)
class GetStats:
    """Internal (asked): answers a ``Stats`` record."""


@dataclass(frozen=True, slots=True)
class Drain:
    """Internal (asked): answers once no job is queued, ready or running."""


# -- internal: to a Runner -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, init=False)
class RunJob:
    """Internal: run ``job`` from its current step until it parks, splits, joins or ends."""

    job: JobRecord

    def __init__(self, job: JobRecord) -> None:
        _run_job(self, job)  # see actors._frozen_slots


_spawn_job, _spawn_parent = slot_setters(SpawnBranch, "job", "parent")
_arrived_runner, _arrived_job, _arrived_join_step, _arrived_open = slot_setters(
    BranchArrived, "runner", "job", "join_step", "open"
)
_ended_runner, _ended_job, _ended_open = slot_setters(JobEnded, "runner", "job", "open")
(_run_job,) = slot_setters(RunJob, "job")
