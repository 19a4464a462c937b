"""``memory://``: the in-process store, and the reference model for the other stores."""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from actors._job import FINAL_STATES, Job, JobRecord, JobState
from actors.stores._base import Store

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["MemoryStore"]

DEFAULT_RETAIN = 10_000


class MemoryStore(Store):
    """Keeps live jobs, and the most recent ``retain`` finished ones, in a dict.

    Retention rule: a job that reaches a final state is kept among the last ``retain``
    finished jobs and then forgotten, so a long run's memory stays bounded (handles
    hold their own result). Saving copies the data, so a runner that dies half-way
    through a step cannot leak that step's partial changes into the saved state.
    """

    def __init__(self, *, retain: int = DEFAULT_RETAIN) -> None:
        self.url = "memory://"
        self.retain = retain
        self._live: dict[str, JobRecord] = {}
        self._finished: OrderedDict[str, JobRecord] = OrderedDict()
        self._lock = threading.Lock()

    def _put(self, job: JobRecord) -> None:
        saved = _copy(job)
        if job.state in FINAL_STATES:
            self._live.pop(job.id, None)
            self._finished[job.id] = saved
            self._finished.move_to_end(job.id)
            while len(self._finished) > self.retain:
                self._finished.popitem(last=False)
        else:
            self._live[job.id] = saved

    def create(self, job: JobRecord) -> None:
        with self._lock:
            self._put(job)

    def save(self, job: JobRecord) -> None:
        with self._lock:
            self._put(job)

    def save_split(self, parent: JobRecord, branches: list[JobRecord]) -> None:
        with self._lock:
            self._put(parent)
            for branch in branches:
                self._put(branch)

    def delete(self, job_id: str) -> None:
        with self._lock:
            self._live.pop(job_id, None)
            self._finished.pop(job_id, None)

    def _find(self, job_id: str) -> JobRecord | None:
        return self._live.get(job_id) or self._finished.get(job_id)

    def load(self, job_id: str) -> JobRecord | None:
        with self._lock:
            found = self._find(job_id)
            return _copy(found) if found is not None else None

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            found = self._find(job_id)
            return _copy(found).snapshot() if found is not None else None

    def unfinished(self) -> list[JobRecord]:
        with self._lock:
            return [_copy(j) for j in self._live.values()]

    def counts(self) -> dict[JobState, int]:
        with self._lock:
            out = dict.fromkeys(JobState, 0)
            for job in _chain(self._live.values(), self._finished.values()):
                out[job.state] += 1
            return out

    def _check_invariants(self) -> None:
        assert not (self._live.keys() & self._finished.keys())
        assert all(j.state not in FINAL_STATES for j in self._live.values())
        assert len(self._finished) <= self.retain


def _copy(job: JobRecord) -> JobRecord:
    clone = copy.copy(job)
    clone.data = copy.deepcopy(job.data)
    clone.arrivals = {i: copy.deepcopy(d) for i, d in job.arrivals.items()}
    return clone


def _chain(*parts: Iterable[JobRecord]) -> Iterable[JobRecord]:
    for part in parts:
        yield from part
