"""A read-only view of what a Scheduler holds, for the test harness's checks and reports.

The harness reads a running Scheduler between deliveries; it reads it through this view
alone, so the Scheduler's collaborators can change inside without the harness reaching
into them, and the view cannot change them: its mappings are read-only proxies (live,
not copies, so probing after every delivery costs nothing).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Set

    from actors._case_book import CaseBook
    from actors._correlations import Correlations
    from actors._job import JobRecord
    from actors._timekeeper import Timekeeper

__all__ = ["SchedulerView"]


class SchedulerView:
    """The jobs, branches, correlations and timers one Scheduler holds, read-only."""

    __slots__ = ("_check", "_kids", "_time", "correlations", "jobs")

    def __init__(
        self,
        book: CaseBook,
        correlations: Correlations,
        time: Timekeeper,
        check: Callable[[], None],
    ) -> None:
        self.jobs: Mapping[str, JobRecord] = MappingProxyType(book.jobs)
        """Jobs the Scheduler holds: parked, split, held, and branches it spawned."""
        self._kids = MappingProxyType(book.kids)
        self.correlations: Mapping[str, tuple[str, ...]] = correlations.by_job()
        """Correlation ids each parked job waits on."""
        self._time = time
        self._check = check

    @property
    def kids(self) -> Mapping[str, Set[str]]:
        """Live branches of each split parent."""
        return self._kids

    def timers(self) -> dict[str, float]:
        """Due time of each pending timer by job id, earliest first (a shared store's poll too)."""
        return self._time.pending()

    def check_invariants(self) -> None:
        """The Scheduler's and its collaborators' own consistency checks (plain asserts)."""
        self._check()
