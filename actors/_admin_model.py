"""What ``actors.admin`` returns: jobs, case trees, history entries, action results, errors."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from actors._errors import ActorsError
from actors._job import JobState

__all__ = [
    "ActionRefusedError",
    "ActionResult",
    "CaseBusyError",
    "CaseNode",
    "CaseTree",
    "HistoryEntry",
    "JobInfo",
    "JoinInfo",
    "Page",
    "PruneResult",
    "WorkerInfo",
    "Workers",
]


class ActionRefusedError(ActorsError, ValueError):
    """An operator's action does not apply to the job as it stands (nothing was changed).

    For example: a retry of a job that did not fault, of a case with jobs still running,
    or a reset to a step the workflow does not have.
    """


class CaseBusyError(ActionRefusedError):
    """A live worker holds the case and did not carry the action out within the timeout.

    Mostly nothing was changed: the worker did not take the request, which was withdrawn,
    or its write of the case kept the case's rows locked. If the worker took the request
    and has not confirmed it, the message says so: it may still be carried out.
    ``owner`` is the worker.
    """

    def __init__(self, message: str, owner: str) -> None:
        super().__init__(message)
        self.owner = owner


def _plain(value: Any) -> Any:
    # With a stack of its own: a case tree nests as deep as its splits, past Python's stack.
    # Each entry is a value to convert and the slot of its container that gets the result.
    # Siblings are pushed last first, so they are converted in order (a later duplicate
    # key wins, as in the dict comprehension this replaces).
    top: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, top, 0)]
    while stack:
        value, into, slot = stack.pop()
        if isinstance(value, enum.Enum):
            into[slot] = value.value
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            into[slot] = record = dict.fromkeys(fields)
            stack.extend((v, record, k) for k, v in reversed(fields.items()))
        elif isinstance(value, list | tuple):
            items: list[Any] = [None] * len(value)
            into[slot] = items
            stack.extend((value[i], items, i) for i in reversed(range(len(value))))
        elif isinstance(value, dict):
            into[slot] = mapping = dict.fromkeys(str(k) for k in value)
            stack.extend((v, mapping, str(k)) for k, v in reversed(value.items()))
        else:
            into[slot] = value
    return top[0]


class _Plain:
    """``to_dict()``: the value as plain JSON-ready types (enums as their values)."""

    def to_dict(self) -> dict[str, Any]:
        """This value as a dict of plain values (for ``json.dumps``)."""
        out: dict[str, Any] = _plain(self)
        return out


@dataclass(frozen=True, slots=True)
class JobInfo(_Plain):
    """A job as an operator sees it: the saved record, its times and its lease.

    Times are wall-clock seconds since the epoch; ``due`` and ``lease_expires`` are as
    stored, by the clock the store keeps them by: the database server's on PostgreSQL
    (``Store.lease_time(time.time())`` is now by it), else the workers' own.
    """

    id: str
    case_id: str
    parent_id: str | None
    branch_index: int | None
    workflow: str
    version: int
    step: str | None
    """The step it runs next, or the step it waits or ended at."""
    state: JobState
    attempt: int
    error: str | None
    """As ``Job.error``: on a job that is not final, its last failed attempt (a retry is due)."""
    data: Any
    due: float | None
    """When its timer (a wait, a retry back-off or a timeout) is due."""
    created_at: float | None
    updated_at: float | None
    finished_at: float | None
    owner: str | None
    """The worker stamped on the job: its case's holder, or last holder."""
    lease_expires: float | None
    """On a case's root: when the holder's lease runs out (``None``: nobody holds it)."""
    waiting_for: str | None = None
    """For a WAITING job: what it waits for, in words."""
    correlation_ids: tuple[str, ...] = ()
    """The correlation ids an event for this job must carry (known when the workflow is)."""
    tries: int = 0
    """Runs of the job from its last save by workers that took it over from a worker that
    stopped (each counted before it ran; the first beside other jobs, the rest alone; the
    fifth faults it); 0 when none."""
    cancel_requested: bool = False
    """Cancelled while its step runs: that step ends first, then the job is saved
    CANCELLED (its ``state`` reads as last saved until then)."""


@dataclass(frozen=True, slots=True)
class Page(_Plain):
    """One page of a listing: ``items``, and how to ask for the next page.

    ``next_cursor`` (give it as ``after``) and ``next_offset`` (as ``offset``, with the
    same ``after``) are ``None`` on the last page. A cursor names the last job listed:
    the next page starts past it, whatever was created or deleted meanwhile, and costs
    a page to read; an offset counts the jobs before it, read again each time.
    """

    items: list[JobInfo]
    offset: int
    limit: int
    next_offset: int | None
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class JoinInfo(_Plain):
    """A split in flight: which branches its join has, and which it still waits for."""

    split_step: str | None
    join_step: str | None
    """The join the branches meet at: known once the first arrives, or, in a case's tree,
    from the workflow's definition when ``Admin`` was given it."""
    total: int
    arrived: tuple[int, ...]
    """Branch indexes that reached the join."""
    waiting_for: tuple[int, ...]
    """Branch indexes that have not, and are still under way (in a case's tree); the
    first million at most (a ``split_total`` edited by hand may name a billion)."""
    joined: bool
    ended: tuple[int, ...] = ()
    """Branch indexes that ended (cancelled, faulted) without reaching the join while the
    split still waits for its others: known in a case's tree, which reads the branches."""


@dataclass(frozen=True, slots=True)
class CaseNode(_Plain):
    """A job in its case's tree, with the branches it split into."""

    job: JobInfo
    children: list[CaseNode] = field(default_factory=list)
    split: JoinInfo | None = None


@dataclass(frozen=True, slots=True)
class CaseTree(_Plain):
    """A case as a tree: its root, branches, joins, timers, awaited events and lease."""

    case_id: str
    root: CaseNode
    state: JobState
    """The root's state: the case's."""
    held_by: str | None
    """The live worker holding the case (``None``: free, or ended)."""
    lease_expires: float | None
    jobs: int

    def walk(self) -> list[tuple[int, CaseNode]]:
        """Every node with its depth, parents before their branches."""
        out: list[tuple[int, CaseNode]] = []
        stack = [(0, self.root)]
        while stack:
            depth, node = stack.pop()
            out.append((depth, node))
            stack.extend((depth + 1, kid) for kid in reversed(node.children))
        return out


@dataclass(frozen=True, slots=True)
class HistoryEntry(_Plain):
    """One entry of a job's history.

    ``kind`` is ``"created"`` (the job was saved for the first time), ``"step"`` (the
    step ``step`` ran from ``started``, when a runner began it, to ``ended``, leaving the
    job ``state``), ``"waited"`` (the job waited at ``step`` from ``started`` until a
    timer, event or join released it: from its save to when a runner took it up again),
    ``"action"`` (an operator did ``action`` at ``ended``; ``worker`` names them), or
    ``"takeover"`` (the worker ``worker`` took the case over at ``ended``; ``action``
    says from whom and why, recorded on the case's root), or ``"unreadable"`` (saves
    stored in the row saved at ``ended`` that cannot be read, the row having been
    edited by hand: ``error`` says why; the entries that can be read are all given).
    A ``"step"`` entry's ``error`` says why the step failed: it faulted, or (``state``
    not final, the next entry a higher attempt of it) it failed and was retried.
    History written before the schema recorded step starts gives the save before as a
    step's start.
    """

    kind: str
    step: str | None
    attempt: int
    started: float | None
    ended: float
    state: str
    worker: str | None
    error: str | None = None
    action: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from ``started`` to ``ended`` (``None`` without a start)."""
        return None if self.started is None else self.ended - self.started


@dataclass(frozen=True, slots=True)
class ActionResult(_Plain):
    """What an operator's action did.

    ``outcome`` is ``"retried"``, ``"reset"``, or a ``CancelOutcome`` / ``EventOutcome``
    value (``"cancelled"``, ``"delivered"``...). ``via`` says who carried it out:
    ``"store"`` (no live worker held the case: the change was made in the store, and the
    case is free for any worker), ``"mediator"`` (the ``Mediator`` given to ``Admin``),
    or ``"worker NAME"`` (the worker holding the case took the request).
    """

    action: str
    job_id: str
    case_id: str
    outcome: str
    via: str
    operator: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PruneResult(_Plain):
    """How many finished cases (and jobs, branches included) ``prune`` deleted."""

    cases: int
    jobs: int
    finished_before: float
    history_rows: int = 0
    """History rows of unfinished jobs deleted (``prune(..., trim_history=True)``)."""
    branch_jobs: int = 0
    """Finished branches of splits an unfinished case has left behind (a loop's earlier
    turns) deleted, with their history (``prune(..., trim_history=True)``)."""


@dataclass(frozen=True, slots=True)
class WorkerInfo(_Plain):
    """A worker the store knows: whether its lease runs, and the cases stamped with it.

    ``lease_expires`` is by the store's clock, as ``JobInfo.lease_expires``.
    """

    owner: str
    live: bool
    """Its lease has not expired: it holds its cases. Once expired, they wait for another
    worker to take them over (at its next claim)."""
    cases: int
    """Unfinished cases it holds, or held when its lease expired."""
    lease_expires: float | None
    """When its lease ends, or ended (``None``: a value no worker writes, edited in)."""


@dataclass(frozen=True, slots=True)
class Workers(_Plain):
    """Some of the workers a store knows, the stopped first, and how many it knows.

    ``items`` are the workers whose lease ended first: those that stopped renewing it
    (longest ago first), then the live ones, the lease ending soonest first. ``total``
    and ``live`` count every worker, listed or not; ``now`` is the store's time of the look.
    """

    items: list[WorkerInfo]
    total: int
    live: int
    now: float

    @property
    def more(self) -> int:
        """Workers known but not listed."""
        return self.total - len(self.items)
