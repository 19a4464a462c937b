"""How ``actors.admin`` presents stored rows: a job, a case tree, a job's history."""

from __future__ import annotations

import time
from itertools import islice
from typing import TYPE_CHECKING

from actors._admin_model import (
    CaseNode,
    CaseTree,
    HistoryEntry,
    JobInfo,
    JoinInfo,
    WorkerInfo,
    Workers,
)
from actors._job import FINAL_STATES, JobRecord, JobState, is_saved_open
from actors._runner import correlations_for
from actors._split_join import split_join
from actors.stores._admin_types import TAKEOVER, UNREADABLE

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from actors._workflow import Workflow
    from actors.stores import Store
    from actors.stores._admin_types import HistoryRow, StoredJob

__all__ = [
    "LISTED",
    "arrived_of",
    "history",
    "info",
    "infos",
    "store_workers",
    "tree",
    "waits_on_branches",
    "workers",
]


def workers(store: Store, limit: int) -> Workers:
    """Up to ``limit`` of the workers ``store`` knows, the stopped first (``Admin.workers``)."""
    if limit < 0:
        msg = f"limit must be >= 0, got {limit}"
        raise ValueError(msg)
    now = store.lease_time(time.time())  # leases go by the database server's clock
    got = store.worker_leases(now, limit)
    items = [
        WorkerInfo(w.owner, w.expires is not None and w.expires >= now, w.cases, w.expires)
        for w in got.listed
    ]
    return Workers(items, got.total, got.live, now)


def store_workers(store: Store, limit: int) -> Workers | None:
    """``workers(store, limit)``; ``None`` for a store that keeps no leases to list."""
    try:
        return workers(store, limit)
    except NotImplementedError:
        return None


def waits_on_branches(job: JobRecord) -> bool:
    """Whether ``job`` waits for the branches of its split (their arrivals tell how many)."""
    return job.state is JobState.WAITING and bool(job.split_total) and not job.joined


def _waiting_for(
    job: JobRecord, workflow: Workflow | None, arrived: frozenset[int] | None
) -> tuple[str | None, tuple[str, ...]]:
    if job.state is not JobState.WAITING:
        return None, ()
    if job.split_total and not job.joined:
        missing = job.split_total - len(job.arrivals if arrived is None else arrived)
        return f"{missing} of {job.split_total} branches of split {job.split_step!r}", ()
    if is_saved_open(job):
        assert job.event is not None
        return f"its other branches to end (it ended {job.event[1]})", ()
    if job.event is not None:
        return f"a runner (its {job.event[0]} is in)", ()
    cids: tuple[str, ...] = ()
    what = []
    step = workflow.steps.get(job.step or "") if workflow is not None else None
    if step is not None:
        cids = tuple(cid for cid, _ in correlations_for(job, step))
    if cids:
        what.append("an event (" + ", ".join(cids) + ")")
    elif step is None:  # the workflow or step is unknown here: its timer, if it has one
        what.append("an event" if job.due is not None else "a timer or an event")
    if job.due is not None:
        what.append("its timer")
    return " or ".join(what) or "its timer", cids


def info(
    job: StoredJob, workflow: Workflow | None, arrived: frozenset[int] | None = None
) -> JobInfo:
    """The operator's view of a stored job (``workflow`` names its correlation ids).

    ``arrived``: the branches of its split at its join, as ``Store.arrived_branches``
    reads them (``None``: those of its record).
    """
    r = job.record
    waiting, cids = _waiting_for(r, workflow, arrived)
    return JobInfo(
        id=r.id,
        case_id=r.case_id,
        parent_id=r.parent_id,
        branch_index=r.branch_index,
        workflow=r.workflow,
        version=r.version,
        step=r.step,
        state=r.state,
        attempt=r.attempt,
        error=r.error,
        data=r.data,
        due=r.due,
        created_at=job.created_at,
        updated_at=job.updated_at,
        finished_at=job.finished_at,
        owner=job.lease_owner,
        lease_expires=job.lease_expires,
        waiting_for=waiting,
        correlation_ids=cids,
        tries=job.tries,
        cancel_requested=r.cancel_requested and not r.state.is_final,
    )


def infos(
    jobs: Sequence[StoredJob],
    workflows: Mapping[tuple[str, int], Workflow],
    arrived: Mapping[str, frozenset[int]],
) -> list[JobInfo]:
    """``info`` of each job, with its workflow (if known) and its split's arrivals."""
    return [
        info(
            job,
            workflows.get((job.record.workflow, job.record.version)),
            arrived.get(job.record.id),
        )
        for job in jobs
    ]


def arrived_of(jobs: Sequence[StoredJob], store: Store) -> dict[str, frozenset[int]]:
    """The arrivals of these jobs' splits not joined (a SQL store keeps them apart).

    Ended splits too: a case cancelled or faulted in the store before its join fired
    keeps its arrivals where the branches put them.
    """
    parents = [job.record for job in jobs if job.record.split_total and not job.record.joined]
    return store.arrived_branches(parents) if parents else {}


LISTED = 1_000_000
"""The most branch indexes a split's ``waiting_for`` lists (ten times the widest split
the engine is measured with)."""


def _split(
    job: JobRecord,
    known: frozenset[int] | None,
    ended: set[int] | None = None,
    workflow: Workflow | None = None,
) -> JoinInfo | None:
    if not job.split_total:
        return None
    join = job.join_step  # stored once the first branch arrives; else from the definition
    if join is None and workflow is not None and job.split_step is not None:
        join = split_join(workflow, job.split_step)
    at_join = set(job.arrivals) if known is None else known
    arrived = tuple(sorted(at_join))
    # The first LISTED only: a split_total edited by hand into a billion built a tuple of
    # a billion indexes (gigabytes) before `jobs show --tree` printed a line.
    missing = tuple(islice((i for i in range(job.split_total) if i not in at_join), LISTED))
    gone: tuple[int, ...] = ()
    if ended and not job.joined and not job.state.is_final:  # else none "waits" at all
        gone = tuple(i for i in missing if i in ended)
        missing = tuple(i for i in missing if i not in ended)
    return JoinInfo(job.split_step, join, job.split_total, arrived, missing, job.joined, gone)


def tree(
    jobs: list[StoredJob],
    infos: list[JobInfo],
    now: float,
    arrived: dict[str, frozenset[int]] | None = None,
    workflows: Mapping[tuple[str, int], Workflow] | None = None,
) -> CaseTree:
    """The case of ``jobs`` (every job of one case, creation order) as a tree.

    ``arrived``: as ``Store.arrived_branches`` reads them, for the parents it names.
    ``workflows``: the definitions known, which name a split's join before a branch
    arrives at it.
    """
    known = arrived or {}
    ended = _ended_branches(jobs)
    defined = workflows or {}
    nodes = {
        job.record.id: CaseNode(
            info,
            [],
            _split(
                job.record,
                known.get(job.record.id),
                ended.get(job.record.id),
                defined.get((job.record.workflow, job.record.version)),
            ),
        )
        for job, info in zip(jobs, infos, strict=True)
    }
    root = _linked(jobs, nodes)
    # A job that split more than once (one split after another, or a loop) has the
    # branches of each split together, in split order, each split's in branch order.
    split_of = {job.record.id: job.record.parent_gen for job in jobs}
    for node in nodes.values():
        node.children.sort(
            key=lambda n: (
                split_of.get(n.job.id, 0),
                n.job.branch_index or 0,
                n.job.created_at or 0,
            )
        )
    lease = root.job.lease_expires
    held = root.job.owner if lease is not None and lease >= now else None
    return CaseTree(
        root.job.case_id,
        root,
        root.job.state,
        held,
        lease,
        len(jobs),
    )


def _linked(jobs: list[StoredJob], nodes: dict[str, CaseNode]) -> CaseNode:
    """Give each node its branches, and the root; every job ends up in the tree once.

    A row edited by hand can name a parent that is no job of the case, itself, or one
    of its own branches: such a job is shown under the root rather than left out, and
    a loop of parents is cut (a walk of the tree went round it without end).
    """
    root = None
    parents: dict[str, CaseNode] = {}
    for job in jobs:
        r = job.record
        parent = nodes.get(r.parent_id or "")
        if parent is not None:
            parents[r.id] = parent
        elif r.parent_id is None and root is None:
            root = nodes[r.id]
    if root is None:  # a case whose root row is gone: show its first job
        root = nodes[jobs[0].record.id]
    parents.pop(root.job.id, None)
    for job_id, parent in parents.items():
        parent.children.append(nodes[job_id])
    reached = {id(node) for node in _reach(root)}
    for job in jobs:
        node = nodes[job.record.id]
        if id(node) in reached or node is root:
            continue
        # Out of the root's reach: its parent is missing, or a loop of parents leads
        # to it. Cut it from its parent and show it, and what hangs below, at the root.
        parent = parents.get(node.job.id)
        if parent is not None:
            parent.children.remove(node)
        root.children.append(node)
        reached.update(id(kid) for kid in _reach(node))
    return root


def _reach(top: CaseNode) -> list[CaseNode]:
    """``top`` and the nodes below it, each once (a loop of parents is not followed)."""
    seen = {id(top)}
    out = [top]
    stack = [top]
    while stack:
        for kid in stack.pop().children:
            if id(kid) not in seen:
                seen.add(id(kid))
                out.append(kid)
                stack.append(kid)
    return out


def _ended_branches(jobs: list[StoredJob]) -> dict[str, set[int]]:
    """Per split parent, the branches of its current round that have ended.

    So a branch cancelled (or faulted) while its siblings run on is not shown as awaited;
    branches of an earlier round of a loop (another ``gen``) do not count.
    """
    records = {job.record.id: job.record for job in jobs}
    ended: dict[str, set[int]] = {}
    for r in records.values():
        parent = records.get(r.parent_id or "")
        if parent is not None and r.state.is_final and r.parent_gen == parent.gen:
            ended.setdefault(parent.id, set()).add(r.branch_index or 0)
    return ended


def history(rows: list[HistoryRow]) -> list[HistoryEntry]:
    """A job's history rows as entries: what ran between two saves, waits, and actions."""
    out: list[HistoryEntry] = []
    prev: HistoryRow | None = None
    for row in rows:
        if row.action is not None and row.action.startswith(TAKEOVER):
            # Not a save: the durations around it run from the saves before and after.
            out.append(
                HistoryEntry(
                    "takeover", row.step, row.attempt, None, row.at, row.state, row.worker,
                    action=row.action,
                )
            )  # fmt: skip
            continue
        if row.action == UNREADABLE:
            # Saves a reader could not unpack: named, and the next step's duration runs
            # from the last save that could be read.
            out.append(
                HistoryEntry(
                    "unreadable", row.step, row.attempt, None, row.at, row.state, row.worker,
                    row.error, row.action,
                )
            )  # fmt: skip
            continue
        if row.action is not None:
            out.append(
                HistoryEntry(
                    "action",
                    row.step,
                    row.attempt,
                    None,
                    row.at,
                    row.state,
                    row.worker,
                    row.error,
                    row.action,
                )
            )
        elif prev is None:
            out.append(
                HistoryEntry("created", row.step, row.attempt, None, row.at, row.state, row.worker)
            )
        else:
            kind = "waited" if prev.state == JobState.WAITING.value else "step"
            started = prev.at if row.started is None else row.started
            ended = row.at
            if kind == "waited":
                # It waited from its save until a runner took it up again (the run that
                # followed, to this save, is short and not the wait's).
                started, ended = prev.at, ended if row.started is None else row.started
            failed = row.state == JobState.FAULTED.value or (
                row.step == prev.step and row.attempt > prev.attempt
            )
            error = row.error if failed or row.state in _FINAL_VALUES else None
            out.append(
                HistoryEntry(
                    kind, prev.step, prev.attempt, started, ended, row.state, row.worker, error
                )
            )
        prev = row
    return out


_FINAL_VALUES = {s.value for s in FINAL_STATES}
