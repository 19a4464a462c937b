"""The operator's part of the ``Store`` interface (what ``actors.admin`` reads and changes).

Listing and inspecting cases, changing a case no live worker holds, and leaving
requests for the worker that holds one. The memory and SQL stores implement these; a
store that does not cannot be operated with ``actors.admin``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors._job import JobState

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actors._job import JobRecord
    from actors.stores._admin_types import (
        CaseChange,
        HistoryRow,
        JobQuery,
        ListingPosition,
        Request,
        StoredJob,
        WorkerLeases,
    )
    from actors.stores._sql_prune import BatchDone

__all__ = ["OperatorApi"]


class OperatorApi:
    """The operator's methods of ``Store``; a store without one raises ``NotImplementedError``."""

    def _unsupported(self, what: str) -> NotImplementedError:
        """The error for a method this store lacks (every ``Store`` method's, too)."""
        url = getattr(self, "url", type(self).__name__)
        return NotImplementedError(
            f"{type(self).__name__} ({url}) does not implement {what}: multi-worker claims, "
            "leases and join counting need a store that does (memory://, sqlite:///... "
            "or postgresql://...)"
        )

    def query_jobs(
        self,
        query: JobQuery,
        *,
        limit: int,
        offset: int = 0,
        after: ListingPosition | None = None,
    ) -> list[StoredJob]:
        """Jobs matching ``query``, newest first, ``limit`` of them after the first ``offset``.

        Newest first is by (created_at, id), both descending. ``after``, the
        (created_at, id) of a job listed before: only the jobs past it in that order.
        """
        raise self._unsupported("query_jobs()")

    def case_jobs(self, case_id: str) -> list[StoredJob]:
        """Every job of case ``case_id``, in the order they were created."""
        raise self._unsupported("case_jobs()")

    def stored_job(self, job_id: str) -> StoredJob | None:
        """The job ``job_id`` as an operator reads it (``None``: no such job).

        Never writes: a row that cannot be read is shown FAULTED with what is wrong, and
        left in the store as it is (``load`` faults it in the store, for a worker).
        """
        raise self._unsupported("stored_job()")

    def step_history(self, job_id: str) -> list[HistoryRow]:
        """Every history row of ``job_id``, oldest first."""
        raise self._unsupported("step_history()")

    def ended_branches(self, parent: JobRecord) -> list[JobRecord]:
        """The branches of ``parent``'s current split saved FAULTED or CANCELLED, by index.

        Read when a worker takes over a parent that waits on its split: the faults its
        last worker counted as the branches ended were not saved with the parent yet.
        A store without ``case_jobs`` (a custom one) reports none.
        """
        try:
            jobs = self.case_jobs(parent.case_id)
        except NotImplementedError:
            return []
        ended = [
            job.record
            for job in jobs
            if job.record.parent_id == parent.id
            and job.record.parent_gen == parent.gen
            and job.record.state in (JobState.FAULTED, JobState.CANCELLED)
        ]
        return sorted(ended, key=lambda record: record.branch_index or 0)

    def arrived_branches(self, parents: Sequence[JobRecord]) -> dict[str, frozenset[int]]:
        """The branches of each parent's current split that have reached its join, by id.

        For an operator's view of parents as ``stored_job`` read them. A store that counts
        arrivals apart from the parent's record (the SQL stores, until the join fires)
        reads them there.
        """
        return {parent.id: frozenset(parent.arrivals) for parent in parents}

    def stored_jobs(self, job_ids: Sequence[str]) -> dict[str, StoredJob]:
        """The jobs of ``job_ids`` as ``stored_job`` reads them, by id (missing ones left out).

        The SQL stores read them in one query, not one per job.
        """
        found = ((job_id, self.stored_job(job_id)) for job_id in dict.fromkeys(job_ids))
        return {job_id: job for job_id, job in found if job is not None}

    def step_histories(
        self, job_ids: Sequence[str], *, last: int | None = None
    ) -> dict[str, list[HistoryRow]]:
        """``step_history`` of each job of ``job_ids``, by id (empty for a job with none).

        The SQL stores read them in one query, not one per job, and with ``last`` read
        only each job's most recent ``last`` entries.
        """
        every = {job_id: self.step_history(job_id) for job_id in job_ids}
        return every if last is None else {k: v[-last:] if last else [] for k, v in every.items()}

    def leases_held(self, now: float) -> list[tuple[str, int, float]]:
        """(worker, cases, latest expiry) for every worker holding leases past ``now``."""
        return []

    def worker_leases(self, now: float, limit: int) -> WorkerLeases:
        """The workers' leases at ``now`` (by the store's clock, see ``lease_time``).

        Up to ``limit`` workers, the lease that ended first listed first: workers that
        stopped renewing (their cases wait for a takeover), then live ones, the lease
        ending soonest first. One bounded read: a worker's cases are counted in an index.
        """
        raise self._unsupported("worker_leases()")

    def change_case(
        self,
        case_id: str,
        change: CaseChange,
        *,
        now: float,
        stamp: str,
        lock_wait: float | None = None,
    ) -> Any:
        """Apply ``change`` to a case unless a live worker holds it (then return ``Held``).

        Atomic: the rows of the case are locked, ``change`` sees them as last saved, and
        what it returns is saved; every row is then stamped with ``stamp`` and the case
        is left free for the next claim. With ``lock_wait``, a SQL store waits at most
        that many seconds for the case's rows (SQLite: the write lock) that another
        transaction holds (a worker in the middle of a write, or frozen in one), then
        raises ``RowsLockedError`` having changed nothing.
        """
        raise self._unsupported("change_case()")

    def append_history(self, rows: list[HistoryRow]) -> None:
        """Append history rows (an operator's action)."""
        raise self._unsupported("append_history()")

    def post_request(
        self,
        case_id: str,
        job_id: str,
        kind: str,
        payload: Any,
        operator: str,
        now: float,
        void_after: float | None = None,
    ) -> int:
        """Leave an action for the worker holding ``case_id``; return the request's id.

        ``void_after``: when its sender stops waiting, by ``lease_time``'s clock; no
        worker takes it after that (``take_requests`` marks it ``EXPIRED``).
        """
        raise self._unsupported("post_request()")

    def get_request(self, request_id: int) -> Request | None:
        """A request as it stands now."""
        raise self._unsupported("get_request()")

    def take_requests(self, owner: str, now: float) -> list[Request]:
        """Take the requests waiting for cases ``owner`` holds (none on a store without them).

        A request past its ``void_after`` is not taken: it is marked ``EXPIRED`` and
        returned so, for its worker to say it was not carried out.
        """
        return []

    def finish_request(self, request_id: int, outcome: str, now: float) -> None:
        """Record what became of a request."""
        raise self._unsupported("finish_request()")

    def withdraw_request(self, request_id: int, now: float) -> bool:
        """Take back a request no worker has taken; ``False`` if one took it first."""
        raise self._unsupported("withdraw_request()")

    def prune_cases(
        self, finished_before: float, batch_done: BatchDone | None = None
    ) -> tuple[int, int]:
        """Delete cases whose every job ended before ``finished_before``; (cases, jobs) gone.

        ``batch_done(cases, jobs)`` is told of each part deleted and stored (a SQL store
        deletes a few hundred cases per transaction); a true answer stops the prune
        there, with every case deleted whole or not at all.
        """
        raise self._unsupported("prune_cases()")

    def trim_history(self, saved_before: float) -> tuple[int, int]:
        """Trim what unfinished cases left before ``saved_before``; (history rows, jobs) gone.

        For a case that never ends (a loop), which ``prune_cases`` never reaches: its jobs'
        history, but operators' actions and each job's latest row of each step and
        attempt (from which ``Admin.retry(from_step=...)`` numbers the next); and the
        finished branches of splits it has since split again (with their history and
        join arrivals), as well as those splits' arrivals.
        """
        raise self._unsupported("trim_history()")
