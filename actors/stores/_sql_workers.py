"""The workers' leases as an operator reads them from a SQL store (bound into ``SqlStore``).

A worker's lease is its row in ``workers`` (migration 12); the roots of the cases it
holds are stamped with it and marked ``HELD``. These reads list the workers and count
their cases through ``jobs_lease``, never reading a held case's row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.stores._admin_types import WorkerLease, WorkerLeases
from actors.stores._sql_admin_rows import column_time
from actors.stores._statements import HELD, LIVE_WORKERS, OPEN_VALUES

if TYPE_CHECKING:
    from actors.stores._sql import SqlStore

__all__ = ["leases_held", "worker_leases"]


# The live workers (one parameter: now), each with its held roots counted in jobs_lease
# (their index entries, not their rows), as worker_leases counts them.
_LIVE_HOLDERS = (
    "SELECT owner, expires, (SELECT COUNT(*) FROM {held_by} WHERE lease_owner = w.owner "
    f"AND lease_expires IS NOT NULL) FROM workers w WHERE expires >= ? AND expires <= {HELD!r}"
)


def leases_held(store: SqlStore, now: float) -> list[tuple[str, int, float]]:
    """(worker, cases, latest expiry) for every worker holding unexpired leases.

    Read from the workers' rows and the counts of jobs_lease, never from a held root's
    row: reading each held root for its expiry took 145 ms (SQLite) and 245 ms
    (PostgreSQL) at every worker's start with 100,000 cases held.
    """
    at = store.lease_time(now)  # expiries go by the server's clock
    skew = at - now
    holders = store._read(
        _LIVE_HOLDERS.format(held_by=store._held_by), (at,), "read the leases held"
    )
    # The roots whose lease_expires is not HELD are counted above under their holder's
    # name too: leases of the release before, which end at their own expiry, and values
    # past HELD, which are no lease (see LAPSED). Few or none, found as a claim finds
    # them (_claim_pick): through jobs_claim, one state and one range at a time.
    others: list[tuple[str, float | None]] = []
    for state in OPEN_VALUES:
        for lapsed, own in ((f"< {HELD!r}", True), (f"> {HELD!r}", False)):
            rows = store._read(
                f"SELECT lease_owner, lease_expires FROM {store._expired_from} WHERE "
                f"state = '{state}' AND lease_expires {lapsed} AND parent_id IS NULL "
                "AND lease_owner IS NOT NULL",
                (),
                "read the leases held",
            )
            others += [(str(owner), float(ends) if own else None) for owner, ends in rows]
    held: dict[str, tuple[int, float]] = {}
    for owner, expires, cases in holders:
        mine = int(cases) - sum(1 for other, _ in others if other == owner)
        if mine > 0:
            held[str(owner)] = (mine, float(expires))
    for owner, ends in others:
        if ends is not None and ends >= at:
            cases, latest = held.get(owner, (0, ends))
            held[owner] = (cases + 1, max(latest, ends))
    return [(owner, cases, ends - skew) for owner, (cases, ends) in sorted(held.items())]


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
