"""A split parent's join bookkeeping inside a write transaction: arrivals counted on it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from actors.stores._codec import Codec
from actors.stores._statements import FINAL_VALUES, READY_VALUE

__all__ = ["JoinCount"]


class JoinCount:
    """A parent's join bookkeeping as read in a write transaction, and arrivals counted on it.

    ``row`` starts ``gen, split_total, joined, arrivals, state``. Counting is in memory;
    ``update`` is the one statement that stores what changed.
    """

    __slots__ = ("decoded", "final", "fired", "gen", "id", "joined", "n", "step", "text", "total")

    def __init__(self, parent_id: str, row: Sequence[Any]) -> None:
        self.gen, total, joined, self.text, state = row[:5]
        self.id = parent_id
        self.total = int(total or 0)
        self.joined = bool(joined)
        self.final = state in FINAL_VALUES
        self.decoded: dict[int, Any] | None = None
        self.step: str | None = None  # the join step to remember, once an arrival names it
        self.fired = False
        self.n = 0  # arrivals counted

    @property
    def changed(self) -> bool:
        """Whether an arrival was counted (so there is something to store)."""
        return self.n > 0

    def arrivals(self, codec: Codec) -> dict[int, Any]:
        """The arrivals stored so far, as JSON trees (parsed once); ``CodecError`` if unreadable.

        Arrivals are only counted and stored again here, so their data stays in tree
        form: no class is built and none is walked back into a tree.
        """
        if self.decoded is None:
            if self.text is None:
                self.decoded = {}
            else:
                what = f"arrivals of job {self.id}"
                self.decoded = codec.index_map(self.text, what)
        return self.decoded

    def counts(self, gen: int) -> bool:
        """Whether an arrival for split ``gen`` would be counted (not stale, not too late)."""
        return gen == self.gen and not self.joined and not self.final and self.total > 0

    def arrive(
        self,
        codec: Codec,
        gen: int,
        branch_index: int,
        encoded: str,
        join_step: str | None,
        needed: int | None,
    ) -> tuple[int, int]:
        """Count one arrival; ``(arrived, total)``, ``arrived == 0`` when it counts nothing."""
        if not self.counts(gen):
            return 0, self.total
        arrivals = self.arrivals(codec)
        if branch_index in arrivals:
            return 0, self.total
        arrivals[branch_index] = codec.tree(encoded)
        self.n += 1
        arrived = len(arrivals)
        if join_step is not None:
            self.step = join_step
            if arrived >= (needed or self.total):
                self.joined = self.fired = True
        return arrived, self.total

    def update(self, codec: Codec) -> tuple[str, tuple[Any, ...]]:
        """The statement that stores the counted arrivals (and the join, if it fired)."""
        assert self.decoded is not None
        sets = "arrivals = ?, updated_at = ?"
        params: list[Any] = [codec.encode_index_map(self.decoded), time.time()]
        if self.fired:
            event = codec.encode(["join", self.step, None])
            sets += ", joined = ?, state = ?, step = ?, join_step = ?, event = ?, due = NULL"
            params += [True, READY_VALUE, self.step, self.step, event]
        elif self.step is not None:
            sets += ", join_step = ?"
            params.append(self.step)
        return f"UPDATE jobs SET {sets} WHERE id = ?", (*params, self.id)
