"""A read-only view of what a Scheduler holds, for the test harness's checks and reports.

The harness reads a running Scheduler between deliveries; it reads it through this view
alone, so the Scheduler's collaborators can change inside without the harness reaching
into them, and the view cannot change them: its mappings are read-only proxies (live,
not copies, so probing after every delivery costs nothing).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from actors._job import JobState

if TYPE_CHECKING:
    from collections.abc import Mapping, Set

    from actors._case_book import CaseBook
    from actors._correlations import Correlations
    from actors._job import JobRecord
    from actors._timekeeper import Timekeeper

__all__ = ["SchedulerView"]


class SchedulerView:
    """The jobs, branches, correlations and timers one Scheduler holds, read-only."""

    __slots__ = ("_book", "_correlations", "_kids", "_others", "_time", "correlations", "jobs")

    def __init__(
        self,
        book: CaseBook,
        correlations: Correlations,
        time: Timekeeper,
        others: tuple[Checked, ...],
    ) -> None:
        """``others``: the channel, gate and leases, whose checks ``check_invariants`` runs too."""
        self._book = book
        self._correlations = correlations
        self.jobs: Mapping[str, JobRecord] = MappingProxyType(book.jobs)
        """Jobs the Scheduler holds: parked, split, held, and branches it spawned."""
        self._kids = MappingProxyType(book.kids)
        self.correlations: Mapping[str, tuple[str, ...]] = correlations.by_job()
        """Correlation ids each parked job waits on."""
        self._time = time
        self._others = others

    @property
    def kids(self) -> Mapping[str, Set[str]]:
        """Live branches of each split parent."""
        return self._kids

    def timers(self) -> dict[str, float]:
        """Due time of each pending timer by job id, earliest first (a shared store's poll too)."""
        return self._time.pending()

    def check_invariants(self, *, own: bool = True) -> None:
        """The Scheduler's collaborators' own consistency checks (plain asserts).

        ``own=False`` leaves out the case book, correlations and timers: only the
        Scheduler's own deliveries change them, so after an action that delivered
        nothing to it they are as the last check found them. The channel, gate and
        leases, which runners and producers change too, are always checked.
        """
        if own:
            self._book._check_invariants()
            self._correlations._check_invariants()
            jobs = self.jobs
            for job_id in self.correlations:
                assert jobs[job_id].state is JobState.WAITING, f"{job_id} waits but is not WAITING"
            self._time._check_invariants()
        for other in self._others:
            other._check_invariants()


class Checked(Protocol):
    """An object with its own consistency checks."""

    def _check_invariants(self) -> None: ...
