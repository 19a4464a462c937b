"""Which cases a claim takes, found without walking the cases live workers hold.

A case is free to claim when its root is unfinished and nobody holds it (its
``lease_expires`` is NULL: never taken, or released), or when its holder's lease ran
out: the holder's row in ``workers`` expired or is gone (``HELD`` roots), or, for a root
leased by a worker of the release before migration 12, its own expiry passed. The pick
read every unfinished root in order and tested each against the live workers, so with
100,000 cases parked under live workers a claim that found nothing took 23 ms on SQLite
and 48 ms on PostgreSQL, at every poll of every worker.

Now it reads the holders first: the distinct owners of leased roots, one index probe
each (``jobs_lease``, skipping from one owner to the next), less those with a live row
in ``workers``. Only the roots of those holders are read, then the free roots through
``jobs_free``, the partial index of the unfinished roots nobody holds (migration 9 on
SQLite, 13 on PostgreSQL). Cases whose holder stopped come first: they were in flight;
then the free ones, oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from actors.stores._statements import FREE_ROOT, HELD, UNFINISHED_ROOT, Execute

if TYPE_CHECKING:
    from actors.stores._sql import SqlStore

__all__ = ["pick_free"]

# The holders of leased roots with no live row in workers (one parameter: now). The
# recursive part finds each next owner with one probe of jobs_lease (a partial index
# on lease_owner where lease_expires IS NOT NULL: the roots of unfinished, held cases),
# so it costs a probe per holder, not a row per case held.
_STOPPED_HOLDERS = (
    "WITH RECURSIVE holders(owner) AS ("
    "SELECT MIN(lease_owner) FROM jobs WHERE lease_expires IS NOT NULL "
    "UNION ALL "
    "SELECT (SELECT MIN(lease_owner) FROM jobs "
    "WHERE lease_expires IS NOT NULL AND lease_owner > holders.owner) "
    "FROM holders WHERE holders.owner IS NOT NULL) "
    "SELECT owner FROM holders WHERE owner IS NOT NULL "
    "AND owner NOT IN (SELECT owner FROM workers WHERE expires >= ?)"
)


def pick_free(
    store: SqlStore,
    execute: Execute,
    now: float,
    limit: int,
    served: Sequence[tuple[str, int]] | None,
) -> list[Any]:
    """Up to ``limit`` free roots as ``(id, lease_owner, lease_expires)`` rows.

    ``served``: only cases of these ``(workflow, version)`` pairs (``None``: any).
    PostgreSQL locks each row it returns, skipping those another claim has locked.
    """
    only, only_params = _served(served)
    picked: list[Any] = []
    for (holder,) in execute(_STOPPED_HOLDERS, (now,)).fetchall():
        if len(picked) >= limit:
            break
        # Its roots held under its lapsed row (HELD), or leased by a worker of the
        # release before whose own expiry passed; not its roots leased until later.
        picked += execute(
            f"SELECT id, lease_owner, lease_expires FROM {store._held_by} "
            f"WHERE lease_owner = ? AND lease_expires IS NOT NULL AND {UNFINISHED_ROOT} "
            f"AND (lease_expires = {HELD!r} OR lease_expires < ?){only}"
            f"{store._held_order} LIMIT ?{store._skip_locked}",
            (holder, now, *only_params, limit - len(picked)),
        ).fetchall()
    if len(picked) < limit:
        picked += execute(
            f"SELECT id, lease_owner, lease_expires FROM {store._free_from} WHERE {FREE_ROOT}"
            f"{only} ORDER BY {store._order} LIMIT ?{store._skip_locked}",
            (*only_params, limit - len(picked)),
        ).fetchall()
    return picked


def _served(served: Sequence[tuple[str, int]] | None) -> tuple[str, tuple[Any, ...]]:
    if served is None:
        return "", ()
    terms = " OR ".join("(workflow = ? AND version = ?)" for _ in served)
    return f" AND ({terms})", tuple(value for pair in served for value in pair)
