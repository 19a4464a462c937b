"""What the Scheduler's collaborators read from the store and the registered workflows.

``CaseReads`` is the store-facing interface event delivery and recovery are written
against (a test gives them a fake); ``CaseStore`` is the engine's, over its
configuration. Reads only, apart from ``cannot_store``, which puts a job's last saved
data back on the record the Scheduler holds, and ``mark_cancel``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from actors._engine import job_log, logger
from actors._errors import StoreError, UnknownWorkflowError
from actors._runner import correlations_for
from actors._slice_end import back_to_saved_data
from actors._split_join import split_join
from actors._steps import Discriminator

if TYPE_CHECKING:
    from collections.abc import Mapping

    from actors._engine import EngineConfig
    from actors._job import Job, JobRecord
    from actors._workflow import Workflow

__all__ = ["CaseReads", "CaseStore"]


class CaseReads(Protocol):
    """The store and the workflows, as the Scheduler's collaborators read them."""

    @property
    def shared(self) -> bool:
        """Whether the store is shared with other workers (leases, takeover)."""

    @property
    def owner(self) -> str:
        """This worker's name on a shared store."""

    def stored(self, job_id: str) -> Job | None:
        """``job_id`` as last saved (a snapshot to read), or ``None``."""

    def load(self, job_id: str) -> JobRecord | None:
        """``job_id`` as last saved, as a record this worker may keep and change."""

    def holder(self, case_id: str) -> str | None:
        """Which worker holds case ``case_id``'s lease (a shared store's)."""

    def ended_branches(self, parent: JobRecord) -> list[JobRecord]:
        """The branches of ``parent``'s current split saved FAULTED or CANCELLED."""

    def branches(self, parent: JobRecord) -> list[str]:
        """The ids of the branches of ``parent``'s current split saved unfinished."""

    def workflow(self, name: str, version: int) -> Workflow:
        """The registered workflow (``UnknownWorkflowError`` if this worker lacks it)."""

    def waits_of(self, job: JobRecord) -> Mapping[str, str] | None:
        """The correlation ids ``job``'s step waits on (``None``: its step is unknown)."""

    def cannot_store(self, job: JobRecord, error: BaseException) -> str:
        """Give ``job`` its last saved data back; why it faults (``error`` kept it unstored)."""


class CaseStore:
    """``CaseReads`` over one engine's store and workflows."""

    __slots__ = ("_c", "_first_wins", "_joins")

    def __init__(self, config: EngineConfig) -> None:
        self._c = config
        # Whether a join step is a Discriminator, by (workflow, version, step): asked on
        # every branch arrival, and workflows never change.
        self._first_wins: dict[tuple[str, int, str], bool] = {}
        # The join of a split step, by (workflow, version, split): its walk is done once.
        self._joins: dict[tuple[str, int, str], str | None] = {}

    def mark_cancel(self, job: JobRecord, why: str) -> None:
        """Mark running ``job`` cancelled in the store (``Store.mark_cancel``).

        Reads only its id, which never changes: the record is its runner's.
        """
        try:
            self._c.store.mark_cancel(job.id, why)
        except StoreError as exc:  # the stop stands; only a death before it ends loses it
            logger.warning(
                "job %s: its cancel is not stored yet (%s); its runner stops it",
                job.id,
                exc,
                extra=job_log(job),
            )

    def first_wins(self, parent: JobRecord, join_step: str) -> bool:
        """Whether ``join_step`` of ``parent``'s workflow is a Discriminator (cached)."""
        key = (parent.workflow, parent.version, join_step)
        first_wins = self._first_wins.get(key)
        if first_wins is None:
            join = self._c.workflow(parent.workflow, parent.version).step(join_step)
            first_wins = self._first_wins[key] = isinstance(join, Discriminator)
        return first_wins

    def join_of(self, parent: JobRecord) -> str | None:
        """The join ``parent``'s split leads to in its workflow (``split_join``; cached)."""
        if parent.split_step is None:
            return None
        key = (parent.workflow, parent.version, parent.split_step)
        if key not in self._joins:
            try:
                wf = self._c.workflow(parent.workflow, parent.version)
            except UnknownWorkflowError:
                return None
            self._joins[key] = split_join(wf, parent.split_step)
        return self._joins[key]

    @property
    def shared(self) -> bool:
        return self._c.store.shared

    @property
    def owner(self) -> str:
        return self._c.owner

    def stored(self, job_id: str) -> Job | None:
        return self._c.store.get(job_id)

    def load(self, job_id: str) -> JobRecord | None:
        return self._c.store.load(job_id)

    def holder(self, case_id: str) -> str | None:
        return self._c.store.lease_owners([case_id]).get(case_id)

    def ended_branches(self, parent: JobRecord) -> list[JobRecord]:
        return self._c.store.ended_branches(parent)

    def branches(self, parent: JobRecord) -> list[str]:
        try:
            jobs = self._c.store.case_jobs(parent.case_id)
        except NotImplementedError:  # a custom store: as ended_branches reads it
            return []
        return [
            job.record.id
            for job in jobs
            if job.record.parent_id == parent.id
            and job.record.parent_gen == parent.gen
            and not job.record.state.is_final
        ]

    def missing_branches(self, parent: JobRecord) -> list[int]:
        """The indexes of ``parent``'s current split's branches the store has no row of."""
        try:
            jobs = self._c.store.case_jobs(parent.case_id)
        except NotImplementedError:  # a custom store: none known missing
            return []
        present = {
            job.record.branch_index
            for job in jobs
            if job.record.parent_id == parent.id and job.record.parent_gen == parent.gen
        }
        return [i for i in range(parent.split_total) if i not in present]

    def workflow(self, name: str, version: int) -> Workflow:
        return self._c.workflow(name, version)

    def waits_of(self, job: JobRecord) -> Mapping[str, str] | None:
        try:
            step = self._c.workflow(job.workflow, job.version).step(job.step or "")
        except (UnknownWorkflowError, KeyError):
            return None
        return dict(correlations_for(job, step))

    def cannot_store(self, job: JobRecord, error: BaseException) -> str:
        return back_to_saved_data(self._c.store, job, error)
