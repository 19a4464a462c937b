"""A SQLite writer process that does not answer: said, while its answer is waited for.

The store's writer thread waits for the child's answer to each group. A child that is
frozen (``SIGSTOP``), or stuck in a write to a disk that does not answer, held the
worker's saves without a word: the worker went on renewing its leases, so no other
worker took its cases over, and nothing said why none went on. The wait goes on (a
write the child has begun may still be stored, so no other may start in its place), but
after ``STALL_AFTER`` seconds it is logged at WARNING, once, naming the child, and its
answer, when it comes, at INFO.
"""

from __future__ import annotations

import queue
import time
from typing import Any

from actors._redact import redacted_logger

__all__ = ["STALL_AFTER", "awaited"]

STALL_AFTER = 30.0
"""Seconds without an answer after which the writer process is said not to answer."""

logger = redacted_logger("actors.stores")


def awaited(answers: queue.SimpleQueue[Any], pid: int, path: str) -> Any:
    """The next of ``answers`` (from the writer process ``pid`` of ``path``), however late."""
    try:
        return answers.get(timeout=STALL_AFTER)
    except queue.Empty:
        pass
    began = time.monotonic() - STALL_AFTER
    logger.warning(
        "the SQLite writer process (pid %d) of %r has not answered for %.0f s: it is frozen"
        " (SIGSTOP) or stuck in a write (a disk or network file system that does not"
        " answer); this worker's saves wait for it",
        pid,
        path,
        STALL_AFTER,
    )
    answer = answers.get()
    logger.info(
        "the SQLite writer process (pid %d) answered again, after %.1f s",
        pid,
        time.monotonic() - began,
    )
    return answer
