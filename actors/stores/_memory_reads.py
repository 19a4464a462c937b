"""The memory store's reads: records as saved, for the engine and for readers.

A mixin of ``MemoryStore``. A save keeps the record's values as they were and the
store's own copies of its data, arrivals and event payload (``_memory_saved``). Every
read builds a new record from that, with copies of those: the engine's (``load``,
``unfinished``, a claim) to run on, a reader's (``get``, the operator's reads) to look
at. Either may change what it got without changing the store, and no running step
changes what the store holds under either.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from actors._errors import CodecError
from actors._job import Job, JobRecord, JobState, cancel_reason
from actors.stores._memory_saved import DATA, EVENT, ID, SPLIT_TOTAL, STATE, Saved, record_of
from actors.stores._plain_data import KEY_TYPES, PLAIN_SCALARS, SHORT_SCALARS

if TYPE_CHECKING:
    from actors.stores._codec import Codec

__all__ = ["MemoryReads", "Saved"]


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
        """The job's record as last saved, to run on (see the module)."""
        saved = self._find(job_id)
        return self._restore(saved) if saved is not None else None

    def get(self, job_id: str) -> Job | None:
        """The job as last saved, with data of the caller's own."""
        saved = self._find(job_id)
        return self._restore(saved).snapshot() if saved is not None else None

    def unfinished(self) -> list[JobRecord]:
        """Every job not in a final state, to run on (as ``load``)."""
        # list() of a dict view copies it in one step, so a concurrent save cannot
        # change the dict while it is being iterated.
        return [self._restore(s) for s in list(self._live.values())]

    def counts(self) -> dict[JobState, int]:
        """How many jobs the store holds in each state."""
        out = dict.fromkeys(JobState, 0)
        for saved in [*list(self._live.values()), *list(self._finished.values())]:
            out[saved[STATE]] += 1
        return out

    def _copied(self, shown: Any) -> Any:
        """A caller's own copy of data the store holds."""
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

    def _own(self, value: Any, what: str) -> Any:
        """A copy of ``value`` for the store to keep (``CodecError`` if no store could)."""
        if (  # a flat dict of scalars, no int (most data): type scans and a copy, in C
            type(value) is dict
            and SHORT_SCALARS.issuperset(map(type, value.values()))
            and SHORT_SCALARS.issuperset(map(type, value))
        ):
            return value.copy()
        return self.codec.copy(value, what)  # an int too long to write as text is refused

    def _restore(self, saved: Saved) -> JobRecord:
        """A new record of ``saved``, its data, arrivals and event payload the caller's own."""
        job_id = saved[ID]
        copied = self._copied
        event = saved[EVENT]
        if event is not None and event[2] is not None:
            event = (event[0], event[1], copied(event[2]))
        # A split's arrivals are kept until the parent's next split or end; once its join
        # has run (no split now) the record has none, as a SQL row saved then has none.
        arrivals = self._arrivals.get(job_id) if saved[SPLIT_TOTAL] else None
        # dict() first: one C-level copy, as arrivals may be entered meanwhile.
        mine = {i: copied(d) for i, d in dict(arrivals).items()} if arrivals else {}
        clone = record_of(saved, copied(saved[DATA]), mine, event)
        mark = self._marks.get(job_id)
        if mark is not None:  # cancelled while its runner ran it, which then stopped
            clone.error = cancel_reason(clone, mark)
            clone.cancel_requested = True
        return clone
