"""The changes an operator's actions make to a case no live worker holds.

Each function returns a ``CaseChange``: given every job of the case as last saved (rows
locked by the store), it returns the records to save, history rows recording the action,
and a result; it raises ``ActionRefusedError`` to change nothing. The store then leaves
the case free, so the next worker to poll claims it and resumes every unfinished job
from its saved step, as after a crash.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

from actors._admin_model import ActionRefusedError
from actors._cases import shown_id
from actors._errors import JobNotFoundError
from actors._job import FINAL_STATES, JobRecord, JobState, branch_faulted, cancel_reason
from actors._outcomes import CancelOutcome, EventOutcome
from actors.stores._admin_types import CaseChange, HistoryRow, StoredJob

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator

    from actors._workflow import Workflow

__all__ = ["cancel_change", "event_change", "retry_change", "unchecked_problem"]

_Change = tuple[list[JobRecord], list[HistoryRow], Any]


# Said by the CLI, the Python API and the dashboard alike (which has no reset of its own).
_HOW_TO_RESET = "(actors jobs retry JOB --from STEP, or Admin.retry(job, from_step=...))"


def _row(job: JobRecord, operator: str, action: str) -> HistoryRow:
    return HistoryRow(
        job.id, 0, job.step, job.attempt, job.state.value, time.time(), operator, job.error, action
    )


def _find(jobs: list[StoredJob], job_id: str) -> JobRecord:
    for job in jobs:
        if job.record.id == job_id:
            return copy.copy(job.record)
    msg = f"no job {shown_id(job_id)} in its case"
    raise JobNotFoundError(msg)


def _in_split(job: JobRecord) -> bool:
    """Whether ``job`` ended while waiting for the branches of its split (no join fired)."""
    return job.split_total > 0 and not job.joined


def retry_change(
    job_id: str,
    operator: str,
    *,
    from_step: str | None = None,
    workflow: Workflow | None = None,
    next_attempt: int | None = None,
) -> CaseChange:
    """Run ``job_id`` again: from the step it faulted at, or from ``from_step`` (a reset).

    Retry: the job must be FAULTED. It becomes READY at the same step with the next
    attempt number (so a new idempotency key). A job that faulted because branches of
    its split faulted gets each of those branches retried (theirs too, at any depth) and waits for
    them again; the arrivals of the branches that reached the join are kept, so the join
    fires once every branch has arrived.

    Reset (``from_step``): the job, in any final state, becomes READY at ``from_step``
    with its data as last saved and an attempt number ``next_attempt`` (new to that
    step). A split it was waiting on is abandoned: its branches stay as they ended, and
    no late arrival of theirs counts (the job's split generation moves on).

    Either way every job of the case must have ended, and a retried or reset branch
    reopens its ancestors (each waits for its split's branches again), up to the root.
    """

    def change(jobs: list[StoredJob]) -> _Change:
        live = [j.record.id for j in jobs if j.record.state not in FINAL_STATES]
        if live:
            msg = (
                f"case {jobs[0].record.case_id} still has unfinished jobs "
                f"({', '.join(live[:5])}); cancel it or wait for it to end before a retry"
            )
            raise ActionRefusedError(msg)
        records = {j.record.id: copy.copy(j.record) for j in jobs}
        target = records.get(job_id)
        if target is None:
            msg = f"no job {shown_id(job_id)} in its case"
            raise JobNotFoundError(msg)
        saves: dict[str, JobRecord] = {}
        history: list[HistoryRow] = []
        if from_step is None:
            if target.state is not JobState.FAULTED:
                msg = (
                    f"job {job_id} is {target.state.value}, not faulted; reset it to a step "
                    f"instead {_HOW_TO_RESET}"
                )
                raise ActionRefusedError(msg)
            _retry(target, records, saves, history, operator)
            outcome = "retried"
        else:
            if workflow is not None and from_step not in workflow.steps:
                msg = (
                    f"workflow {workflow.name!r} v{workflow.version} has no step "
                    f"{from_step!r} (steps: {', '.join(workflow.steps)})"
                )
                raise ActionRefusedError(msg)
            _reset(target, from_step, next_attempt, saves)
            history.append(_row(target, operator, f"reset to step {from_step!r}"))
            outcome = "reset"
        _reopen_ancestors(target, records, saves, history, operator)
        return list(saves.values()), history, outcome

    return change


def _retry(
    job: JobRecord,
    records: dict[str, JobRecord],
    saves: dict[str, JobRecord],
    history: list[HistoryRow],
    operator: str,
) -> None:
    # Depth first, each split's faulted branches before the split, with a stack of its
    # own: a case nests as deep as its splits, past Python's stack.
    stack = [(job, _faulted_branches(job, records))]
    while stack:
        job, branches = stack[-1]
        if branches is not None:
            branch = next(branches, None)
            if branch is not None:
                stack.append((branch, _faulted_branches(branch, records)))
                continue
        stack.pop()
        if branches is not None:
            _wait_again(job, records)  # after its branches: those retried no longer fail it
            saves[job.id] = job
            history.append(_row(job, operator, "retry: waits for its retried branches"))
            continue
        job.state = JobState.READY
        job.attempt += 1
        job.error = None
        job.due = None
        job.event = None
        job.cancel_requested = False
        saves[job.id] = job
        history.append(_row(job, operator, f"retry of step {job.step!r} (attempt {job.attempt})"))


def _faulted_branches(job: JobRecord, records: dict[str, JobRecord]) -> Iterator[JobRecord] | None:
    """The faulted branches of ``job``'s split to retry; ``None`` if it did not split."""
    if not _in_split(job):
        return None
    kids = [
        r
        for r in records.values()
        if r.parent_id == job.id and r.parent_gen == job.gen and r.state is JobState.FAULTED
    ]
    if not kids:
        msg = (
            f"job {job.id} ended with its split and no branch of that split faulted "
            f"to retry; reset it to a step instead {_HOW_TO_RESET}"
        )
        raise ActionRefusedError(msg)
    return iter(kids)


def _wait_again(parent: JobRecord, records: dict[str, JobRecord]) -> None:
    """Make a parent whose split ended wait for that split's branches again."""
    parent.state = JobState.WAITING
    parent.error = None
    parent.cancel_requested = False
    parent.branch_cancelled = False
    parent.branch_error = None
    for kid in records.values():  # a branch left FAULTED (not retried) still fails the split
        if (
            kid.parent_id == parent.id
            and kid.parent_gen == parent.gen
            and kid.state is JobState.FAULTED
        ):
            parent.branch_error = branch_faulted(parent.branch_error, kid)


def _reset(job: JobRecord, step: str, attempt: int | None, saves: dict[str, JobRecord]) -> None:
    if _in_split(job) or job.split_total:
        job.gen += 1  # the old split's late arrivals no longer count
    job.split_step = None
    job.split_total = 0
    job.split_live = 0
    job.arrivals = {}
    job.join_step = None
    job.joined = False
    job.branch_error = None
    job.branch_cancelled = False
    job.cancel_requested = False
    job.step = step
    job.state = JobState.READY
    job.attempt = attempt if attempt is not None else job.attempt + 1
    job.error = None
    job.due = None
    job.event = None
    saves[job.id] = job


def _reopen_ancestors(
    job: JobRecord,
    records: dict[str, JobRecord],
    saves: dict[str, JobRecord],
    history: list[HistoryRow],
    operator: str,
) -> None:
    """A branch runs again: each ancestor waits for its split again, up to the root."""
    child = job
    while child.parent_id is not None:
        parent = saves.get(child.parent_id) or records.get(child.parent_id)
        if parent is None:
            msg = (
                f"the parent {child.parent_id!r} of job {child.id} is no job of its case "
                f"{child.case_id!r} (missing from the store, or a job of another case: a row "
                "changed by hand)"
            )
            raise ActionRefusedError(msg)
        if not _in_split(parent) or parent.gen != child.parent_gen:
            msg = (
                f"job {child.id}'s parent {parent.id} has gone past the split that made it "
                f"(it is at step {parent.step!r}); retry or reset the parent instead"
            )
            raise ActionRefusedError(msg)
        if parent.state is JobState.WAITING and parent.id in saves:
            return  # already reopened by this change
        # A reset branch that had reached the join arrives again, and counts again.
        parent.arrivals = {k: v for k, v in parent.arrivals.items() if k != child.branch_index}
        _wait_again(parent, records)
        saves[parent.id] = parent
        history.append(_row(parent, operator, f"waits again for branch job {child.id}"))
        child = parent


def cancel_change(job_id: str, operator: str) -> CaseChange:
    """Cancel ``job_id`` and every job below it (as ``Mediator.cancel`` does)."""

    def change(jobs: list[StoredJob]) -> _Change:
        records = {j.record.id: copy.copy(j.record) for j in jobs}
        target = records.get(job_id)
        if target is None:
            msg = f"no job {shown_id(job_id)} in its case"
            raise JobNotFoundError(msg)
        below = _subtree(job_id, records)
        live = [records[i] for i in below if records[i].state not in FINAL_STATES]
        if not live:
            return [], [], CancelOutcome.ALREADY_FINISHED.value
        why = f"cancelled by {operator}"
        history = []
        for job in live:
            job.error = cancel_reason(job, why)
            job.state = JobState.CANCELLED
            job.due = None
            job.event = None
            job.cancel_requested = True
            history.append(_row(job, operator, "cancel"))
        parent = records.get(target.parent_id or "")
        if parent is not None and parent.state not in FINAL_STATES:
            parent.branch_cancelled = True  # its split learns of it when a worker resumes it
            live.append(parent)
        return live, history, CancelOutcome.CANCELLED.value

    return change


def _subtree(job_id: str, records: dict[str, JobRecord]) -> list[str]:
    kids: dict[str, list[str]] = {}
    for r in records.values():
        if r.parent_id is not None:
            kids.setdefault(r.parent_id, []).append(r.id)
    out = [job_id]
    for parent in out:  # grows while iterated: breadth first, any depth
        out.extend(kids.get(parent, ()))
    return out


def event_change(
    correlation_id: str,
    data: Any,
    operator: str,
    *,
    fault: bool = False,
    waits: Callable[[JobRecord], Collection[str] | None] | None = None,
    now: Callable[[], float] = time.time,
) -> CaseChange:
    """Deliver an event to a parked job, as a worker would: READY, with the event saved.

    The correlation id is ``JOB/STEP`` (a ``RequestReaction``) or ``JOB/STEP/EVENT`` (a
    ``DeferredChoice``); the job must be WAITING at that step with no event pending.
    ``waits(job)``: the correlation ids the job's step waits on, where its workflow is
    known (``None`` where not): an id it does not wait on is ``unknown``, as a worker
    answers, not an event a worker could only drop or fault the job on. ``now()``: the
    time by the clock the store keeps due times by (``_due_text.server_now``), against
    which the job's timeout is told to have come first.
    """
    job_id, _, rest = correlation_id.partition("/")
    step, _, name = rest.partition("/")

    def change(jobs: list[StoredJob]) -> _Change:
        job = _find(jobs, job_id)
        if job.state in FINAL_STATES:
            return [], [], EventOutcome.FINISHED.value
        if job.step == step and job.event is not None and job.event[0] != "join":
            # Released here, not yet run: by this very id (a reply or fault of the same
            # name), or by another event of its choice or its timeout, which this one lost.
            if job.event[0] in ("reply", "fault") and job.event[1] == name:
                return [], [], EventOutcome.DUPLICATE.value
            return [], [], EventOutcome.LATE.value
        if job.state is not JobState.WAITING or job.step != step or _in_split(job):
            return [], [], EventOutcome.UNKNOWN.value
        expected = waits(job) if waits is not None else None
        if expected is not None and correlation_id not in expected:
            return [], [], EventOutcome.UNKNOWN.value
        if job.due is not None and job.due <= now():
            # Its timeout came first, unfired only because no worker ran: the worker that
            # takes the job fires it, and answers such an event late, as this does.
            return [], [], EventOutcome.LATE.value
        job.event = ("fault" if fault else "reply", name, data)
        job.state = JobState.READY
        job.due = None
        kind = "fault" if fault else "event"
        history = [_row(job, operator, f"{kind} {correlation_id}")]
        return [job], history, EventOutcome.DELIVERED.value

    return change


def unchecked_problem(job: JobRecord, given: Collection[tuple[str, int]], what: str) -> str | None:
    """Why an action on ``job`` is refused when workflows were ``given`` but not its own.

    The caller gave them to have the action checked against the job's workflow: one not
    among them would let it through unchecked, unseen. ``None`` when none were given.
    """
    if not given or (job.workflow, job.version) in given:
        return None
    names = ", ".join(f"{name!r} version {version}" for name, version in sorted(given))
    return (
        f"job {shown_id(job.id)} is of workflow {job.workflow!r} version {job.version}, "
        f"which is not among the workflows given ({names}), so {what} cannot be "
        "checked against it: give its workflow too, or none to act unchecked"
    )
