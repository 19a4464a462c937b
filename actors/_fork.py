"""A Mediator's calls in a process forked after it was made: refused, naming the fork."""

from __future__ import annotations

import os
import threading

from actors._errors import EngineStoppedError

__all__ = ["lock_across_forks", "refuse_in_fork"]


def lock_across_forks(lock: threading.Lock) -> threading.Lock:
    """Hold the module-level ``lock`` across every fork; returns it.

    A fork copies a lock as it is: one another thread of the parent held then stayed
    held in the child for good, and the child's first ``Mediator`` to take it waited for
    ever. Only for locks held briefly, never by a thread while it forks.
    """
    if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
        os.register_at_fork(
            before=lock.acquire, after_in_parent=lock.release, after_in_child=lock.release
        )
    return lock


def refuse_in_fork(made_in: int, call: str) -> None:
    """``EngineStoppedError`` when this is not the process that made the Mediator (a fork).

    A fork copies only the thread that forked: the engine's actors do not run in the
    child, and the store's connections are the parent's (SQLite forbids using one across
    a fork: it can corrupt the file). A child's case was admitted, never run, written
    through the parent's connection, and given the id the parent would make next.
    """
    here = os.getpid()
    if here != made_in:
        msg = (
            f"{call} was called in process {here}, a child forked from process {made_in}, "
            "which made this Mediator: a fork copies only the thread that forked, so its "
            "engine does not run here, and its store's connections are the parent's; make a "
            "Mediator in the child, after the fork (a server's post-fork or lifespan hook)"
        )
        raise EngineStoppedError(msg)
