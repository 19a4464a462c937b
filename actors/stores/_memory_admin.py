"""The memory store's side of the operator's API, as the SQL stores have it.

A mixin of ``MemoryStore``. A memory store is private to its process and holds no
requests for other workers: ``actors.admin`` hands actions on live cases to the
``Mediator`` running them instead.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from actors._errors import JobNotFoundError
from actors._job import FINAL_STATES, JobRecord
from actors.stores._admin_types import (
    CaseChange,
    Held,
    HistoryRow,
    JobQuery,
    ListingPosition,
    StoredJob,
    WorkerLease,
    WorkerLeases,
    listing_order,
)
from actors.stores._memory_saved import AT, CASE, KEPT, STATE, Saved

if TYPE_CHECKING:
    from collections.abc import Iterator

    from actors.stores._sql_prune import BatchDone


__all__ = ["MemoryAdmin"]

_ROW = 9  # items of one history row in a job's flat list (as MemoryStore writes them)


class MemoryAdmin:
    """What ``actors.admin`` asks of a memory store (mixed into ``MemoryStore``)."""

    _live: dict[str, Saved]
    _finished: OrderedDict[str, Saved]
    _arrivals: dict[str, dict[int, Any]]
    _stamps: dict[str, str]
    _expires: dict[str, float]
    _workers: dict[str, float]  # a worker -> when its lease ends
    _created: dict[str, float]
    _history: dict[str, list[Any]]  # a job's rows, _ROW items each, one after another
    _tries: dict[str, tuple[float, int]]  # job id -> (its save's time at the last try, tries)
    _lock: threading.Lock
    _seq: Iterator[int]

    if TYPE_CHECKING:  # provided by MemoryStore

        def _restore(self, saved: Saved) -> JobRecord: ...
        def _copied(self, shown: Any) -> Any: ...
        def _find(self, job_id: str) -> Saved | None: ...
        def _put(self, job: JobRecord, *, note: bool = True) -> None: ...
        def _lease_end(self, root: str) -> float | None: ...

    def _all(self) -> list[Saved]:
        return [*list(self._live.values()), *list(self._finished.values())]

    def _stored(self, saved: Saved) -> StoredJob:
        record = self._restore(saved)  # the reader's own data: it may change it
        kept = saved[KEPT]
        if not record.arrivals and kept:  # a final parent keeps its arrivals (as saved)
            record.arrivals = {i: self._copied(d) for i, d in kept.items()}
        updated = saved[AT]
        finished = updated if saved[STATE] in FINAL_STATES else None
        owner = self._stamps.get(record.id)
        created = self._created.get(record.id, updated)
        tried = self._tries.get(record.id)  # counted at its last save only (see count_try)
        tries = tried[1] if tried is not None and tried[0] == updated else 0
        return StoredJob(
            record, created, updated, finished, owner, self._lease_end(record.id), tries
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

        Newest first by (created_at, id), both descending, as the SQL stores list them;
        ``after``: only jobs past that (created_at, id) in that order.
        """
        found = [self._stored(saved) for saved in self._all()]
        past = None if after is None else (listing_order(after[0]), after[1])
        needle = query.error.lower() if query.error is not None else None

        def keep(job: StoredJob) -> bool:
            r = job.record
            created = job.created_at or 0.0
            return (
                (not query.states or r.state in query.states)
                and query.workflow in (None, r.workflow)
                and query.version in (None, r.version)
                and query.step in (None, r.step)
                and query.case_id in (None, r.case_id)
                and (query.created_after is None or created >= query.created_after)
                and (query.created_before is None or created < query.created_before)
                and (needle is None or (r.error is not None and needle in r.error.lower()))
                and (not query.roots or r.parent_id is None)
                and (past is None or (listing_order(created), r.id) < past)
            )

        matching = [job for job in found if keep(job)]
        matching.sort(key=lambda job: (job.created_at or 0.0, job.record.id), reverse=True)
        return matching[offset : offset + limit]

    def case_jobs(self, case_id: str) -> list[StoredJob]:
        """Every job of case ``case_id``, in the order they were created."""
        jobs = [self._stored(s) for s in self._all() if s[CASE] == case_id]
        jobs.sort(key=lambda job: job.created_at or 0.0)
        return jobs

    def stored_job(self, job_id: str) -> StoredJob | None:
        """The job ``job_id`` as an operator reads it (``None``: no such job)."""
        saved = self._find(job_id)
        return None if saved is None else self._stored(saved)

    def step_history(self, job_id: str) -> list[HistoryRow]:
        """The history rows ``job_id`` keeps (see ``MemoryStore``), oldest first."""
        flat = list(self._history.get(job_id, ()))  # one copy: whole rows (see _put)
        return [HistoryRow(job_id, *flat[i : i + _ROW]) for i in range(0, len(flat), _ROW)]

    def leases_held(self, now: float) -> list[tuple[str, int, float]]:
        """(worker, cases, latest expiry) for every worker holding unexpired leases."""
        held: dict[str, tuple[int, float]] = {}
        with self._lock:
            for root in self._expires:
                owner = self._stamps.get(root)
                expires = self._lease_end(root)
                if (
                    owner is not None
                    and expires is not None
                    and expires >= now
                    and root in self._live
                ):
                    count, latest = held.get(owner, (0, expires))
                    held[owner] = (count + 1, max(latest, expires))
        return [(owner, n, latest) for owner, (n, latest) in sorted(held.items())]

    def worker_leases(self, now: float, limit: int) -> WorkerLeases:
        """The workers' leases at ``now``, ``limit`` of them (see Store)."""
        with self._lock:
            workers = sorted((expires, owner) for owner, expires in self._workers.items())
            listed = workers[:limit]
            cases = dict.fromkeys((owner for _, owner in listed), 0)
            for root in self._expires:
                owner = self._stamps.get(root)
                if owner in cases and root in self._live:
                    cases[owner] += 1
            live = sum(1 for expires, _ in workers if expires >= now)
        shown = [WorkerLease(owner, expires, cases[owner]) for expires, owner in listed]
        return WorkerLeases(shown, len(workers), live)

    def change_case(
        self,
        case_id: str,
        change: CaseChange,
        *,
        now: float,
        stamp: str,
        lock_wait: float | None = None,  # no transaction of another holds this one's lock
    ) -> Any:
        """Apply ``change`` to case ``case_id`` unless a live worker holds it (see SqlStore)."""
        with self._lock:
            root = self._live.get(case_id) or self._finished.get(case_id)
            if root is None:
                msg = f"no case {case_id!r}"
                raise JobNotFoundError(msg)
            expires = self._lease_end(case_id)
            if expires is not None and expires >= now:
                return Held(self._stamps.get(case_id, "?"), expires)
            jobs = self.case_jobs(case_id)
            saves, history, result = change(jobs)
            for record in saves:
                if record.state not in FINAL_STATES:
                    self._finished.pop(record.id, None)
                self._put(record, note=False)  # the change's own rows say what it did
            for job in jobs:
                self._stamps[job.record.id] = stamp
            for record in saves:
                self._stamps[record.id] = stamp
            self._expires.pop(case_id, None)
            self._add_history(history)
            return result

    def _add_history(self, rows: list[HistoryRow]) -> None:
        for row in rows:
            entry = (
                next(self._seq),
                row.step,
                row.attempt,
                row.state,
                row.at,
                row.worker,
                row.error,
                row.action,
                row.started,
            )
            self._history.setdefault(row.job_id, []).extend(entry)

    def append_history(self, rows: list[HistoryRow]) -> None:
        """Append history rows (an operator's action the engine carried out)."""
        with self._lock:
            self._add_history(rows)

    def prune_cases(
        self, finished_before: float, batch_done: BatchDone | None = None
    ) -> tuple[int, int]:
        """Forget cases whose every job ended before ``finished_before``; (cases, jobs) gone.

        All in one part: ``batch_done`` is told of it once.
        """
        gone = self._prune(finished_before)
        if batch_done is not None and gone[0]:
            batch_done(*gone)
        return gone

    def _prune(self, finished_before: float) -> tuple[int, int]:
        with self._lock:
            by_case: dict[str, list[str]] = {}
            live_cases = {saved[CASE] for saved in list(self._live.values())}
            for job_id, saved in list(self._finished.items()):
                by_case.setdefault(saved[CASE], []).append(job_id)
            gone_cases = 0
            gone_jobs = 0
            for case_id, ids in by_case.items():
                if case_id in live_cases or case_id not in ids:
                    continue
                ends = [self._finished[i][AT] for i in ids]
                if max(ends) >= finished_before:
                    continue
                for job_id in ids:
                    self._finished.pop(job_id, None)
                    self._created.pop(job_id, None)
                    self._history.pop(job_id, None)
                    self._stamps.pop(job_id, None)
                gone_cases += 1
                gone_jobs += len(ids)
            return gone_cases, gone_jobs

    def trim_history(self, saved_before: float) -> tuple[int, int]:
        """Delete nothing: a memory store bounds each job's history and its finished jobs.

        (``history_rows`` and ``retain``.)
        """
        return 0, 0
