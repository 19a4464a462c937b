"""The work channel's cancel side: which runner holds a job, and taking jobs back.

A mixin of ``WorkChannel`` (``actors._channel``), whose lock and maps it reads: a
cancel asks whether a job's runner has left it, takes a READY job out of circulation
before any runner has it, or drops a lost case's ready jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors._job import JobState

if TYPE_CHECKING:
    import threading

    from actors._job import JobRecord

__all__ = ["Withdrawals"]


class Withdrawals:
    """``WorkChannel``'s answers to a cancel, under the channel's lock."""

    _lock: threading.Lock
    _pending: dict[int, JobRecord]
    _idle: list[int]
    running: dict[str, tuple[int, JobRecord]]

    def runner_of(self, job_id: str) -> int | None:
        """The runner that holds job ``job_id`` now, if one does."""
        with self._lock:
            held = self.running.get(job_id)
            return None if held is None else held[0]

    def left(self, job: JobRecord) -> bool:
        """Whether a runner took ready ``job`` and has left it since: its report is on its way.

        Read under the lock (a watched job leaves ``_pending`` before it enters
        ``running``), in the order a plain job goes through them.
        """
        with self._lock:
            if self._pending.get(id(job)) is job:
                return False
            held = self.running.get(job.id)
            return held is None or held[1] is not job

    def withdraw(self, job: JobRecord) -> bool:
        """Take a READY job out of circulation (cancel); ``False`` if a runner has it already."""
        with self._lock:  # a watched job's turn is decided under it
            if self._pending.pop(id(job), None) is job:
                job.state = JobState.CANCELLED  # skipped where it waits, like any cancelled job
                return True
            return False

    def withdraw_case(self, case_id: str) -> int:
        """Take every READY job of case ``case_id`` out of circulation (the case was lost)."""
        with self._lock:
            n = 0
            for job in list(self._pending.values()):
                if job.case_id == case_id and self._pending.pop(id(job), None) is job:
                    job.state = JobState.CANCELLED
                    n += 1
            return n

    def forget_runner(self, runner: int) -> None:
        """A runner died: it is no longer idle."""
        with self._lock:
            if runner in self._idle:
                self._idle.remove(runner)
