"""The memory store's reads: records as saved, for the engine and for readers.

A mixin of ``MemoryStore``. Each save keeps the job's data twice (see ``MemoryStore``):
as the engine holds it (a private copy with ``copy_data=True``, else the runner's own
object, which its next step changes in place) and as readers see it (a copy made at
the save). The engine resumes a job from the first (``load``, ``unfinished``); a reader
(``get``, the operator's reads) gets a copy of the second: data of its own, which it
may change without changing the store, and which no running step changes under it.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from actors._errors import CodecError
from actors._job import Job, JobRecord, JobState, cancel_reason
from actors.stores._plain_data import KEY_TYPES, PLAIN_SCALARS

if TYPE_CHECKING:
    from actors.stores._codec import Codec

__all__ = ["MemoryReads", "Saved"]

# What a save records besides the record itself: the fields a step changes, when, and
# the data as readers see it.
Saved = tuple[JobRecord, str | None, JobState, int, str | None, float | None, Any, Any, float, Any]


class MemoryReads:
    """Reads of the records ``MemoryStore`` keeps (mixed into it)."""

    codec: Codec
    copy_data: bool
    _live: dict[str, Saved]
    _finished: OrderedDict[str, Saved]
    _arrivals: dict[str, dict[int, Any]]
    _marks: dict[str, str]

    def _find(self, job_id: str) -> Saved | None:
        return self._live.get(job_id) or self._finished.get(job_id)

    def load(self, job_id: str) -> JobRecord | None:
        """The job's record to run on, as the engine holds its data (see the module)."""
        saved = self._find(job_id)
        return self._restore(saved) if saved is not None else None

    def get(self, job_id: str) -> Job | None:
        """The job as last saved, with data of the caller's own."""
        saved = self._find(job_id)
        return self._restore(saved, read=True).snapshot() if saved is not None else None

    def unfinished(self) -> list[JobRecord]:
        """Every job not in a final state, to run on (as ``load``)."""
        # list() of a dict view copies it in one step, so a concurrent save cannot
        # change the dict while it is being iterated.
        return [self._restore(s) for s in list(self._live.values())]

    def counts(self) -> dict[JobState, int]:
        """How many jobs the store holds in each state."""
        out = dict.fromkeys(JobState, 0)
        for saved in [*list(self._live.values()), *list(self._finished.values())]:
            out[saved[2]] += 1
        return out

    def _copied(self, shown: Any) -> Any:
        """A reader's own copy of a save's readers' copy."""
        if (  # a flat dict of scalars (most data): type scans and a copy, all in C
            type(shown) is dict
            and PLAIN_SCALARS.issuperset(map(type, shown.values()))
            and KEY_TYPES.issuperset(map(type, shown))
        ):
            return shown.copy()
        try:
            return self.codec.copy(shown)
        except CodecError:  # a job faulted for its data, kept as it is
            return shown

    def _restore(self, saved: Saved, *, read: bool = False) -> JobRecord:
        """The record ``saved`` holds; ``read``: with data of the caller's own, as saved."""
        job, step, state, attempt, error, due, event, data, _, shown = saved
        clone = copy.copy(job)
        clone.step, clone.state, clone.attempt, clone.error = step, state, attempt, error
        clone.due, clone.event = due, event
        if read:
            clone.data = self._copied(shown)
        else:
            clone.data = self.codec.copy(data) if self.copy_data else data
        # A split's arrivals are kept until the parent's next split or end; once its join
        # has run (no split now) the record has none, as a SQL row saved then has none.
        clone.arrivals = dict(self._arrivals.get(job.id, {})) if clone.split_total else {}
        clone.cancel_requested = False
        mark = self._marks.get(job.id)
        if mark is not None:  # cancelled while its runner ran it, which then stopped
            clone.error = cancel_reason(clone, mark)
            clone.cancel_requested = True
        return clone
