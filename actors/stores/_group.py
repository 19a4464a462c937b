"""Group commit: one writer thread stores the slices of every runner, many per transaction.

With ``commit="group"`` a runner does not wait for its saves. It hands the slice it ran
(the rows it saved, the join arrivals it recorded) to the store's ``GroupWriter`` with a
callback, and runs its next job. The writer takes every slice waiting in its queue,
stores them in one transaction, and then calls each slice's callback, which is where
the runner's reports to the Scheduler are sent. So nothing is decided on state that is
not stored, and the cost of a commit is shared by every slice in it, however many
runners made them.

A group is bigger, and each slice's share smaller, when the writer waits a little for
the slices the engine is about to make: up to ``wait`` seconds, and only while ``busy``
(set by the engine) says work is under way that leads to a slice (a runner running a
job, a job ready for one, a report the Scheduler has not read: the reports of the group
just stored, say) and no caller is blocked on the writer. Under load a group then holds
the slices of many workflows, and its commit, its reads and its Python overhead are paid
once for all of them; with nothing under way it is stored at once.

The queue may be bounded (``limit``, see ``_group_room``): a runner that finds it full
waits until the writer has taken it down to half, so runners cannot run far ahead of
what the store takes.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actors._errors import StoreError
from actors._redact import redacted_logger
from actors.stores._group_room import Room
from actors.stores._statements import SaveRow

__all__ = ["Arrival", "GroupWriter", "Slice", "holds_anything"]

logger = redacted_logger("actors.stores")

# What a slice's callback receives: None once stored, else why it was not stored.
Done = Callable[[BaseException | None], None]
# A pipeline's two halves: hand a group over (returning a ticket), and later, in the same
# order, wait for its outcome (per slice, as store_group returns it).
Send = Callable[[list["Slice"]], Any]
Receive = Callable[[list["Slice"], Any], list[BaseException | None]]


@dataclass(slots=True)
class Arrival:
    """A branch's arrival at its join, recorded in a slice (see ``Store.record_arrival``)."""

    parent_id: str
    gen: int
    branch_index: int
    data: str  # encoded when recorded: the branch's data may change afterwards
    join_step: str | None
    needed: int | None


@dataclass(slots=True)
class Slice:
    """What one runner saved while it ran one job: stored all together, or not at all."""

    rows: list[SaveRow] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    # False: an admission's rows, written whoever holds the case, and refused
    # (JobExistsError) if the store holds one of their ids.
    fence: bool = True
    # Stored in a transaction of its own: the store refused the job's earlier slices,
    # and a failure of this one must be the job's, not that of a slice grouped with it.
    alone: bool = False


class GroupWriter:
    """A thread that stores queued slices in groups and then calls their callbacks.

    ``store_group(slices)`` stores a group in one transaction and returns, per slice,
    ``None`` or the error that kept that slice (alone) out; if it raises, no slice of the
    group was stored and each callback gets the error, but that of a slice that saved
    nothing (it lost nothing: it gets ``None``). Callbacks run on the writer
    thread, in the order the slices were queued. With ``pipeline(send, receive)``
    another process stores the groups instead, two in flight at a time. With
    ``limit(n)`` at most ``n`` slices wait in its queue (see ``_group_room``).
    """

    def __init__(
        self,
        store_group: Callable[[list[Slice]], list[BaseException | None]],
        *,
        name: str,
        max_group: int = 512,
        wait: float = 0.0,
    ) -> None:
        self._store_group = store_group
        self._name = name
        self._max_group = max_group
        self._wait = wait
        self.busy: Callable[[int], bool] | None = None
        """Whether the engine has work under way that leads to a slice, besides the given
        number of slices this writer holds (a hint, read without a lock); ``None``: the
        writer never waits (see the module's docstring)."""
        self._blocked: dict[int, threading.Thread] = {}  # callers waiting in store()
        self._queue: queue.SimpleQueue[tuple[Slice, Done] | None] = queue.SimpleQueue()
        self._room = Room(None)
        self._counted = 0  # slices of the group being gathered told to _room as taken
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._finished = False  # the writer thread has stopped
        self.groups = 0  # transactions committed (for benchmarks and tests)
        self.slices = 0  # slices those held
        self._send: Send | None = None
        self._receive: Receive | None = None

    def pipeline(self, send: Send, receive: Receive) -> None:
        """Store groups through ``send`` and ``receive`` instead of ``store_group``.

        Another process stores the groups: the writer hands one over and gathers and
        hands over the next before it waits for the first one's outcome, so two groups
        are in flight at a time. Set before the first slice is submitted.
        """
        self._send, self._receive = send, receive

    def limit(self, max_queued: int) -> None:
        """Hold at most ``max_queued`` slices queued; set before the first is submitted."""
        self._room = Room(max_queued)

    def submit(self, part: Slice, done: Done) -> None:
        """Queue ``part``; ``done`` is called on the writer thread once it is stored (or not).

        Waits first while the queue is full (``limit``), unless on the writer thread.
        """
        self._put(part, done, wait=not self.is_current())

    def _put(self, part: Slice, done: Done, *, wait: bool) -> None:
        if self._thread is None:
            self._start()
        if self._closed:
            msg = f"{self._name}: the store is closed"
            raise StoreError(msg)
        # No lock here but while the queue is full: every runner and producer passes
        # through, and a lock that a thread can lose the GIL while holding makes the
        # others queue behind it. Woken by close(), the slice goes in as below.
        self._room.enter(wait=wait)
        self._queue.put((part, done))
        if self._finished:  # the writer stopped as this was queued: store it here
            self._store_left()

    def is_current(self) -> bool:
        """Whether the caller is the writer thread (which must not wait on itself)."""
        return threading.current_thread() is self._thread

    def store(self, part: Slice) -> None:
        """Queue ``part`` and wait until it is stored; raise why it was not."""
        # A plain lock as the latch: released by the writer, acquired here. An Event
        # would build a Condition per call and notify through it, on the writer thread.
        latch = threading.Lock()
        latch.acquire()
        outcome: list[BaseException | None] = []

        def done(error: BaseException | None) -> None:
            outcome.append(error)
            latch.release()

        ident = threading.get_ident()
        self._blocked[ident] = threading.current_thread()
        try:
            self._put(part, done, wait=False)  # it waits for the writer anyway
            latch.acquire()
        finally:
            self._blocked.pop(ident, None)
        if outcome[0] is not None:
            raise outcome[0]

    def close(self) -> None:
        """Store what is queued, call its callbacks, and stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._room.close()
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        in_flight: deque[tuple[list[tuple[Slice, Done]], Any]] = deque()
        while True:
            # With a group in flight, take what is queued without waiting for more.
            group, stop = self._gather(
                block=not in_flight, holding=sum(len(g) for g, _ in in_flight)
            )
            if group and self._send is None:
                self._commit(group)
            elif group:
                for run in _apart(group):
                    in_flight.append((run, self._hand_over(run)))
            # The oldest groups' outcomes: once two are in flight, or when nothing new came.
            while in_flight and (len(in_flight) > 1 or not group or stop):
                self._take_outcome(*in_flight.popleft())
            if stop:
                while in_flight:
                    self._take_outcome(*in_flight.popleft())
                # A slice queued behind the stop mark (its submitter passed the closed
                # check as close() began) is stored now, or by its submitter, which
                # sees _finished once it has queued the slice.
                self._finished = True
                self._store_left()
                return

    def _gather(self, *, block: bool, holding: int = 0) -> tuple[list[tuple[Slice, Done]], bool]:
        """The slices queued now (waiting for one if ``block``), and whether close() was called.

        ``holding``: slices of groups in flight (handed over, their callbacks not run).
        """
        group: list[tuple[Slice, Done]] = []
        try:
            item = self._queue.get() if block else self._queue.get_nowait()
        except queue.Empty:
            return group, False
        if item is None:
            return group, True
        group.append(item)
        self._counted = 0  # of group, told to the queue's room
        try:
            return self._gather_more(group, holding)
        finally:
            self._room.took(len(group) - self._counted, self._queue.qsize())

    def _gather_more(
        self, group: list[tuple[Slice, Done]], holding: int
    ) -> tuple[list[tuple[Slice, Done]], bool]:
        """``group`` grown by what is queued, and what comes while the engine is busy."""
        get_nowait = self._queue.get_nowait
        # Everything queued meanwhile joins this group: that is what makes it pay. Then,
        # while the engine has work under way (``busy``), the slices it makes join it
        # too, up to ``wait``; the slices this writer holds are not work still to come.
        busy = self.busy if self._wait else None
        deadline = None
        while len(group) < self._max_group:
            try:
                item = get_nowait()
            except queue.Empty:
                if len(group) > self._counted:  # room for runners that wait: theirs may join
                    self._room.took(len(group) - self._counted, 0)
                    self._counted = len(group)
                if busy is None or self._blocked or not busy(holding + len(group)):
                    break
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._wait
                elif now >= deadline:
                    break
                try:  # a short wait without the GIL (the engine runs), then look again
                    item = self._queue.get(timeout=min(_LOOK, deadline - now))
                except queue.Empty:
                    continue
            if item is None:
                return group, True
            group.append(item)
        return group, False

    def _store_left(self) -> None:
        """Store (or fail) the slices queued after the writer stopped, on this thread."""
        with self._lock:
            group = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    group.append(item)
            if group:
                self._commit(group)

    def _commit(self, group: list[tuple[Slice, Done]]) -> None:
        """Store ``group``: in one transaction, but for its slices stored ``alone``."""
        for run in _apart(group):
            if self._send is not None:
                self._take_outcome(run, self._hand_over(run))
            else:
                self._commit_run(run)

    def _commit_run(self, group: list[tuple[Slice, Done]]) -> None:
        parts = [part for part, _ in group]
        if not holds_anything(parts):  # callbacks only: no transaction to make
            self._finish(group, [None] * len(group), None)
            return
        try:
            results = self._store_group(parts)
        except Exception as exc:  # the whole group rolled back: each slice hears why
            self._finish(group, None, exc)
        else:
            self._finish(group, results, None)

    def _hand_over(self, group: list[tuple[Slice, Done]]) -> Any:
        assert self._send is not None
        parts = [part for part, _ in group]
        if not holds_anything(parts):  # answered in its turn, without the other process
            return _NOTHING
        try:
            return self._send(parts)
        except Exception as exc:  # kept for _take_outcome, which reports it in order
            return _Failed(exc)

    def _take_outcome(self, group: list[tuple[Slice, Done]], ticket: Any) -> None:
        assert self._receive is not None
        try:
            if isinstance(ticket, _Failed):
                raise ticket.error
            if ticket is _NOTHING:
                results: list[BaseException | None] = [None] * len(group)
            else:
                results = self._receive([part for part, _ in group], ticket)
        except Exception as exc:
            self._finish(group, None, exc)
        else:
            self._finish(group, results, None)

    def _finish(
        self,
        group: list[tuple[Slice, Done]],
        results: list[BaseException | None] | None,
        error: Exception | None,
    ) -> None:
        self._room.failing(results is None)  # an outage: runners do not wait for room
        if results is None:
            # The store down (its connection lost, none to be had) is the worker's outage,
            # told once at WARNING by its Scheduler: a line per group would repeat it.
            down = isinstance(error, StoreError) and not error.blames_job
            logger.log(
                logging.DEBUG if down else logging.ERROR,
                "%s: a group of %d slice(s) was not stored: %s",
                self._name,
                len(group),
                error,
            )
            # A slice that saved nothing lost nothing: its callback brings reports of what
            # was stored before (a request's park, stored at once), which stand.
            results = [error if holds_anything([part]) else None for part, _ in group]
        else:
            self.groups += 1
            self.slices += len(group)
        for (_, done), outcome in zip(group, results, strict=True):
            try:
                done(outcome)
            except Exception:  # one callback's failure must not strand the others
                logger.exception("%s: a slice's callback failed", self._name)


def _apart(group: list[tuple[Slice, Done]]) -> list[list[tuple[Slice, Done]]]:
    """``group`` cut into the groups to store, in order: each ``alone`` slice in one of its own."""
    if not any(part.alone for part, _ in group):
        return [group]  # the usual case: one pass, no copy
    runs: list[list[tuple[Slice, Done]]] = [[]]
    for item in group:
        if item[0].alone:
            runs.append([item])
            runs.append([])
        else:
            runs[-1].append(item)
    return [run for run in runs if run]


def holds_anything(parts: list[Slice]) -> bool:
    """Whether a group has anything to store (a slice may bring only its callback)."""
    return any(part.rows or part.arrivals for part in parts)


_LOOK = 0.0002  # seconds between two looks at ``busy`` while the writer waits

_NOTHING = object()  # the ticket of a handed-over group that had nothing to store


class _Failed:
    """A group that could not be handed over: its slices hear why, in their turn."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error
