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
in ``workers``. Only the HELD roots of those holders are read; then the roots leased by
a worker of the release before whose expiry passed, whatever name they hold (through
``jobs_claim``, by state and expiry); then the free roots through ``jobs_free``, the
partial index of the unfinished roots nobody holds (migration 13 on PostgreSQL; on
SQLite, ``jobs_free_served`` holds the same rows by workflow and version, so a claim for
any workflow reads each workflow's oldest there, see ``free_pairs``). Cases whose holder
stopped come first: they were in flight; then the free ones, oldest first. A worker
restarted under its name takes its own back before all of these (see ``claim``).

A claim for some workflows only (a worker's: those it serves) reads each served
``(workflow, version)``'s own range of ``jobs_free_served`` and of the held roots' index
(``jobs_held_served`` on PostgreSQL, ``jobs_lease`` on SQLite; both keyed by workflow and
version, migration 14), and takes the oldest across them: the cases of
workflows it does not serve cost it nothing (it read and dropped each of them, 4.6 ms a
claim with 50,000 waiting for a worker of another workflow on SQLite, 6.8 on PostgreSQL;
``benchmarks/bench_claims.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from actors.stores._statements import (
    FREE_ROOT,
    HELD,
    LIVE_WORKERS,
    OPEN_VALUES,
    UNFINISHED_ROOT,
    Execute,
)

if TYPE_CHECKING:
    from actors.stores._sql import SqlStore

__all__ = ["free_pairs", "pick_free"]


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
    f"AND owner NOT IN ({LIVE_WORKERS})"
)


def pick_free(
    store: SqlStore,
    execute: Execute,
    now: float,
    limit: int,
    served: Sequence[tuple[str, int]] | None,
    *,
    skip: str | None = None,
) -> list[Any]:
    """Up to ``limit`` free roots as ``(id, lease_owner, lease_expires)`` rows.

    ``served``: only cases of these ``(workflow, version)`` pairs (``None``: any).
    ``skip``: a holder whose cases the caller took already (a worker taking its own back).
    PostgreSQL locks each row it returns, skipping those another claim has locked.
    """
    only, only_params = _served(served)
    picked: list[Any] = []
    if limit <= 0:
        return picked
    where = f"lease_owner = ? AND lease_expires = {HELD!r} AND {UNFINISHED_ROOT}"
    for (holder,) in execute(_STOPPED_HOLDERS, (now,)).fetchall():
        if len(picked) >= limit:
            return picked
        if holder != skip:  # its roots held under its lapsed (or missing) row
            if served is None:
                picked += execute(
                    f"SELECT id, lease_owner, lease_expires FROM {store._held_by} WHERE "
                    f"{where}{store._held_order} LIMIT ?{store._skip_locked}",
                    (holder, limit - len(picked)),
                ).fetchall()
            else:
                picked += _each_served(
                    store, execute, store._held_served_by, where, (holder,), served,
                    limit - len(picked), ordered=bool(store._held_order),
                )  # fmt: skip
    # Leased by a worker of the release before (not HELD), whoever holds it by name, once
    # its own expiry passed, or past HELD (see LAPSED): few or none, found by jobs_claim
    # (state, lease_expires), one state and one range at a time (with the state unbound,
    # or the two ranges ORed, PostgreSQL's planner walks every root).
    for state in OPEN_VALUES:
        for lapsed, bound in (("lease_expires < ?", (now,)), (f"lease_expires > {HELD!r}", ())):
            if len(picked) >= limit:
                return picked
            picked += execute(
                f"SELECT id, lease_owner, lease_expires FROM {store._expired_from} WHERE "
                f"state = '{state}' AND {lapsed} AND parent_id IS NULL{only}"
                f"{store._held_order} LIMIT ?{store._skip_locked}",
                (*bound, *only_params, limit - len(picked)),
            ).fetchall()
    if len(picked) >= limit:
        return picked
    if served is None and store._free_from is not None:
        picked += execute(
            f"SELECT id, lease_owner, lease_expires FROM {store._free_from} WHERE {FREE_ROOT}"
            f" ORDER BY {store._order} LIMIT ?{store._skip_locked}",
            (limit - len(picked),),
        ).fetchall()
    else:
        # SQLite, for any workflow: each workflow's own oldest, then the oldest of those.
        pairs = free_pairs(execute) if served is None else served
        picked += _each_served(
            store, execute, store._free_served_from, FREE_ROOT, (), pairs,
            limit - len(picked), ordered=True,
        )  # fmt: skip
    return picked


# SQLite: the first (workflow, version) among the free roots, the next version of a
# workflow, and the first pair of the next workflow; each one probe of jobs_free_served,
# which holds them in that order. (A row value, "(workflow, version) > (?, ?)", reads
# every entry of the workflow: SQLite seeks by its first column only.) Each pair is read
# and given back as the bytes stored (_RAW), so a value that is not UTF-8 (another
# program's write) is found again as it is, and its case is taken and faulted.
_RAW = "CAST(? AS TEXT)"
_FREE_PAIR = (
    "SELECT CAST(workflow AS BLOB), CAST(version AS BLOB) FROM jobs "
    f"INDEXED BY jobs_free_served WHERE {FREE_ROOT} AND "
)
_FIRST_FREE_PAIR = (
    f"{_FREE_PAIR}workflow = (SELECT MIN(workflow) FROM jobs INDEXED BY jobs_free_served "
    f"WHERE {FREE_ROOT}) ORDER BY version LIMIT 1"
)
_NEXT_VERSION = f"{_FREE_PAIR}workflow = {_RAW} AND version > {_RAW} ORDER BY version LIMIT 1"
_NEXT_WORKFLOW = f"{_FREE_PAIR}workflow > {_RAW} ORDER BY workflow, version LIMIT 1"


def free_pairs(execute: Execute) -> list[tuple[bytes, bytes]]:
    """The ``(workflow, version)`` pairs of the free roots (SQLite), as stored, in order.

    A probe or two each. A claim for any workflow reads them first, then each pair's
    oldest free cases (as a claim for some workflows does), so it reads none of the
    other free cases.
    """
    pairs: list[tuple[bytes, bytes]] = []
    row = execute(_FIRST_FREE_PAIR, ()).fetchone()
    while row is not None:
        pairs.append((row[0], row[1]))
        row = (
            execute(_NEXT_VERSION, (row[0], row[1])).fetchone()
            or execute(_NEXT_WORKFLOW, (row[0],)).fetchone()
        )
    return pairs


def _each_served(
    store: SqlStore,
    execute: Execute,
    source: str,
    where: str,
    params: tuple[Any, ...],
    served: Sequence[tuple[Any, Any]],
    limit: int,
    *,
    ordered: bool,
) -> list[Any]:
    """Up to ``limit`` rows ``where`` holds, read through an index by workflow and version.

    One statement, one index range per served pair (``source``'s index, keyed by
    ``workflow, version``): only the served workflows' rows are read, each pair's oldest
    first, then the oldest of those taken (``ordered``; else any). Pairs of bytes are the
    values as stored (``free_pairs``, SQLite), compared as such. On PostgreSQL each
    pair's range is locked as read (``SKIP LOCKED``): rows read but not taken stay locked
    until the claim commits, and a concurrent claim passes over them meanwhile.
    """
    rows: list[Any] = []
    for first in range(0, len(served), _PAIRS_PER_STATEMENT):
        chunk = served[first : first + _PAIRS_PER_STATEMENT]
        rows += _pick_served(store, execute, source, where, params, chunk, limit, ordered)
    if len(served) > _PAIRS_PER_STATEMENT:  # the oldest of every statement's
        if ordered:
            rows.sort(key=lambda row: row[3])
        del rows[limit:]
    return [row[:3] for row in rows]


# Served pairs read by one statement: SQLite allows 500 terms in a compound SELECT.
_PAIRS_PER_STATEMENT = 100


def _pick_served(
    store: SqlStore,
    execute: Execute,
    source: str,
    where: str,
    params: tuple[Any, ...],
    served: Sequence[tuple[Any, Any]],
    limit: int,
    ordered: bool,
) -> list[Any]:
    """``_each_served`` for at most ``_PAIRS_PER_STATEMENT`` pairs: rows with their order."""
    order = store._order
    inner = f" ORDER BY {order}" if ordered else ""
    outer = " ORDER BY k" if ordered else ""
    pick = f"SELECT id, lease_owner, lease_expires, {order} AS k FROM {source} WHERE {where}"
    if store._skip_locked:  # PostgreSQL: each pair's range in a LATERAL subquery
        pairs = ", ".join("(CAST(? AS TEXT), CAST(? AS INTEGER))" for _ in served)
        sql = (
            f"SELECT id, lease_owner, lease_expires, k FROM (VALUES {pairs}) AS s(w, v) "
            f"CROSS JOIN LATERAL ({pick} AND workflow = s.w AND version = s.v{inner} "
            f"LIMIT ?{store._skip_locked}) AS j{outer} LIMIT ?"
        )
        args: tuple[Any, ...] = (
            *(value for pair in served for value in pair),
            *params,
            limit,
            limit,
        )
    else:  # SQLite: a compound of one subquery per pair
        mark = _RAW if isinstance(served[0][0], bytes) else "?"  # from free_pairs
        each = f"SELECT * FROM ({pick} AND workflow = {mark} AND version = {mark}{inner} LIMIT ?)"
        sql = (
            "SELECT id, lease_owner, lease_expires, k FROM ("
            + " UNION ALL ".join(each for _ in served)
            + f"){outer} LIMIT ?"
        )
        args = (*(v for pair in served for v in (*params, *pair, limit)), limit)
    rows: list[Any] = execute(sql, args).fetchall()
    return rows


def _served(served: Sequence[tuple[str, int]] | None) -> tuple[str, tuple[Any, ...]]:
    if served is None:
        return "", ()
    terms = " OR ".join("(workflow = ? AND version = ?)" for _ in served)
    return f" AND ({terms})", tuple(value for pair in served for value in pair)
