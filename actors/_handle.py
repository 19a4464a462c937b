"""``JobHandle``: the caller's view of a scheduled case."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pykka

if TYPE_CHECKING:
    from actors._job import Job

__all__ = ["JobHandle"]


class JobHandle:
    """Resolves to the final ``Job`` snapshot of a case's root once every thread ended."""

    __slots__ = ("__weakref__", "_future", "job_id", "workflow")

    def __init__(self, job_id: str, workflow: str, future: pykka.Future[Any]) -> None:
        self.job_id = job_id
        """The root job's id (also the case id)."""
        self.workflow = workflow
        """The workflow's name."""
        self._future = future

    def result(self, timeout: float | None = None) -> Job:
        """The final snapshot (DONE, FAULTED, CANCELLED or SHED).

        Raises ``TimeoutError`` if the case has not ended within ``timeout`` seconds, and
        ``EngineStoppedError`` if the Mediator stopped before it ended.
        """
        try:
            job: Job = self._future.get(timeout=timeout)
        except pykka.Timeout:
            msg = f"job {self.job_id} ({self.workflow}) did not finish within {timeout}s"
            raise TimeoutError(msg) from None
        return job

    def __repr__(self) -> str:
        return f"JobHandle({self.job_id!r}, workflow={self.workflow!r})"
