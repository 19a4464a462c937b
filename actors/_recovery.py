"""Taking jobs back as last saved: after a restart, a takeover, or work a runner lost.

A plain object owned by the Scheduler. It decides, for each job found in the store or
handed back by a runner whose work was not stored, whether it resumes from its last
saved step, faults (its step is gone, or what it did can never be stored), or is left to
a worker that serves its workflow. It reads the store only through ``CaseReads``, and
returns its decisions (``Resume``, ``Fault``) for the
Scheduler to carry out: no actor, thread or clock here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actors._engine import job_log, logger
from actors._errors import CodecError, JobNotFoundError, UnknownWorkflowError
from actors._job import FINAL_STATES, JobState, branch_faulted, cancel_reason, is_saved_open
from actors._saved_wait import saved_wait_problem, step_gone
from actors._served import UnservedLog
from actors._slice_end import parent_missing

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from actors._case_store import CaseReads
    from actors._job import JobRecord

__all__ = ["Fault", "Recovery", "Resume", "unheld_branches"]


@dataclass(frozen=True, slots=True)
class Resume:
    """``job`` (held) goes on from its saved step: ``CaseBook.resume`` says how."""

    job: JobRecord
    steps: Collection[str]


@dataclass(frozen=True, slots=True)
class Fault:
    """End ``job`` (held) FAULTED with ``why``."""

    job: JobRecord
    why: str


class Recovery:
    """Which jobs this worker takes back, and how each goes on."""

    def __init__(self, served: Collection[tuple[str, int]]) -> None:
        self._served = frozenset(served)
        self.unserved = UnservedLog(served)

    def served(self, jobs: list[JobRecord]) -> list[JobRecord]:
        """The jobs of ``jobs`` to take charge of: those of a workflow served here.

        The others of a workflow (name or version) this process does not serve stay as
        saved, for a worker that serves it (a shared store never hands this worker such
        a job, since its claims name the workflows it serves; a store of this process
        alone may hold some), and are logged once per workflow version.
        """
        mine: list[JobRecord] = []
        left: list[JobRecord] = []
        for job in jobs:
            (mine if (job.workflow, job.version) in self._served else left).append(job)
        if left:
            self.unserved.left(left)
        return mine

    @staticmethod
    def parents_first(jobs: list[JobRecord], held: Mapping[str, JobRecord]) -> list[JobRecord]:
        """``jobs`` ordered so that each comes after every ancestor of it ``held`` holds.

        Parents decide first: a parent that faults cancels its branches before any of
        them is handed to a runner. One walk up per job, stopping at an ancestor already
        placed, so a deep case costs linear time; a loop of bad rows (each the other's
        parent) ends the walk.
        """
        depths: dict[str, int] = {}
        for job in jobs:
            chain: list[str] = []
            up: JobRecord | None = job
            while up is not None and up.id not in depths and up.id not in chain:
                chain.append(up.id)
                up = held.get(up.parent_id) if up.parent_id is not None else None
            depth = depths[up.id] + 1 if up is not None and up.id in depths else 0
            for job_id in reversed(chain):
                depths[job_id] = depth
                depth += 1
        return sorted(jobs, key=lambda job: depths[job.id])

    @staticmethod
    def resume(job: JobRecord, store: CaseReads) -> Resume | Fault:
        """How an adopted ``job`` goes on: from its step, or faulted if it cannot go on there.

        It cannot when its step is gone, or when it was saved waiting on (or released by)
        what its step now never waits on: the workflow changed without a new version.
        """
        if is_saved_open(job) or job.state in FINAL_STATES:
            # It ended (a row the store could not read comes back FAULTED, its reason
            # said): no step of it runs again, so whether its step is there is moot.
            return Resume(job, ())
        problem: str | None
        try:
            wf = store.workflow(job.workflow, job.version)
        except UnknownWorkflowError as exc:
            problem = exc.args[0] if exc.args else str(exc)
        else:
            gone = (job.step or "") not in wf.steps
            problem = step_gone(job, wf) if gone else saved_wait_problem(job, wf)
        if problem is None:
            if job.state is JobState.WAITING and job.split_total and not job.joined:
                _count_ended_branches(job, store)
            return Resume(job, wf.steps)
        why = f"cannot resume job {job.id}: {problem}"
        # Said here as a runner says a fault: nothing else tells an operator why.
        logger.warning("job %s faulted at step %r: %s", job.id, job.step, why, extra=job_log(job))
        return Fault(job, why)

    @staticmethod
    def unstored(
        job: JobRecord, error: BaseException, store: CaseReads, *, lost: bool
    ) -> Fault | None:
        """What a runner did with ``job`` was not stored: ``Fault``, or ``None`` to run it again.

        An unreadable row (``CodecError``), or a branch whose join finds no parent row,
        fails the same way on every run, so the job faults as a runner faults it in
        other modes; any other failure may pass, so the job runs again from its last
        saved step.
        """
        if lost:  # another worker holds the case now: nothing to do here
            return None
        if isinstance(error, CodecError):
            return Fault(job, store.cannot_store(job, error))
        if isinstance(error, JobNotFoundError) and job.parent_id is not None:
            store.cannot_store(job, error)
            return Fault(job, f"step {job.step!r}: {parent_missing(job)}")
        return None

    @staticmethod
    def reload(
        job: JobRecord,
        why: str,
        store: CaseReads,
        *,
        lost: bool,
        cancel: bool,
        level: int = logging.WARNING,
    ) -> JobRecord | Fault | None:
        """``job``'s last saved record, to run again (its runner's work on it was lost).

        ``None`` when its case is another worker's now (``lost``: nothing to resume
        here); ``Fault`` when nothing of it was saved. ``cancel``: a cancel is pending.
        """
        if lost:
            return None
        saved = store.load(job.id)
        if saved is None:
            return Fault(job, f"{why} and no saved state exists")
        requested = job.cancel_requested or cancel
        if requested and not saved.cancel_requested:
            saved.error = cancel_reason(saved, "cancelled")  # not a pending retry's failure
        saved.cancel_requested = requested or saved.cancel_requested  # or marked stored
        logger.log(
            level,
            "job %s resumes from its last saved step %r",
            job.id,
            saved.step,
            extra=job_log(saved),
        )
        return saved


def unheld_branches(saved: JobRecord, store: CaseReads, held: Collection[str]) -> list[JobRecord]:
    """The branches of reloaded ``saved``'s split that this worker does not hold.

    A slice reported not stored may have been stored all the same (a writer process that
    died after its commit, before its answer): the job's saved record then waits on a
    split whose branches this worker never heard of. Resumed alone, it would find none
    of them live and end its split at once, while they wait in the store for nobody.
    """
    if saved.state is not JobState.WAITING or not saved.split_total or saved.joined:
        return []
    kin = [store.load(job_id) for job_id in store.branches(saved) if job_id not in held]
    return [job for job in kin if job is not None and not job.state.is_final]


def _count_ended_branches(parent: JobRecord, store: CaseReads) -> None:
    """Note on ``parent`` the faults and cancels of its split's branches that ended already.

    The worker that ran the split counted them on the parent as each branch ended, and
    saved them with the parent's next save: if it stopped in between, the branches' own
    rows are all that tell. Left uncounted, a split whose branches all faulted would end
    DONE, and a join would not name the branch that faulted.
    """
    if parent.branch_error is not None:
        return  # saved with the parent: counted already (a fault counted twice is miscounted)
    for branch in store.ended_branches(parent):
        if branch.state is JobState.FAULTED:
            parent.branch_error = branch_faulted(parent.branch_error, branch)
        else:
            parent.branch_cancelled = True
