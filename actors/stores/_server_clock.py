"""The database server's clock, by which a PostgreSQL store's workers measure their leases.

A worker's lease is an expiry time in the ``workers`` table, and a claim takes the cases
of a worker whose expiry is past. Written and compared by each machine's own clock, a
machine whose clock ran a minute ahead took every other worker's live cases at each
claim (their in-flight steps ran twice), and one a minute behind had its cases taken by
every other worker as soon as it claimed them. A PostgreSQL store reads the server's
clock when it opens and at every heartbeat, and passes lease times through
``lease_time``, so that every worker of the database measures leases by one clock.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

__all__ = ["SERVER_NOW", "TOLERANCE", "ServerClock"]

SERVER_NOW = "SELECT extract(epoch FROM clock_timestamp())"
"""The server's wall clock, in seconds since the epoch (not the transaction's start)."""

TOLERANCE = 1.0
"""Seconds this machine's clock may differ from the server's and still measure leases.

Within it, lease times stay this machine's own (a reading is no closer than its round
trip, and a lease's margin for drift is a quarter of it, several seconds by default).
"""

logger = logging.getLogger("actors.stores")


class ServerClock:
    """How far the database server's clock is from this machine's, as leases apply it."""

    def __init__(self, url: str) -> None:
        self.url = url  # masked
        self.offset = 0.0
        """Seconds to add to this machine's time for the server's (0 within ``TOLERANCE``)."""

    def observe(self, read: Callable[[], object]) -> None:
        """Read the server's clock with ``read`` and keep its offset from this machine's.

        A reading whose round trip took longer than the tolerance tells too little, and
        is ignored. An offset of ``TOLERANCE`` or more is applied, and kept until it is
        back under half of it (a clock about a second off does not flap between the two).
        A WARNING says when this machine's clock is found off (or jumps by ``TOLERANCE``
        or more), an INFO when it agrees with the server's again.
        """
        before = time.time()
        server = read()
        after = time.time()
        try:
            seen = float(server) - (before + after) / 2  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return
        if after - before > TOLERANCE or not math.isfinite(seen):
            return
        before_offset, keep = self.offset, TOLERANCE / 2 if self.offset else TOLERANCE
        offset = self.offset = seen if abs(seen) >= keep else 0.0
        if offset and before_offset and abs(offset - before_offset) < TOLERANCE:
            return  # it drifts: followed, without a line per heartbeat
        if offset == before_offset:
            return
        if offset:
            way = "behind" if offset > 0 else "ahead of"
            logger.warning(
                "this machine's clock is %.1f s %s the clock of the database server at %s: "
                "this process stores its workers' leases and timers by the server's clock, "
                "so they agree with other machines', but what it shows or logs by this "
                "machine's clock is that much off; set this machine's clock right (NTP)",
                abs(offset),
                way,
                self.url,
            )
        else:
            logger.info(
                "this machine's clock agrees with the clock of the database server at %s "
                "again (within %.0f s)",
                self.url,
                TOLERANCE,
            )

    def stored_due(self, due: float | None) -> float | None:
        """A timer's due time (this machine's clock) as stored: on the server's clock.

        Stored by the clock of the worker that armed it, a timer fired as much late or
        early as that clock was off from the clock of the worker that took the case
        over (a minute off: a minute late). On the server's clock it fires on time.
        """
        return due if due is None or not self.offset else due + self.offset

    def local_due(self, due: float | None) -> float | None:
        """A stored due time (the server's clock) on this machine's clock."""
        return due if due is None or not self.offset else due - self.offset
