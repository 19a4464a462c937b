"""The workers' leases as an operator reads them from a SQL store (bound into ``SqlStore``).

A worker's lease is its row in ``workers`` (migration 12); the roots of the cases it
holds are stamped with it and marked ``HELD``. These reads list the workers and count
their cases through ``jobs_lease``, never reading a held case's row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.stores._admin_types import WorkerLease, WorkerLeases
from actors.stores._sql_admin_rows import column_time
from actors.stores._statements import HELD, LEASE_EXPIRY, LIVE_WORKERS

if TYPE_CHECKING:
    from actors.stores._sql import SqlStore

__all__ = ["leases_held", "worker_leases"]


def leases_held(store: SqlStore, now: float) -> list[tuple[str, int, float]]:
    """(worker, cases, latest expiry) for every worker holding unexpired leases."""
    skew = store.lease_time(now) - now  # expiries go by the server's clock
    # The held roots (jobs_lease, as its range of owners), each with when its lease ends;
    # past HELD is no lease (see LAPSED): a claim takes such a case.
    rows = store._read(
        "SELECT lease_owner, COUNT(*), MAX(ends) FROM (SELECT lease_owner, "
        f"{LEASE_EXPIRY} AS ends FROM jobs WHERE parent_id IS NULL "
        "AND lease_expires IS NOT NULL AND lease_owner IS NOT NULL) held "
        f"WHERE ends >= ? AND ends <= {HELD!r} GROUP BY lease_owner ORDER BY lease_owner",
        (now + skew,),
        "read the leases held",
    )
    return [(row[0], int(row[1]), float(row[2]) - skew) for row in rows if row[0] is not None]


def worker_leases(store: SqlStore, now: float, limit: int) -> WorkerLeases:
    """The workers' leases at ``now`` (by the store's clock), ``limit`` of them (see Store)."""
    # The workers table holds the live workers and the stopped ones still stamped on
    # cases (a worker's start lets the others go). Each listed worker's cases are counted
    # in jobs_lease (its held roots' entries, not their rows); one statement, whose row
    # of counts stands alone when no worker is listed.
    rows = store._read(
        f"SELECT c.total, c.live, w.owner, w.expires, (SELECT COUNT(*) FROM {store._held_by} "
        "WHERE lease_owner = w.owner AND lease_expires IS NOT NULL) "
        "FROM (SELECT (SELECT COUNT(*) FROM workers) AS total, "
        f"(SELECT COUNT(*) FROM ({LIVE_WORKERS}) live) AS live) c "
        "LEFT JOIN (SELECT owner, expires FROM workers ORDER BY expires, owner LIMIT ?) w "
        "ON 1 = 1 ORDER BY w.expires, w.owner",
        (now, limit),
        "read the workers' leases",
    )
    listed = []
    for _, _, owner, expires, cases in rows:
        if owner is None:
            continue
        until = column_time(expires)
        lease = until if until is not None and until <= HELD else None  # see LIVE_WORKERS
        listed.append(WorkerLease(str(owner), lease, int(cases)))
    return WorkerLeases(listed, int(rows[0][0]), int(rows[0][1]))
