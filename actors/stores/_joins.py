"""A split parent's join bookkeeping inside a write transaction.

Each recorded arrival is a row of its own in ``join_arrivals`` (keyed by parent, split
and branch), and each split's count of them a row of ``join_counts``: recording one
arrival writes two small rows, whatever the width of the split, so a split of N branches
costs O(N) in all. (Arrivals once lived in a JSON map on the parent's row, rewritten whole
at every arrival: O(N) each, O(N^2) a split.) The parent's row is written only when the
join fires, or when the first arrival names the join step.

A parent saved with arrivals in its record (the Scheduler's save of a split it settles
after a restart, say) still keeps them in the row's ``arrivals`` column, as rows written
before these tables did; those count as arrived too.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from actors.stores._codec import Codec
from actors.stores._statements import FINAL_VALUES, READY_VALUE, Execute

__all__ = [
    "ADD_ARRIVAL",
    "ARRIVALS_OF",
    "COUNT_OF",
    "PUT_COUNT",
    "JoinCount",
    "stored_counts",
]

# One arrival, unless that branch of that split was recorded already (a retry).
ADD_ARRIVAL = (
    "INSERT INTO join_arrivals (parent_id, gen, branch_index, data) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (parent_id, gen, branch_index) DO NOTHING"
)
# A split's count, as counted in the transaction (the parent's row is locked meanwhile).
PUT_COUNT = (
    "INSERT INTO join_counts (parent_id, gen, arrived) VALUES (?, ?, ?) "
    "ON CONFLICT (parent_id, gen) DO UPDATE SET arrived = excluded.arrived"
)
COUNT_OF = "SELECT arrived FROM join_counts WHERE parent_id = ? AND gen = ?"
_RECOUNT = "SELECT COUNT(*) FROM join_arrivals WHERE parent_id = ? AND gen = ?"
ARRIVALS_OF = "SELECT branch_index, data FROM join_arrivals WHERE parent_id = ? AND gen = ?"


def stored_counts(execute: Execute, found: Iterable[Sequence[Any]]) -> dict[tuple[str, int], int]:
    """The counts ``found`` (rows of ``parent_id, gen, arrived``) hold, by (parent, split).

    A count edited by hand into no count (text, a negative) is counted again from the
    arrivals it counts: ``int()`` of it failed every group holding an arrival at that
    parent, other cases' saves with it, and the branch ran its step again in a tight loop.
    A row whose split is no number counts at no split.
    """
    out: dict[tuple[str, int], int] = {}
    for pid, gen, arrived in found:
        if type(gen) is not int:
            continue
        if type(arrived) is int and arrived >= 0:
            out[pid, gen] = arrived
        else:
            out[pid, gen] = int(execute(_RECOUNT, (pid, gen)).fetchone()[0])
    return out


class JoinCount:
    """A parent's join bookkeeping as read in a write transaction, and arrivals counted on it.

    ``row`` holds ``gen, split_total, joined, arrivals, state, join_step`` of the parent;
    ``arrived`` is the split's count in ``join_counts``. Counting is in memory; the caller
    writes each new arrival's row, the count (``count_params``), and the parent's row when
    ``update`` says so.
    """

    __slots__ = (
        "arrived",
        "final",
        "fired",
        "gen",
        "id",
        "joined",
        "legacy",
        "n",
        "step",
        "stored_step",
        "text",
        "total",
    )

    def __init__(self, parent_id: str, row: Sequence[Any], arrived: int) -> None:
        self.gen, total, joined, self.text, state, self.stored_step = row[:6]
        self.id = parent_id
        self.total = int(total or 0)
        self.joined = bool(joined)
        self.final = state in FINAL_VALUES
        self.legacy: frozenset[int] | None = None
        self.arrived = int(arrived or 0)
        self.step: str | None = None  # the join step to remember, once an arrival names it
        self.fired = False
        self.n = 0  # arrivals counted

    @property
    def changed(self) -> bool:
        """Whether an arrival was counted (so there is something to store)."""
        return self.n > 0

    def check(self, codec: Codec) -> frozenset[int]:
        """The branches the row's ``arrivals`` column holds; ``CodecError`` if unreadable.

        Empty (and free) unless the parent was saved with arrivals in its record.
        """
        if self.legacy is None:
            if self.text is None:
                self.legacy = frozenset()
            else:
                self.legacy = frozenset(codec.index_map(self.text, f"arrivals of job {self.id}"))
        return self.legacy

    def counts(self, gen: int) -> bool:
        """Whether an arrival for split ``gen`` would be counted (not stale, not too late)."""
        return gen == self.gen and not self.joined and not self.final and self.total > 0

    def arrive(
        self,
        codec: Codec,
        gen: int,
        branch_index: int,
        join_step: str | None,
        needed: int | None,
        *,
        new: bool,
    ) -> tuple[int, int]:
        """Count one arrival; ``(arrived, total)``, ``arrived == 0`` when it counts nothing.

        ``new``: whether ``join_arrivals`` had no row of this branch of this split.
        """
        if not self.counts(gen) or not new:
            return 0, self.total
        legacy = self.check(codec)
        if branch_index in legacy:
            return 0, self.total
        self.arrived += 1
        self.n += 1
        arrived = self.arrived + len(legacy)
        if join_step is not None:
            self.step = join_step
            if arrived >= (needed or self.total):
                self.joined = self.fired = True
        return arrived, self.total

    def count_params(self) -> tuple[Any, ...]:
        """``PUT_COUNT``'s parameters: this split's count as it now stands."""
        return (self.id, self.gen, self.arrived)

    def update(self, codec: Codec) -> tuple[str, tuple[Any, ...]] | None:
        """The statement that stores a fired join or a newly named join step, if any."""
        if self.fired:
            event = codec.encode(["join", self.step, None])
            sets = "joined = ?, state = ?, step = ?, join_step = ?, event = ?, due = NULL"
            params: list[Any] = [True, READY_VALUE, self.step, self.step, event]
        elif self.step is not None and self.step != self.stored_step:
            sets, params = "join_step = ?", [self.step]
        else:
            return None
        sets += ", updated_at = ?"
        params.append(time.time())
        return f"UPDATE jobs SET {sets} WHERE id = ?", (*params, self.id)
