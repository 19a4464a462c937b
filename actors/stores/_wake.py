"""Wake-ups within one process: a case was written for the workers of a database.

``enqueue`` writes cases that a worker would otherwise find only at its next poll. Each
Scheduler on a shared store watches its database's key here; writing cases calls
``notify``, and the watchers poll at once. Across processes the PostgreSQL store carries
the same signal by ``LISTEN``/``NOTIFY``, and a SQLite store's watcher thread raises it
when the file changed and a case is free (``_sqlite_watch``).

A second kind of wake-up names one worker: an operator's request was left for a case it
holds (``actors._admin_delivery``), and that worker alone carries it out at once. Its
topic (``requests_topic``) is the ``NOTIFY`` payload that carries it across processes on
PostgreSQL; on SQLite the worker's own watcher raises it when it reads a new request for
a case its worker holds (``_sqlite_watch``).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable

from actors._fork import lock_across_forks

__all__ = ["notify", "requests_topic", "topic_key", "watch"]

_lock = lock_across_forks(threading.Lock())
_watchers: dict[str, dict[int, Callable[[], None]]] = {}
_tokens = itertools.count()


def watch(key: str, wake: Callable[[], None]) -> Callable[[], None]:
    """Call ``wake()`` whenever cases are written for ``key``; returns the way to stop."""
    token = next(_tokens)
    with _lock:
        _watchers.setdefault(key, {})[token] = wake

    def stop() -> None:
        with _lock:
            found = _watchers.get(key)
            if found is not None:
                found.pop(token, None)
                if not found:
                    del _watchers[key]

    return stop


def notify(key: str) -> None:
    """Wake every watcher of ``key`` in this process (each must return at once)."""
    with _lock:
        wakes = list(_watchers.get(key, {}).values())
    for wake in wakes:
        wake()


def requests_topic(owner: str) -> str:
    """The wake-up of worker ``owner`` for operators' requests: the same in every process.

    A digest of the name: a worker's name may be long and hold any character, where a
    ``NOTIFY`` payload is bounded text.
    """
    return "requests:" + hashlib.sha256(owner.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def topic_key(key: str, topic: str) -> str:
    """The key the watchers of ``topic`` on database ``key`` watch (``key``: new cases)."""
    return f"{key}#{topic}" if topic else key
