"""Room in a group-commit writer's queue: runners wait while it is full, the writer wakes them.

Without a bound, runners that make slices faster than the store takes them (a split of
100,000 branches on PostgreSQL) ran ahead of the writer thread: its queue held nearly
every slice of the split at once, with their rows, callbacks and reports, and the cyclic
collector went over them all again at every pass.

PostgreSQL stores bound their queue (``QUEUE_BOUND``); SQLite stores do not. With runners
kept beside the writer rather than ahead of it, they take the GIL from it while it
stores: a PostgreSQL group is a few round trips, and the collector's time saved pays for
that; a SQLite group is thousands of statements, each handing the GIL over, and a split
of 100,000 branches ran about 5% slower bounded (``benchmarks/README.md``).

Each slice handed over takes a ticket (``itertools.count``: atomic under the GIL, so the
submitters' path takes no lock). A slice may join the queue once fewer than ``bound``
tickets separate it from the slices the writer has taken, so the queue never holds more
than ``bound`` slices of waiting submitters' (a thread exempt from waiting, below, adds
its one slice beyond). A submitter past the bound waits on a condition; the writer wakes
the waiters once it has taken the queue down to half the bound, so a woken runner hands
over many slices before it may wait again, not one per wake-up.

Never waits: the writer thread itself (it alone empties the queue), a caller that waits
for its slice to be stored anyway (``GroupWriter.store``), and anyone while the store is
closing or its last group failed (a store outage: the writer fails every group
regardless, and a runner held back would only delay the engine's reaction to it).
"""

from __future__ import annotations

import itertools
import sys
import threading

__all__ = ["QUEUE_BOUND", "Room"]

QUEUE_BOUND = 2048
"""Slices a PostgreSQL store's writer queue holds at most: four of its largest groups
(512), so it always has a full group ready while runners wait, at a few MiB."""


class Room:
    """The bound on one writer's queue (see the module's docstring)."""

    def __init__(self, bound: int | None) -> None:
        if bound is not None and bound < 1:
            msg = f"the writer's queue bound must be at least 1, got {bound!r}"
            raise ValueError(msg)
        self.bound = sys.maxsize if bound is None else bound  # None: no bound
        self._low = self.bound // 2  # the queue's length at which the writer wakes the waiters
        self._tickets = itertools.count()
        self._taken = 0  # slices the writer took from the queue (written by it alone)
        self._waiting = 0  # submitters in wait(), changed under _cond
        self._failing = False
        self._closed = False
        self._cond = threading.Condition(threading.Lock())

    @property
    def open(self) -> bool:
        """Whether nobody waits for room: the store is closing, or its last group failed."""
        return self._failing or self._closed

    def enter(self, *, wait: bool) -> None:
        """A slice is about to join the queue; with ``wait``, first wait for room in it."""
        ticket = next(self._tickets)
        if wait and ticket - self._taken >= self.bound and not self.open:
            self._wait(ticket)

    def _wait(self, ticket: int) -> None:
        with self._cond:
            self._waiting += 1  # before the look at _taken: see took()
            try:
                while ticket - self._taken >= self.bound and not self.open:
                    self._cond.wait()
            finally:
                self._waiting -= 1

    def took(self, taken: int, left: int) -> None:
        """On the writer thread: it took ``taken`` slices, ``left`` are still queued."""
        self._taken += taken
        # Read after _taken is raised: a submitter that counted itself in _waiting after
        # this read sees the new _taken, one that did so before is woken here.
        if self._waiting and left <= self._low:
            with self._cond:
                self._cond.notify_all()

    def failing(self, failed: bool) -> None:
        """On the writer thread: whether the group it just stored failed as a whole."""
        if failed != self._failing:
            with self._cond:
                self._failing = failed
                self._cond.notify_all()

    def close(self) -> None:
        """The store is closing: nobody waits any longer (the writer stores what comes)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
