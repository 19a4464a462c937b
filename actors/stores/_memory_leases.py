"""The memory store's claims and leases: which worker holds which case, and until when.

A mixin of ``MemoryStore``, modelling in one process what the SQL stores do with rows
(``actors.stores._sql_leases``): every job of a case is stamped with the worker that holds
the case (job id -> owner), the case's root is marked while the case is held (root id ->
``HELD``), and each worker has a lease (owner -> expires): a held case is held while its
worker's lease runs. A claim marks free roots and stamps their cases, a heartbeat renews
its worker's lease, a release ends the marks. The saves' fence against another worker's
stamp stays with ``MemoryStore``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from actors._errors import JobNotFoundError, LeaseLostError
from actors.stores._admin_types import taken_over, was_worker
from actors.stores._memory_saved import (
    AT,
    ATTEMPT,
    CASE,
    PARENT,
    STATE,
    STEP,
    VERSION,
    WORKFLOW,
    Saved,
)
from actors.stores._statements import HELD

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from actors._job import JobRecord
    from actors.stores._admin_types import HistoryRow

__all__ = ["MemoryLeases"]


class MemoryLeases:
    """Claims, heartbeats, releases and lease owners of a memory store (mixed into it)."""

    _live: dict[str, Saved]
    _finished: OrderedDict[str, Saved]
    _stamps: dict[str, str]  # job id -> the worker holding its case
    _expires: dict[str, float]  # a held case's root id -> HELD
    _workers: dict[str, float]  # a worker -> when its lease ends
    _tries: dict[str, tuple[float, int]]  # job id -> (its save's time at the last try, tries)
    _lock: threading.Lock
    owner: str | None

    if TYPE_CHECKING:  # provided by MemoryStore

        def _restore(self, saved: Saved) -> JobRecord: ...

        def _add_history(self, rows: list[HistoryRow]) -> None: ...
        def _find(self, job_id: str) -> Saved | None: ...

    def _lease_end(self, root: str) -> float | None:
        """When the lease on case ``root`` ends (``None``: nobody holds it); under the lock."""
        expires = self._expires.get(root)
        if expires != HELD:
            return expires
        holder = self._stamps.get(root)
        return None if holder is None else self._workers.get(holder)

    def claim(
        self,
        owner: str,
        now: float,
        lease_seconds: float,
        limit: int,
        *,
        case_id: str | None = None,
        reclaim: bool = False,
        workflows: Collection[tuple[str, int]] | None = None,
    ) -> list[JobRecord]:
        """Take up to ``limit`` free cases for ``owner`` (see Store)."""
        served = None if workflows is None else set(workflows)
        out: list[JobRecord] = []
        # The cases whose holder stopped holding them without a release (it died or
        # froze; with reclaim, the owner's previous process): their jobs count tries.
        stopped: set[str] = set()
        with self._lock:
            if reclaim:  # the owner's cases are free first; it takes back what fits
                for root in [r for r in self._expires if self._stamps.get(r) == owner]:
                    del self._expires[root]
                    stopped.add(root)
                holding = {self._stamps.get(r) for r in self._expires}
                for gone in [w for w, e in self._workers.items() if e < now]:
                    if gone not in holding:  # as a missing row: it holds nothing
                        del self._workers[gone]
            mine = set(stopped)  # taken back before any other, as in SQL
            live = list(self._live.items())
            roots = [
                job_id
                for job_id, saved in live
                if saved[PARENT] is None
                and (case_id is None or job_id == case_id)
                and (served is None or (saved[WORKFLOW], saved[VERSION]) in served)
            ]
            # Its own first (reclaim), then cases a stopped holder had in flight, then free
            # ones, as in SQL; oldest first within each.
            roots.sort(key=lambda r: 0 if r in mine else 1 if r in self._expires else 2)
            taken = 0
            for root in roots:
                if taken >= limit:
                    break
                expires = self._expires.get(root)
                end = self._lease_end(root)
                if end is not None and end >= now:
                    continue
                self._expires[root] = HELD
                taken += 1
                if expires is not None:
                    stopped.add(root)
                previous = self._stamps.get(root)
                if previous is not None and was_worker(previous, owner):  # see taken_over
                    held = self._live[root]  # as last saved, not as its runner has it now
                    at = time.time()
                    self._add_history(
                        [
                            taken_over(
                                (root, held[STEP], held[ATTEMPT], held[STATE].value),
                                owner,
                                previous,
                                expired=expires is not None,
                                at=at,
                            )
                        ]
                    )
                for job_id, saved in [*live, *list(self._finished.items())]:
                    if saved[CASE] == root:
                        self._stamps[job_id] = owner  # the previous holder is fenced out
                for _, saved in live:
                    if saved[CASE] != root:
                        continue
                    job = self._restore(saved)
                    job.taken_over = root in stopped
                    tried = self._tries.get(job.id)  # a try from its saved point ended?
                    job.solo = job.taken_over and tried is not None and tried[0] == saved[AT]
                    out.append(job)
            if taken or reclaim:  # the owner's lease, extended (never shortened)
                self._workers[owner] = max(self._workers.get(owner, now), now + lease_seconds)
        return out

    def count_try(self, job: JobRecord) -> int:
        """Count a try of ``job`` (taken over) at its saved point (see Store)."""
        with self._lock:
            saved = self._find(job.id)
            if saved is None:
                msg = f"no job {job.id!r} in memory:// (deleted while it was taken over)"
                raise JobNotFoundError(msg)
            holder = self._stamps.get(job.id)
            if holder is not None and holder != self.owner:
                raise LeaseLostError(job.id, job.case_id, holder, self.owner)
            at = saved[AT]  # when its last save was made: a save since starts the count again
            before = self._tries.get(job.id)
            tries = before[1] + 1 if before is not None and before[0] == at else 1
            self._tries[job.id] = (at, tries)
            return tries

    def count_tries(self, jobs: Sequence[JobRecord]) -> dict[str, int]:
        """Count a try of each of ``jobs`` (taken over); a job left out was not counted."""
        out: dict[str, int] = {}
        for job in jobs:
            with contextlib.suppress(JobNotFoundError, LeaseLostError):  # its runner says why
                out[job.id] = self.count_try(job)
        return out

    def unclaimed(self, now: float) -> dict[tuple[str, int], int]:
        """Unfinished cases no live worker holds, by workflow and version (see Store)."""
        out: dict[tuple[str, int], int] = {}
        with self._lock:
            for job_id, saved in list(self._live.items()):
                end = self._lease_end(job_id)
                if saved[PARENT] is None and (end is None or end < now):
                    key = (saved[WORKFLOW], saved[VERSION])
                    out[key] = out.get(key, 0) + 1
        return out

    def heartbeat(self, owner: str, now: float, lease_seconds: float) -> None:
        """Extend ``owner``'s lease, and every case it holds with it (see Store)."""
        with self._lock:
            self._workers[owner] = now + lease_seconds

    def lease_owners(self, case_ids: list[str]) -> dict[str, str | None]:
        """Which worker each of these cases belongs to (see Store)."""
        with self._lock:
            return {
                case_id: self._stamps.get(case_id)
                for case_id in case_ids
                if self._find(case_id) is not None
            }

    def release(self, owner: str) -> int:
        """End ``owner``'s leases; the stamps stay until the next claim (see Store)."""
        with self._lock:
            mine = [root for root in self._expires if self._stamps.get(root) == owner]
            for root in mine:
                del self._expires[root]
        return len(mine)
