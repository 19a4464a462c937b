"""The one seam with pykka's actor runtime.

The Scheduler and Runner are written against ``pykka.Actor`` alone; a ``Runtime``
supplies the inbox, future and actor-loop hooks by mixing in a concrete actor class.
Production uses real threads; ``actors.testing`` supplies a threadless, deterministic
runtime for the very same classes.
"""

from __future__ import annotations

import queue
from typing import Any, Protocol, TypeVar

import pykka

__all__ = ["Runtime", "ThreadingRuntime"]

A = TypeVar("A", bound=pykka.Actor)


class Runtime(Protocol):
    """Turns an actor behaviour class into a startable actor class."""

    def actor_class(self, behaviour: type[A]) -> type[A]:
        """``behaviour`` combined with this runtime's inbox, future and loop."""

    def create_future(self) -> pykka.Future[Any]:
        """A future that ``get()`` can wait on under this runtime."""


def _fast_inbox() -> Any:
    # queue.SimpleQueue is implemented in C: a put or get is one call instead of
    # queue.Queue's Python-level lock and two conditions, and every message pays it.
    # It offers the put/get/empty that pykka's loop uses (and is never bounded).
    return queue.SimpleQueue()


class ThreadingRuntime:
    """Each actor on its own daemon thread (a forgotten Mediator cannot hang the process)."""

    starts_synchronously = False
    """``on_start`` runs later, on the actor's thread."""

    _cache: dict[type[Any], type[Any]] = {}  # noqa: RUF012 - a class-level memo by design

    def actor_class(self, behaviour: type[A]) -> type[A]:
        """``behaviour`` mixed with ``pykka.ThreadingActor``."""
        cls = self._cache.get(behaviour)
        if cls is None:
            cls = type(
                behaviour.__name__,
                (behaviour, pykka.ThreadingActor),
                {
                    "use_daemon_thread": True,
                    "__module__": behaviour.__module__,
                    "_create_actor_inbox": staticmethod(_fast_inbox),
                },
            )
            self._cache[behaviour] = cls
        return cls

    def create_future(self) -> pykka.Future[Any]:
        """A ``pykka.ThreadingFuture``."""
        return pykka.ThreadingFuture()
