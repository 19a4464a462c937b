"""The bounded admission mailbox: the one place where outside work can be refused.

Only new cases from outside pass through it. Everything the engine tells itself
(branches, arrivals, timers, events, idle runners, stop) travels in the actors'
unbounded inboxes, so a full mailbox can never block a split or shed a branch.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

import pykka

from actors._delivering import delivering
from actors._errors import EngineStoppedError, MailboxFull
from actors._shutdown import refuse_on_scheduler

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors._job import JobRecord

__all__ = ["MAX_CAPACITY", "AdmissionGate", "FullMode"]

MAX_CAPACITY = 100_000
"""The largest capacity: a typo (``--capacity 100000000``) is refused, not claimed from a store.

Far above what the ``r x w`` rule of docs/how-to/capacity-and-full-mode.md gives (a few
thousand jobs started per second, seconds of waiting); each admitted or claimed case
holds its data in memory, and a worker claims up to its capacity in one query."""


class FullMode(enum.Enum):
    """What ``schedule()`` does when ``capacity`` jobs are admitted and not yet started."""

    BACKPRESSURE = "backpressure"
    """The caller blocks until a runner starts a queued job (``timeout`` → ``MailboxFull``)."""
    DROP_NEWEST = "drop_newest"
    """The new job is refused at once with ``MailboxFull``."""
    DROP_OLDEST = "drop_oldest"
    """The oldest queued job is evicted (state SHED, reported to ``on_shed``)."""


class AdmissionGate:
    """A bounded FIFO of admitted, not yet started external jobs.

    Admission is two-phase so that a job is saved before any runner can see it:
    ``reserve()`` takes a slot (blocking, refusing or evicting per the full mode),
    the caller saves the job, then ``commit()`` queues it (or ``release()`` gives the
    slot back). Reserved and queued jobs both count against ``capacity``.
    """

    def __init__(self, capacity: int, mode: FullMode) -> None:
        if (
            not isinstance(capacity, int)
            or isinstance(capacity, bool)
            or not 1 <= capacity <= MAX_CAPACITY
        ):
            msg = (
                f"capacity must be an int from 1 to {MAX_CAPACITY}, got {capacity!r:.40} (the "
                "jobs admitted and not yet started, and on a shared store the cases claimed "
                "at once: each holds its data in memory)"
            )
            raise ValueError(msg)
        if not isinstance(mode, FullMode):
            msg = f"full_mode must be a FullMode, got {mode!r}"
            raise TypeError(msg)
        self.capacity = capacity
        self.mode = mode
        self._queue: deque[JobRecord] = deque()
        self._reserved = 0
        # Entered directly (``with self._lock``): a Condition's own __enter__/__exit__ are
        # Python calls, and every admitted job passes here three times. Waits and
        # notifies go through the Condition built on the same lock.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        # Under a threadless runtime (the test harness), how a blocked producer waits:
        # ``drive(ready, timeout, what=...)`` runs the simulation on the caller's stack until
        # ``ready()`` (``pykka.Timeout`` past the timeout, a deadlock if nothing can run).
        # A task that calls ``schedule()`` blocks so; a condition wait would hang for ever.
        self.drive: Callable[..., Any] | None = None
        # The engine's runner count (set by the Mediator) and how many of its runners are
        # inside a task waiting here: with all of them so, none can start a queued job.
        self.runners = 0
        self._runners_waiting = 0
        self._closed = False
        self.peak = 0
        self.waiting_producers = 0
        self.admitted = 0
        self._low_water = capacity - max(1, capacity // 4)
        # Set when the Scheduler found the queue empty with a runner idle: the next commit
        # must wake it. Under load the flag stays clear and producers send no message.
        self._wanted = True

    def __len__(self) -> int:
        return len(self._queue)

    def ids(self) -> list[str]:
        """Ids of the queued jobs (a snapshot)."""
        with self._lock:
            return [job.id for job in self._queue]

    @property
    def runners_waiting(self) -> int:
        """How many of the engine's runners are inside a task waiting here for a slot."""
        return self._runners_waiting

    @property
    def used(self) -> int:
        """Slots in use: queued plus reserved."""
        return len(self._queue) + self._reserved

    def reserve(self, *, timeout: float | None = None, block: bool = True) -> JobRecord | None:
        """Take a slot; return the job evicted to make room (DROP_OLDEST), if any.

        Raises ``MailboxFull`` when the mode refuses (or ``timeout`` passes), and
        ``EngineStoppedError`` once the gate is closed. ``block=False`` never waits.
        """
        evicted = self.reserve_many(1, timeout=timeout, block=block)
        return evicted[0] if evicted else None

    def reserve_many(
        self, count: int, *, timeout: float | None = None, block: bool = True
    ) -> list[JobRecord]:
        """Take ``count`` slots at once, or none; return the jobs evicted to make room.

        All or nothing, so that two batches waiting for room can never each hold part of
        what the other needs. Under ``BACKPRESSURE`` this waits until ``count`` slots are
        free together (single jobs may take freed slots first). ``DROP_OLDEST`` evicts
        queued jobs, oldest first, only when that makes room for the whole batch.
        Raises ``ValueError`` for a ``count`` above ``capacity``, which could never fit.
        """
        if count > self.capacity:
            msg = (
                f"a batch of {count} jobs cannot fit the admission mailbox "
                f"(capacity {self.capacity}); schedule it in parts"
            )
            raise ValueError(msg)
        with self._lock:
            self._check_open()
            evicted: list[JobRecord] = []
            if self.used + count > self.capacity:
                short = self.used + count - self.capacity
                if self.mode is FullMode.DROP_OLDEST and len(self._queue) >= short:
                    evicted = [self._queue.popleft() for _ in range(short)]
                elif self.mode is FullMode.BACKPRESSURE and block:
                    self._refuse_on_scheduler()
                    runner = self._runner_waits(count)
                    self.waiting_producers += 1
                    self._runners_waiting += runner
                    try:
                        ok = self._wait(
                            lambda: self._closed or self.used + count <= self.capacity,
                            timeout,
                            count,
                        )
                    finally:
                        self.waiting_producers -= 1
                        self._runners_waiting -= runner
                    self._check_open()
                    if not ok:
                        raise MailboxFull(self._full(count, f"within {timeout:.3g}s"))
                else:
                    raise MailboxFull(self._full(count))
            self._reserved += count
            return evicted

    def _refuse_on_scheduler(self) -> None:
        """``RuntimeError`` on the Scheduler thread of this gate's engine (a hook's call).

        That thread frees the room a producer waits for: waiting there, it waited for
        itself, for ever without a timeout.
        """
        engine = delivering.scheduler
        if engine is not None and engine.gate is self:
            refuse_on_scheduler(engine, "Mediator.schedule() into a full BACKPRESSURE mailbox")

    def _runner_waits(self, count: int) -> int:
        """1 if a task of this gate's engine is about to wait here (else 0).

        With threads, ``MailboxFull`` at once when every other runner waits here too:
        only a runner starting a queued job frees a slot, so the wait would never end.
        (The harness reports the same wait as a ``Deadlock``.)
        """
        engine = delivering.engine
        if engine is None or engine.gate is not self:
            return 0
        if self.drive is None and self._runners_waiting + 1 >= self.runners:
            msg = (
                f"admission mailbox full ({self.used} of {self.capacity} slots taken) and "
                "no slot can free: schedule() was called in a task, "
                f"and all {self.runners} runner(s) of this Mediator are inside tasks waiting "
                "for a slot, so none is left to start a queued job (give the Mediator more "
                "runners or capacity)"
            )
            raise MailboxFull(msg)
        return 1

    def _wait(self, ready: Callable[[], bool], timeout: float | None, count: int) -> bool:
        """Wait, the lock held, until ``ready()``; ``False`` if ``timeout`` passed first."""
        if self.drive is None:
            return self._cond.wait_for(ready, timeout)
        what = "an admission slot" if count == 1 else f"{count} admission slots"
        self._lock.release()  # the actors the wait drives take slots and free them
        try:
            self.drive(ready, timeout, what=f"{what} for schedule() called in a task")
        except pykka.Timeout:
            return False
        finally:
            self._lock.acquire()
        return True

    def _full(self, count: int, waited: str | None = None) -> str:
        """Why ``count`` jobs were refused (``waited``: after waiting how long)."""
        if count == 1:
            full = f"admission mailbox full ({self.capacity} jobs queued)"
            return f"{full} and no slot freed {waited}" if waited else f"{full}; job refused"
        if waited is not None:
            return (
                f"admission mailbox full ({self.used} of {self.capacity} slots taken) and no "
                f"room for {count} jobs {waited}"
            )
        return (
            f"admission mailbox has {self.capacity - self.used} free slot(s) of "
            f"{self.capacity}; a batch of {count} jobs refused"
        )

    def commit(self, job: JobRecord) -> bool:
        """Queue ``job`` in the slot reserved for it; whether the Scheduler must be woken."""
        with self._lock:
            self._reserved -= 1
            self._queue.append(job)
            self.admitted += 1
            self.peak = max(self.peak, len(self._queue))
            wake, self._wanted = self._wanted, False
            return wake

    def release(self, count: int = 1) -> None:
        """Give back ``count`` reserved slots whose jobs were not admitted after all."""
        with self._lock:
            self._reserved -= count
            self._cond.notify_all()

    def pop(
        self, start: Callable[[JobRecord, int], bool] | None = None, runner: int = 0
    ) -> JobRecord | None:
        """Take the oldest queued job out (it is being started), freeing its slot.

        ``start(job, runner)``, if given, starts it under this gate's lock before the job leaves the
        queue, so the job is always here or where ``start`` put it (the work channel
        reads the two in that order, with no lock of its own). If ``start`` refuses
        (``False``), the job stays first in line. Finding the queue empty asks the next
        ``commit()`` to wake the Scheduler.
        """
        with self._lock:
            if not self._queue:
                self._wanted = True
                return None
            job = self._queue[0]
            if start is not None and not start(job, runner):
                return None
            self._queue.popleft()
            # Wake blocked producers in batches (at the low-water mark), not once per job:
            # each wake-up is a thread switch, and a woken producer refills many slots.
            if self.waiting_producers and self.used <= self._low_water:
                self._cond.notify_all()
            return job

    def remove(self, job_id: str) -> JobRecord | None:
        """Take a queued job out by id (cancellation); ``None`` when it is not queued."""
        with self._lock:
            for job in self._queue:
                if job.id == job_id:
                    self._queue.remove(job)
                    # Every waiter: the first may be a batch the one slot is too few for.
                    self._cond.notify_all()
                    return job
            return None

    def close(self) -> list[JobRecord]:
        """Refuse all further admission, wake blocked producers, return what was queued."""
        with self._lock:
            self._closed = True
            left = list(self._queue)
            self._cond.notify_all()
            return left

    @property
    def closed(self) -> bool:
        """Whether admission has been closed by shutdown."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            msg = "the mediator is shut down; it admits no new jobs"
            raise EngineStoppedError(msg)

    def _check_invariants(self) -> None:
        assert 0 <= self._reserved <= self.capacity
        assert len(self._queue) + self._reserved <= self.capacity, "admission bound exceeded"
        assert self.peak <= self.capacity
