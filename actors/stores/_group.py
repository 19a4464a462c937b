"""Group commit: one writer thread commits the writes of every thread of a store together.

A SQL store's cost per save is mostly per transaction and per statement round trip, not
per row: PostgreSQL flushes its log at every commit, and SQLite pays for a transaction's
lock, journal frame and commit whatever it holds. Runners, the Scheduler and producer
threads therefore hand each write (a function of the transaction's ``execute``) to one
``GroupCommitter``. Its thread takes every write queued so far, runs them in order in one
transaction and commits; then each caller returns with its own result. A caller still
returns only once its write is committed, so "saved" means what it meant before; what
changes is that writes that arrive while a commit is in flight share the next one.

If a group's transaction fails, each write of the group is retried in a transaction of
its own, so a bad write (a missing parent, data the store rejects) fails only its own
caller and every other write of the group still commits.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from actors._errors import StoreError

__all__ = ["GroupCommitter"]

logger = logging.getLogger("actors.stores")

X = TypeVar("X")  # what a write function receives: the transaction's execute
T = TypeVar("T")

# A group holds at most this many writes, so one commit never grows without bound
# while producers keep adding (later writes go to the next group).
MAX_GROUP = 1024


class _Write:
    """One submitted write; ``wait()`` returns its result once its group committed."""

    __slots__ = ("error", "fn", "group", "orphan", "result", "what")

    def __init__(self, fn: Callable[[Any], Any], what: str, orphan: bool = False) -> None:
        self.fn = fn
        self.what = what
        self.orphan = orphan  # nobody waits for it: a failure is logged
        self.result: Any = None
        self.error: BaseException | None = None
        self.group: _Group | None = None

    def wait(self) -> Any:
        """Block until the write is committed; return its result or raise its error."""
        if self.group is not None:
            self.group.committed.wait()
        if self.error is not None:
            raise self.error
        return self.result


class _Group:
    __slots__ = ("committed", "writes")

    def __init__(self) -> None:
        self.writes: list[_Write] = []
        self.committed = threading.Event()


class GroupCommitter(Generic[X]):
    """Runs submitted writes on one thread, as many per transaction as are waiting.

    Args:
        transaction: runs a list of write functions in one transaction, in order, and
            commits; returns their results, or raises (having rolled back) if any failed.
        wrap: turns a database error raised for the write named ``what`` into the
            exception its caller sees (other exceptions reach the caller unchanged).
        name: the writer thread's name.
    """

    def __init__(
        self,
        transaction: Callable[[list[Callable[[X], Any]]], list[Any]],
        wrap: Callable[[str, BaseException], BaseException],
        name: str,
    ) -> None:
        self._transaction = transaction
        self._wrap = wrap
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._groups: deque[_Group] = deque()  # waiting to commit, oldest first
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[X], T], what: str) -> T:
        """Run ``fn`` in the next group's transaction; return its result once committed."""
        return self.submit_nowait(fn, what).wait()  # type: ignore[no-any-return]

    def submit_nowait(self, fn: Callable[[X], Any], what: str, *, orphan: bool = False) -> _Write:
        """Queue ``fn`` for the next group's transaction; ``wait()`` on what it returns.

        Writes commit in the order they were submitted, whoever submitted them. With
        ``orphan`` nobody will wait: if the write fails, its error is logged.
        """
        write = _Write(fn, what, orphan)
        if threading.current_thread() is self._thread:
            self._run_alone(write)  # a write made while running a group (not expected)
            return write
        with self._lock:
            if self._closed:
                msg = f"cannot {what}: the store is closed"
                raise StoreError(msg)
            groups = self._groups
            if not groups or len(groups[-1].writes) >= MAX_GROUP:
                groups.append(_Group())
                self._wake.notify()
            group = write.group = groups[-1]
            group.writes.append(write)
        return write

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        with self._lock:
            self._closed = True
            self._wake.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def _loop(self) -> None:
        groups = self._groups
        while True:
            with self._lock:
                while not groups and not self._closed:
                    self._wake.wait()
                if not groups:
                    return  # closed, and everything queued is committed
                group = groups.popleft()
            self._commit(group)

    def _commit(self, group: _Group) -> None:
        writes = group.writes
        try:
            results = self._transaction([w.fn for w in writes])
        except BaseException as exc:
            if len(writes) == 1:
                writes[0].error = self._outcome(writes[0].what, exc)
            else:
                logger.debug("a group of %d writes failed (%s); retrying each", len(writes), exc)
                for write in writes:
                    self._run_alone(write)
        else:
            for write, result in zip(writes, results, strict=True):
                write.result = result
        for write in writes:
            if write.orphan and write.error is not None:
                logger.error("could not %s: %s", write.what, write.error)
        group.committed.set()

    def _run_alone(self, write: _Write) -> None:
        try:
            write.result = self._transaction([write.fn])[0]
        except BaseException as exc:
            write.error = self._outcome(write.what, exc)

    def _outcome(self, what: str, exc: BaseException) -> BaseException:
        return self._wrap(what, exc)
