"""Job states, the public ``Job`` snapshot and the engine's mutable job record."""

from __future__ import annotations

import enum
import re
from copy import copy
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FINAL_STATES",
    "Job",
    "JobRecord",
    "JobState",
    "StepContext",
    "branch_fault",
    "branch_faulted",
    "cancel_reason",
    "has_open_branches",
    "is_saved_open",
    "reopen_ended",
    "said_once",
    "saved_open",
]


class JobState(enum.Enum):
    """Where a job is in its life. DONE, FAULTED, CANCELLED and SHED are final."""

    READY = "ready"
    """Admitted (or released by a timer, event or join) and waiting for a runner."""
    RUNNING = "running"
    """A runner is executing its steps."""
    WAITING = "waiting"
    """Parked: on a timer, an external event, or its branches."""
    DONE = "done"
    """Finished normally (a handled fault also ends DONE)."""
    FAULTED = "faulted"
    """Ended by an unhandled error; ``Job.error`` says what and where."""
    CANCELLED = "cancelled"
    """Ended by ``Mediator.cancel`` (or as a losing branch of a Discriminator)."""
    SHED = "shed"
    """Evicted from a full admission mailbox under ``FullMode.DROP_OLDEST``; never ran."""

    # Members are singletons: identity hashing is exact and far cheaper than Enum's
    # Python-level __hash__, which the engine's hot paths would otherwise pay on every
    # set or dict lookup by state.
    __hash__ = object.__hash__

    @property
    def is_final(self) -> bool:
        """Whether the job can change no more."""
        return self in FINAL_STATES


FINAL_STATES = frozenset({JobState.DONE, JobState.FAULTED, JobState.CANCELLED, JobState.SHED})
_READY = JobState.READY  # a module global: read from the enum class, it goes through its metaclass


@dataclass(frozen=True, slots=True)
class Job:
    """An immutable snapshot of a job, as handles and stores report it.

    A *case* is the tree of jobs one ``schedule()`` call starts: its root has
    ``parent_id is None`` and ``case_id == id``; branches record their parent and their
    index in the split. ``step`` is the step the job runs next (or last ran, once final).
    """

    id: str
    workflow: str
    version: int
    step: str | None
    data: Any
    state: JobState
    case_id: str
    parent_id: str | None = None
    branch_index: int | None = None
    attempt: int = 1
    error: str | None = None
    """Why a FAULTED job faulted (or why a CANCELLED one was cancelled). On a job that is
    not final, the last failed attempt of a step it will retry (its ``Retry``), until an
    attempt succeeds: a live job with an error has not faulted."""


@dataclass(frozen=True, slots=True)
class StepContext:
    """What a task that takes a second parameter learns about the step it runs in.

    ``idempotency_key`` is ``"{job_id}:{step}:{attempt}"``: a step can run again after a
    crash (at-least-once), and an effect keyed on this runs once. ``correlation_id`` is
    the id a ``RequestReaction`` reply must carry.
    """

    job_id: str
    case_id: str
    workflow: str
    step: str
    attempt: int

    @property
    def idempotency_key(self) -> str:
        """Stable key of this attempt of this step of this job."""
        return f"{self.job_id}:{self.step}:{self.attempt}"

    @property
    def correlation_id(self) -> str:
        """Correlation id for a reply to a request sent from this step."""
        return f"{self.job_id}/{self.step}"


@dataclass(slots=True, eq=False)
class JobRecord:
    """The engine's mutable view of a job. Exactly one actor owns a record at a time.

    Ownership is handed over, never shared: the Scheduler owns the records it holds; a
    record it makes ready is the work channel's, then the runner's that takes it, and
    comes back to the Scheduler in the runner's report (with group commit, the store's
    writer thread holds it in between). Whoever hands a record over stops writing it; a
    cancel of a running job is a message to its runner (``StopJob``).

    The split fields live on a job that has split: how many branches it started, how
    many have not yet ended, the datas of those that arrived at its join (by branch
    index), and the unhandled fault of the branch with the lowest index, with how many
    faulted (``branch_faulted``).
    """

    id: str
    case_id: str
    workflow: str
    version: int
    step: str | None
    data: Any
    state: JobState = JobState.READY
    parent_id: str | None = None
    branch_index: int | None = None
    attempt: int = 1
    error: str | None = None
    due: float | None = None
    # A delivered event waiting to be applied by a runner: (kind, name, payload).
    event: tuple[str, str, Any] | None = None
    split_step: str | None = None
    split_total: int = 0
    split_live: int = 0
    arrivals: dict[int, Any] = field(default_factory=dict)
    join_step: str | None = None
    joined: bool = False
    branch_error: str | None = None
    branch_cancelled: bool = False
    # How many times this job has split, and the parent's count when it made this
    # branch: a late branch of an earlier split of a looping parent never counts toward
    # a later join.
    gen: int = 0
    parent_gen: int = 0
    cancel_requested: bool = False
    # Set by a claim on every unfinished job of a case taken from a worker that stopped
    # holding it (died or froze): the runner counts a try (Store.count_try) before it
    # runs the job's next step, so a step that ends its worker's process ends at last.
    # Not stored: a job taken over in a later claim is marked again.
    taken_over: bool = False
    # Set with taken_over when a run of the job from its saved point already ended with
    # its worker gone: the work channel runs it alone, so that a death is its own. Set
    # alone by the Scheduler when the store refused its slices (_unsaved_slices).
    solo: bool = False

    @classmethod
    def branch(  # noqa: PLR0913, PLR0917 - one argument per field a branch does not default
        cls,
        id: str,
        case_id: str,
        workflow: str,
        version: int,
        step: str,
        data: Any,
        parent_id: str,
        branch_index: int,
        parent_gen: int,
    ) -> JobRecord:
        """A new READY branch job, every other field at its default.

        The same record ``JobRecord(...)`` with these keywords makes, built without the
        generated ``__init__``'s keyword binding of 24 parameters: a split makes one per
        branch. ``tests`` check that it sets every field.
        """
        new = object.__new__(cls)
        new.id = id
        new.case_id = case_id
        new.workflow = workflow
        new.version = version
        new.step = step
        new.data = data
        new.state = _READY
        new.parent_id = parent_id
        new.branch_index = branch_index
        new.attempt = 1
        new.error = None
        new.due = None
        new.event = None
        new.split_step = None
        new.split_total = 0
        new.split_live = 0
        new.arrivals = {}
        new.join_step = None
        new.joined = False
        new.branch_error = None
        new.branch_cancelled = False
        new.gen = 0
        new.parent_gen = parent_gen
        new.cancel_requested = False
        new.taken_over = False
        new.solo = False
        return new

    def __copy__(self) -> JobRecord:
        """A shallow copy, as ``copy.copy`` makes it (the same field values, shared).

        Written out because ``copy.copy`` of a slotted dataclass otherwise goes through
        ``__reduce_ex__`` and costs several times more; stores copy records to keep
        what a save recorded.
        """
        new = object.__new__(type(self))
        new.id = self.id
        new.case_id = self.case_id
        new.workflow = self.workflow
        new.version = self.version
        new.step = self.step
        new.data = self.data
        new.state = self.state
        new.parent_id = self.parent_id
        new.branch_index = self.branch_index
        new.attempt = self.attempt
        new.error = self.error
        new.due = self.due
        new.event = self.event
        new.split_step = self.split_step
        new.split_total = self.split_total
        new.split_live = self.split_live
        new.arrivals = self.arrivals
        new.join_step = self.join_step
        new.joined = self.joined
        new.branch_error = self.branch_error
        new.branch_cancelled = self.branch_cancelled
        new.gen = self.gen
        new.parent_gen = self.parent_gen
        new.cancel_requested = self.cancel_requested
        new.taken_over = self.taken_over
        new.solo = self.solo
        return new

    def snapshot(self) -> Job:
        """The public, immutable view of this record."""
        # Positional, in Job's field order: the frozen dataclass's __init__ binds them
        # faster than keywords, and every case makes one snapshot when it ends.
        return Job(
            self.id,
            self.workflow,
            self.version,
            self.step,
            self.data,
            self.state,
            self.case_id,
            self.parent_id,
            self.branch_index,
            self.attempt,
            self.error,
        )

    def context(self) -> StepContext:
        """The context handed to a task running this job's current step."""
        assert self.step is not None
        return StepContext(self.id, self.case_id, self.workflow, self.step, self.attempt)


# The event kind of a row ``saved_open`` wrote: its job ended, with branches still live.
ENDED_OPEN = "ended"


def saved_open(job: JobRecord) -> JobRecord:
    """What is stored of ``job``, ended, while branches of it still run (after a Discriminator).

    Its row stays WAITING, with the state it ended in as its event ``("ended", state,
    None)``, until its last branch ends and it is saved as it ended: a row saved final
    would end the case for the store (a claim looks for unfinished roots), and a worker
    that died meanwhile would leave those branches unfinished for ever.
    """
    row = copy(job)
    row.event = (ENDED_OPEN, job.state.value, None)
    row.state = JobState.WAITING
    row.due = None
    return row


def has_open_branches(job: JobRecord) -> bool:
    """Whether branches of ``job`` may still run, so that it is stored ``saved_open``.

    Its current split's are counted (``split_live``). A job that split more than once
    may also have a branch of an earlier split still running: a Discriminator's loser
    inside its task when the job looped back and split again, which no count on the
    record holds. Such a job is saved open as it ends, and the Scheduler, which knows
    its branches, saves it final at once when none is left: one save more, where a row
    saved final over a live branch ended the case for every claim.
    """
    return job.split_live > 0 or job.gen > 1


def is_saved_open(job: JobRecord) -> bool:
    """Whether ``job`` is a row ``saved_open`` stored (ended, branches of it still live)."""
    event = job.event
    return (
        job.state is JobState.WAITING
        and event is not None
        and event[0] == ENDED_OPEN
        and _BY_VALUE.get(event[1]) in FINAL_STATES
    )


def reopen_ended(job: JobRecord) -> bool:
    """Give ``job``, read as ``saved_open`` stored it, the state it ended in; whether it was."""
    if not is_saved_open(job):
        return False  # an event edited by hand is resumed as any other, which says so
    assert job.event is not None
    job.state = _BY_VALUE[job.event[1]]
    job.event = None
    return True


_BY_VALUE = {state.value: state for state in JobState}


def cancel_reason(job: JobRecord, why: str) -> str:
    """The error a cancel of ``job`` records: ``why``, unless the job has its own already.

    A job marked cancelled, or ended, keeps its error (the first cancel's reason, its
    fault). Any other error of a live job is a failed attempt's (a ``Retry`` pending),
    which the cancel calls off: ``why`` replaces it.
    """
    if job.error is not None and (job.cancel_requested or job.state in FINAL_STATES):
        return job.error
    return why


# Of a branch's error, what its parent quotes: the first and the last characters. The
# quote nests once a level, so a fault deep in nested splits would otherwise store text
# quadratic in the depth (some 30 MB for 1,000 levels).
_QUOTED_HEAD, _QUOTED_TAIL = 600, 1_200


def said_once(step: str | None, error: str) -> str:
    """``error`` without the ``step 'name': `` it starts with when it names ``step``.

    A task's failure is stored as ``step 'pay': ValueError: ...``; a message that names the
    step itself (``faulted at step 'pay'``) quotes the rest, so the step is said once.
    """
    prefix = f"step {step!r}: "
    return error[len(prefix) :] if step is not None and error.startswith(prefix) else error


def branch_fault(branch: JobRecord) -> str:
    """How a split's parent records that ``branch`` ended FAULTED (its join reports it).

    A long error is quoted by its start (the nearest branches) and its end (the first
    cause), with how much was left out between them.
    """
    error = said_once(branch.step, str(branch.error))
    left_out = len(error) - _QUOTED_HEAD - _QUOTED_TAIL
    if left_out > 100:
        error = f"{error[:_QUOTED_HEAD]} [... {left_out:,} characters ...] {error[-_QUOTED_TAIL:]}"
    where = f"branch {branch.branch_index} (job {branch.id}) faulted at step {branch.step!r}"
    return f"{where}: {error}"


# How a parent's ``branch_error`` starts when it quotes a branch's fault (``branch_fault``),
# after how many of its split's branches faulted when more than one did.
_QUOTE_START = re.compile(r"(?:(\d+) branches faulted; )?(branch (\d+) \(job )")


def branch_faulted(recorded: str | None, branch: JobRecord) -> str:
    """A split's parent's ``branch_error`` once ``branch`` faulted too (``recorded`` before).

    It quotes the fault of the faulted branch with the lowest index and, when more than one
    faulted, says how many (``2 branches faulted; branch 0 (job ...) faulted at ...``): the
    same whatever order the branches ended in. A ``recorded`` error that quotes no fault
    (branches that met at different joins) is kept.
    """
    if recorded is None:
        return branch_fault(branch)
    found = _QUOTE_START.match(recorded)
    if found is None:
        return recorded
    index = int(found.group(3))
    if branch.branch_index == index:  # counted: a store faulting an unreadable row tells its parent
        return recorded
    quoted = recorded[found.start(2) :]
    if branch.branch_index is not None and branch.branch_index < index:
        quoted = branch_fault(branch)
    return f"{int(found.group(1) or 1) + 1} branches faulted; {quoted}"
