"""``memory://``: the in-process store, and the reference model for the other stores."""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any

from actors._job import FINAL_STATES, Job, JobRecord, JobState
from actors.stores._base import Store

__all__ = ["MemoryStore"]

DEFAULT_RETAIN = 10_000

# What a save records besides the record itself: the fields a step changes.
_Saved = tuple[JobRecord, str | None, JobState, int, str | None, float | None, Any, Any]


class MemoryStore(Store):
    """Keeps live jobs, and the most recent ``retain`` finished ones, in a dict.

    Retention rule: a job that reaches a final state is kept among the last ``retain``
    finished jobs and then forgotten, so a long run's memory stays bounded (a handle
    holds its own result).

    A save records the job's step, state, attempt, error, due time and pending event,
    so a job resumes from exactly its last saved step. Data is kept by reference unless
    ``copy_data=True``: without copies, a runner that dies *inside* a step leaves that
    step's in-place changes in the data the job resumes with. Copying costs a deep copy
    per step; durable stores always hold their own copy.
    """

    def __init__(self, *, retain: int = DEFAULT_RETAIN, copy_data: bool = False) -> None:
        self.url = "memory://"
        self.retain = retain
        self.copy_data = copy_data
        self._live: dict[str, _Saved] = {}
        self._finished: OrderedDict[str, _Saved] = OrderedDict()
        self._arrivals: dict[str, dict[int, Any]] = {}  # join bookkeeping of split parents

    def _put(self, job: JobRecord) -> None:
        # No lock: each dict operation below is atomic, and runners saving side by side
        # (every step!) must not queue behind one another. A final job is added to the
        # finished map before it leaves the live one, so a reader always finds it.
        data = copy.deepcopy(job.data) if self.copy_data else job.data
        saved = (job, job.step, job.state, job.attempt, job.error, job.due, job.event, data)
        if job.state in FINAL_STATES:
            self._finished[job.id] = saved
            self._live.pop(job.id, None)
            self._arrivals.pop(job.id, None)
            while len(self._finished) > self.retain:
                try:
                    self._finished.popitem(last=False)
                except KeyError:  # another thread trimmed it first
                    break
        else:
            if job.split_total:
                arrivals = job.arrivals
                self._arrivals[job.id] = (
                    copy.deepcopy(arrivals) if self.copy_data else dict(arrivals)
                )
            self._live[job.id] = saved

    def create(self, job: JobRecord) -> None:
        self._put(job)

    def save(self, job: JobRecord) -> None:
        self._put(job)

    def save_split(self, parent: JobRecord, branches: list[JobRecord]) -> None:
        # Branches first: once the parent reads as split, its branches exist.
        for branch in branches:
            self._put(branch)
        self._put(parent)

    def delete(self, job_id: str) -> None:
        self._live.pop(job_id, None)
        self._finished.pop(job_id, None)
        self._arrivals.pop(job_id, None)

    def _find(self, job_id: str) -> _Saved | None:
        return self._live.get(job_id) or self._finished.get(job_id)

    def load(self, job_id: str) -> JobRecord | None:
        saved = self._find(job_id)
        return self._restore(saved) if saved is not None else None

    def get(self, job_id: str) -> Job | None:
        saved = self._find(job_id)
        return self._restore(saved).snapshot() if saved is not None else None

    def unfinished(self) -> list[JobRecord]:
        # list() of a dict view copies it in one step, so a concurrent save cannot
        # change the dict while it is being iterated.
        return [self._restore(s) for s in list(self._live.values())]

    def counts(self) -> dict[JobState, int]:
        out = dict.fromkeys(JobState, 0)
        for saved in [*list(self._live.values()), *list(self._finished.values())]:
            out[saved[2]] += 1
        return out

    def _restore(self, saved: _Saved) -> JobRecord:
        job, step, state, attempt, error, due, event, data = saved
        clone = copy.copy(job)
        clone.step, clone.state, clone.attempt, clone.error = step, state, attempt, error
        clone.due, clone.event = due, event
        clone.data = copy.deepcopy(data) if self.copy_data else data
        clone.arrivals = dict(self._arrivals.get(job.id, {}))
        clone.cancel_requested = False
        return clone

    def _check_invariants(self) -> None:
        assert not (self._live.keys() & self._finished.keys())
        assert all(s[2] not in FINAL_STATES for s in self._live.values())
        assert len(self._finished) <= self.retain
