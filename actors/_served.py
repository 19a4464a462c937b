"""Cases of workflows a worker does not serve: left untouched, reported once.

A worker claims only cases of the ``(name, version)`` pairs it registers, so a case of
any other workflow waits in the store, untouched, for a worker that serves it. This
worker says so in its log once per workflow version, so an operator who started a
worker with the wrong ``--workflows`` finds out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors._redact import redacted_logger

if TYPE_CHECKING:
    from collections.abc import Collection

    from actors._job import JobRecord
    from actors.stores import Store

__all__ = ["UnservedLog", "describe_served"]

logger = redacted_logger("actors")

_EVERY = 60.0  # seconds between two looks at the store for unserved cases


def describe_served(served: Collection[tuple[str, int]]) -> str:
    """``order v1, refund v2`` (or ``none``)."""
    return ", ".join(f"{name} v{version}" for name, version in sorted(served)) or "none"


class UnservedLog:
    """Logs, once per workflow version, that cases wait for a worker serving it."""

    def __init__(self, served: Collection[tuple[str, int]]) -> None:
        self._served = frozenset(served)
        self._told: set[tuple[str, int]] = set()
        self._next = float("-inf")

    def check(self, store: Store, now: float) -> None:
        """Look at the store (at most once a minute) and log what is new."""
        if now < self._next:
            return
        self._next = now + _EVERY
        self._tell(store.unclaimed(now))

    def left(self, jobs: Collection[JobRecord]) -> None:
        """Log the cases of ``jobs`` (found unserved in this worker's own store)."""
        cases: dict[tuple[str, int], set[str]] = {}
        for job in jobs:
            cases.setdefault((job.workflow, job.version), set()).add(job.case_id)
        self._tell({key: len(ids) for key, ids in cases.items()})

    def _tell(self, waiting: dict[tuple[str, int], int]) -> None:
        for (name, version), count in sorted(waiting.items()):
            key = (name, version)
            if key in self._served or key in self._told:
                continue
            self._told.add(key)
            logger.warning(
                "%d case(s) of workflow %r version %d wait for a worker that serves it; "
                "this worker serves %s and leaves them untouched",
                count,
                name,
                version,
                describe_served(self._served),
                extra={"job_id": None, "step": None, "attempt": None},
            )
