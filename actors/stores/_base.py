"""The ``Store`` interface every job store implements."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from actors._job import Job, JobRecord, JobState

__all__ = ["Store"]


class Store(abc.ABC):
    """Where job state lives. The engine saves a job after every step.

    The Scheduler and Runners call these from their own threads, so implementations
    are thread-safe. A store never executes anything it reads: data is plain values.
    """

    url: str

    @abc.abstractmethod
    def create(self, job: JobRecord) -> None:
        """Save a newly admitted job (state READY)."""

    @abc.abstractmethod
    def save(self, job: JobRecord) -> None:
        """Save ``job`` after a step: its step, data, state, attempt, error, due time."""

    @abc.abstractmethod
    def save_split(self, parent: JobRecord, branches: list[JobRecord]) -> None:
        """Atomically save a parent that split (WAITING) together with its new branches."""

    @abc.abstractmethod
    def delete(self, job_id: str) -> None:
        """Forget a job whose admission was refused before anything ran."""

    @abc.abstractmethod
    def load(self, job_id: str) -> JobRecord | None:
        """A fresh record of the job as last saved (used to resume after a crash)."""

    @abc.abstractmethod
    def get(self, job_id: str) -> Job | None:
        """A snapshot of the job as last saved, or ``None`` when the store has no such job."""

    @abc.abstractmethod
    def unfinished(self) -> list[JobRecord]:
        """Every job not in a final state, oldest first (resumed when a Mediator starts)."""

    @abc.abstractmethod
    def counts(self) -> dict[JobState, int]:
        """How many jobs the store holds in each state."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files."""
