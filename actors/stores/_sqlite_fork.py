"""A fork waits for the SQLite stores' write transactions in this process to end.

SQLite keeps the locks of a file that a process holds in memory of its own, shared by all
the process's connections to that file. A fork copies that memory: when a thread of the
parent was inside a write transaction as another forked, the child held the file's write
lock in its copy, for a connection nobody would ever commit. A ``Mediator`` made in the
child on the same file (as a server's post-fork hook does) then waited for that lock
through the whole ``busy_timeout`` and failed with ``database is locked``, while the
parent wrote on: about one fork in three while the parent's engine was busy.

Every write of a ``SqliteStore`` runs under its ``_write_lock`` (``BEGIN IMMEDIATE`` to
``COMMIT``), so holding each open store's lock across the fork lets no write transaction
be copied half-way. The wait is bounded by the store's ``busy_timeout``, and by
``LONGEST_WAIT``: a write that is itself waiting for another process's lock may take that
long (holding no lock of the file meanwhile, so a fork then copies none), and a fork made
from inside a write (none of the engine's) must not wait for itself for ever.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Protocol

__all__ = ["LONGEST_WAIT", "hold_across_forks"]

LONGEST_WAIT = 10.0
"""Seconds a fork waits at most for one store's write (a write takes milliseconds)."""


class _Writing(Protocol):
    _write_lock: threading.Lock
    _busy_timeout: float
    _closed: bool


_stores: weakref.WeakSet[_Writing] = weakref.WeakSet()
_held: list[threading.Lock] = []


def hold_across_forks(store: _Writing) -> None:
    """Make every fork of this process wait for ``store``'s write in progress, if any."""
    _stores.add(store)


def _before_fork() -> None:
    for store in list(_stores):
        if store._closed:
            continue
        lock = store._write_lock
        if lock.acquire(timeout=min(store._busy_timeout, LONGEST_WAIT)):
            _held.append(lock)


def _after_fork() -> None:
    # In the parent, and in the child, whose only thread is the one that took them.
    while _held:
        _held.pop().release()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork
    )
