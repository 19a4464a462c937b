"""The memory store's join arrivals: each branch counted once, each join released once.

A mixin of ``MemoryStore``, modelling without a lock what the SQL stores do in one
transaction with the parent's row locked (``actors.stores._sql_arrivals``). A lock here
made a convoy: every arrival of a wide split takes it, and each hand-off is a thread
switch. So an arrival reads the parent's record and then counts at its split's
``_Arrivals``, while other branches may arrive, the join run, and the parent be saved
again. What an arrival read may be stale by the time it counts; the split's arrivals
decide, each step of theirs atomic (``next()`` of a counter, one dict operation):

- they belong to one save of the parent (each save with a split makes them anew), and
  to its split (``gen``), open only if that save's join had not fired: an arrival at an
  earlier split, or after the parent was saved joined, counts nothing;
- ``tickets`` numbers the arrivals as they come, before their data is entered: one
  numbered past what the join needs came after the join fired (a Discriminator's
  loser) and counts nothing, so it neither enters its data nor releases the parent;
- ``seq`` numbers them once their data is in: the one that makes what is needed sees
  the data of all it needs, and alone writes the parent READY at the join.

So a branch that read its parent just before the winner arrived cannot put the parent
back READY at the join after the join ran and saved it: that would run the join again
on a resume.
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING, Any

from actors._errors import JobNotFoundError
from actors._job import FINAL_STATES
from actors.stores._memory_saved import CASE, GEN, JOINED, SPLIT_TOTAL, STATE, released
from actors.stores._plain_data import SHORT_SCALARS as _SHORT

if TYPE_CHECKING:
    from actors._job import JobRecord
    from actors.stores._codec import Codec
    from actors.stores._memory_saved import Saved

__all__ = ["MemoryJoins", "arrivals_of"]


class _Arrivals(dict[int, Any]):
    """A split parent's arrivals by branch index, made by one save of it (see the module)."""

    __slots__ = ("first", "gen", "seq", "tickets")

    def __init__(self, arrivals: dict[int, Any], gen: int | None) -> None:
        super().__init__(arrivals)
        self.gen = gen  # the split they count at; None: none (saved joined)
        self.first = len(arrivals) + 1  # the first arrival's number
        self.tickets = itertools.count(self.first)  # next() is atomic
        self.seq = itertools.count(self.first)


def arrivals_of(job: JobRecord, arrivals: dict[int, Any]) -> dict[int, Any]:
    """The arrivals to keep for a save of ``job`` (a parent with a split): see the module."""
    return _Arrivals(arrivals, None if job.joined else job.gen)


def _branch_data(branch_index: int, parent_id: str) -> str:
    """How an error names an arrival's data (as the SQL stores do)."""
    return f"data of branch {branch_index} of job {parent_id}"


class MemoryJoins:
    """``record_arrival`` of a memory store (mixed into it)."""

    codec: Codec
    copy_data: bool
    owner: str | None
    _live: dict[str, Saved]
    _arrivals: dict[str, dict[int, Any]]
    _lock: threading.Lock

    if TYPE_CHECKING:  # provided by MemoryStore

        def _find(self, job_id: str) -> Saved | None: ...
        def _fence(self, job_id: str, case_id: str) -> None: ...

    def record_arrival(
        self,
        parent_id: str,
        gen: int,
        branch_index: int,
        data: Any,
        *,
        join_step: str | None = None,
        needed: int | None = None,
    ) -> tuple[int, int]:
        """Count a branch's arrival at its join, exactly once (see Store)."""
        if self.owner is None:
            return self._arrive(parent_id, gen, branch_index, data, join_step, needed)
        with self._lock:  # a worker's arrivals exclude claims
            return self._arrive(parent_id, gen, branch_index, data, join_step, needed)

    def _arrive(
        self,
        parent_id: str,
        gen: int,
        branch_index: int,
        data: Any,
        join_step: str | None,
        needed: int | None,
    ) -> tuple[int, int]:
        # No lock of its own (see the module). A branch runs on one runner at a time, so
        # its index is entered once.
        saved = self._find(parent_id)
        if saved is None:
            msg = f"no job {parent_id!r} to record branch {branch_index}'s arrival at"
            raise JobNotFoundError(msg)
        # The parent as that save stored it (never the engine's record, which its runner
        # or the Scheduler may have changed since, unsaved).
        if self.owner is not None:
            self._fence(parent_id, saved[CASE])
        total = saved[SPLIT_TOTAL]
        if saved[GEN] != gen or saved[JOINED] or saved[STATE] in FINAL_STATES or not total:
            return 0, total
        # Read after ``saved``: that save's arrivals or a later one's, so this split's
        # only if no save since has closed it or split again.
        arrivals = self._arrivals.get(parent_id)
        if not isinstance(arrivals, _Arrivals) or arrivals.gen != gen or branch_index in arrivals:
            return 0, total
        # The store's own copy, as it arrives: the engine's merge may change the branch's
        # datas in place. Made before the ticket: data no store keeps counts nothing.
        if type(data) is dict and _SHORT.issuperset(map(type, data.values())):
            # Immutable values (the keys were checked by the branch's save): one type
            # scan and a copy, in C, with no call (every branch of a join comes here).
            data = data.copy()
        else:
            data = self.codec.copy(data, _branch_data(branch_index, parent_id))
        # The arrival that releases the join (with join_step); if the parent was saved
        # with that many already, the next one.
        last = max(needed or total, arrivals.first)
        # Only a join of fewer than all its branches has arrivals after it fired.
        if needed is not None and join_step is not None and next(arrivals.tickets) > last:
            return 0, total  # the join fired before it came
        arrivals[branch_index] = data
        arrived = next(arrivals.seq)
        if arrived == last and join_step is not None:
            self._live[parent_id] = released(saved, join_step)
        return arrived, total
