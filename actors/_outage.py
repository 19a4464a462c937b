"""What the Scheduler owes the store while the store does not answer.

A database server that restarts (or a network that drops) fails every store call for a
while: the runners' saves, the Scheduler's reloads and saves, the polls. None of that
may stop the Scheduler, and none of it may be forgotten: a job whose last saved record
could not be read back, or whose record the Scheduler changed and could not store,
waits here until a poll finds the store answering again, and is then taken back as
last saved (``reloads``) or stored (``resaves``). ``Outage`` keeps those jobs and says
once that the store is unreachable (WARNING) and once that it is back (INFO), instead
of a log record per failed call, or a second pair for the failures of calls the outage
held up, which end just after it (``SETTLE``).

A plain object owned by the Scheduler's ``Effects``; no actor, thread or store of its own.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from actors import messages as m
from actors._engine import job_log, logger
from actors._errors import StoreError

if TYPE_CHECKING:
    from actors._job import JobRecord

__all__ = ["SETTLE", "WRITTEN", "Outage", "store_down"]

SETTLE = 30.0
"""Seconds after an outage was said to end in which a new failure is taken for its tail.

Calls that began during the outage end after the store answers a poll: a save that
waited for a connection fails once its wait is up, and a pool that reconnects with a
backoff gives connections back one by one. Each such failure told as a new outage was
a second WARNING and INFO for one restart. It is logged at DEBUG instead, unless the
store fails this long again (a new outage after all: then at WARNING).
"""


WRITTEN = frozenset({m.SpawnBranch, m.BranchArrived, m.JobParked, m.JobEnded})
"""Runners' reports sent only once their slice was stored: the store writes again."""


def store_down(error: BaseException | None) -> bool:
    """Whether ``error`` is the store's failure to write, which says nothing of the job.

    A SQLite file that is full, read-only or locked past ``busy_timeout`` refuses every
    write at once while reads still work: a job taken back at once would run its steps
    again, fail again, and so on hundreds of times a second. Such a job waits for the
    next poll that finds the store writable (``Effects.defer``).
    """
    return isinstance(error, StoreError) and not error.blames_job


class Outage:
    """The store's state as this Scheduler last saw it, and the work it left undone.

    Args:
        url: the store's URL as logged (passwords masked).
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self.down_since: float | None = None  # when a store call first failed, if it did
        self._ended: float | None = None  # when the last outage was said to end
        self._quiet = False  # the failures since down_since are an outage's tail (SETTLE)
        # Jobs to take back as last saved: ``(record held here, why, log level)`` by job id.
        # The record stays in the case book and counts as handed out (see Effects.defer).
        self.reloads: dict[str, tuple[JobRecord, str, int]] = {}
        # Final records the Scheduler could not store (a job it ended), by job id, oldest
        # first: stored as they are once the store answers.
        self.resaves: dict[str, JobRecord] = {}
        # Failed sends of requests (correlation id, error) not delivered as fault replies:
        # delivered once their jobs are taken back and wait on them again.
        self.replies: list[tuple[str, str]] = []
        # A failure no wait mends (a damaged SQLite file), met by a runner's slice: the
        # next poll stops this worker with it, as when the poll meets one itself.
        self.fatal: BaseException | None = None
        # How many jobs the next settle may take back while no write is known to get
        # through: ``None`` once a slice was stored again (then all go at once).
        self.ramp: int | None = None

    @property
    def owed(self) -> int:
        """How many jobs wait for the store: to take back, to store, or to tell of a reply."""
        return len(self.reloads) + len(self.resaves) + len(self.replies)

    def failed(self, error: BaseException, now: float) -> None:
        """A store call failed with ``error``; logged at WARNING once per outage.

        From here jobs are taken back a few at a time (``ramp``), until a slice is stored.
        A store that answers a poll may still refuse the runners' writes (a file system
        with a few KiB left lets a lease renewal through, not a group of slices): taking
        every job back at each such poll ran every job's steps again at every poll.
        """
        self.ramp = 1
        if getattr(error, "stops_worker", False):  # a damaged file: the next poll stops
            self.fatal = error
        if self.down_since is None:
            self.down_since = now
            self._quiet = self._ended is not None and now - self._ended < SETTLE
            if self._quiet:
                logger.debug("the store fails again, soon after it answered: %s", error,
                             extra=job_log(None))  # fmt: skip
                return
        elif self._quiet and now - self.down_since >= SETTLE:
            self._quiet = False  # no tail: the store is down again, and says so
        else:
            logger.debug("the store still fails: %s", error, extra=job_log(None))
            return
        logger.warning(
            "the store %s cannot be reached (%s); this worker keeps its cases as last saved "
            "and tries again at every poll",
            self._url,
            error,
            extra=job_log(None),
        )
        # The traceback too, at DEBUG: a failure may be a bug or a bad statement, not the
        # network's.
        logger.debug("the store's failure", exc_info=error, extra=job_log(None))

    def answered(self, now: float, resumed: int | None = None) -> None:
        """A store call returned at ``now``; after a failure, logged at INFO once.

        ``resumed``: how many jobs were just taken back (by default those still to be):
        the count of the jobs whose lines the outage kept at DEBUG.
        """
        if self.down_since is None:
            return
        count = len(self.reloads) if resumed is None else resumed
        owed = f"; {count} job(s) resume from their last saved step" if count else ""
        logger.log(
            logging.DEBUG if self._quiet else logging.INFO,  # a tail: its WARNING was not said
            "the store %s is reachable again (after %.1fs)%s",
            self._url,
            max(0.0, now - self.down_since),
            owed,
            extra=job_log(None),
        )
        if not self._quiet:
            self._ended = now  # a tail counts from the end of the outage it follows
        self.down_since, self._quiet = None, False
