"""The SQL store's claims and leases: which worker holds which case, and for how long.

Functions of a ``SqlStore`` (its methods of the same names): a case is claimed by marking
its root row held (``HELD``) and stamping every row of the case with the worker, and given
up on release. The worker's lease is its row in ``workers``: its heartbeat renews that one
row, and every case it holds is held while the row has not expired.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from actors._errors import SchemaTooNewError
from actors._job import FINAL_STATES, JobRecord
from actors.stores._admin_types import taken_over, was_worker
from actors.stores._claim_pick import pick_free
from actors.stores._claimed import foreign_parents, mark_taken
from actors.stores._lease_twins import EXPIRES_OF, lease_write, renewed, written
from actors.stores._migrations import MIGRATIONS
from actors.stores._schema import too_new
from actors.stores._sql_admin_rows import column_time
from actors.stores._statements import (
    COLUMNS,
    FINAL_VALUES,
    FREE_LEASE,
    HELD,
    SELECT_LIST,
    UNFINISHED_ROOT,
    Execute,
    in_lists,
)

if TYPE_CHECKING:
    from actors.stores._sql import SqlStore

# A root whose lease a worker (the one parameter) holds: the lease index (jobs_lease) finds them.
_LIVE_ROOT = "lease_owner = ? AND parent_id IS NULL AND lease_expires IS NOT NULL"

# A worker's lease: renewed to the expiry given, or extended to it (a claim never shortens it).
_RENEW = (
    "INSERT INTO workers (owner, expires) VALUES (?, ?) "
    "ON CONFLICT (owner) DO UPDATE SET expires = excluded.expires"
)
# A row past HELD (edited by hand, see LIVE_WORKERS) is no lease to keep.
EXTEND = (
    "INSERT INTO workers (owner, expires) VALUES (?, ?) ON CONFLICT (owner) DO UPDATE SET "
    f"expires = CASE WHEN workers.expires >= excluded.expires AND workers.expires <= {HELD!r} "
    "THEN workers.expires ELSE excluded.expires END"
)
# What a heartbeat reads of the schema: a row-or-two table, read once per renewal.
_TOP_VERSION = "SELECT MAX(version) FROM schema_version"
_BREAKING = (
    "SELECT version, description FROM schema_version "
    "WHERE version > ? AND breaks_older <> 0 ORDER BY version LIMIT 1"
)
LATEST = MIGRATIONS[-1].version

# The rows of workers that expired (before the parameter) and hold no case: a worker's
# name is new at each start (see _engine.default_owner), so rows would pile up. A missing
# row means what an expired one does.
_PRUNE = (
    "DELETE FROM workers WHERE expires < ? AND NOT EXISTS (SELECT 1 FROM jobs "
    "WHERE jobs.lease_owner = workers.owner AND jobs.parent_id IS NULL "
    "AND jobs.lease_expires IS NOT NULL)"
)


def live_roots(store: SqlStore) -> str:
    """The roots whose lease a worker (the one parameter) holds, locked in order.

    Insertion order is the order in which claims and a group commit lock rows, so a
    heartbeat or a release never deadlocks with them (PostgreSQL; SQLite locks the
    whole file).
    """
    return f"SELECT id FROM jobs WHERE {_LIVE_ROOT} ORDER BY {store._order}{store._for_update}"


def new_lease(store: SqlStore, job: JobRecord, now: float) -> tuple[str | None, float | None]:
    """The stamp and expiry of a row this store inserts (an update keeps the stored ones).

    A worker's store stamps every row it creates with the worker; an unfinished root
    is also held (``HELD``: while the worker's lease runs). Without an owner (a single
    process, ``enqueue``) rows are nobody's.
    """
    owner = store.owner
    if owner is None:
        return None, None
    if job.parent_id is not None or job.state in FINAL_STATES:
        return owner, None
    return owner, HELD


def lease_worker(store: SqlStore, jobs: list[JobRecord]) -> None:
    """Before the first case this store creates for its worker: extend the worker's lease.

    On the wall clock, as a new root's own lease was: a store used without a claim or
    a heartbeat first (the engine claims at start) would otherwise create cases nobody
    holds (a missing row in ``workers`` holds nothing). After that, heartbeats.
    """
    owner = store.owner
    if owner is None or store._worker_row == owner:
        return
    if any(job.parent_id is None and job.state not in FINAL_STATES for job in jobs):
        expires = store.lease_time(time.time()) + store.lease_seconds

        def extend(execute: Execute) -> None:
            execute(EXTEND, (owner, expires))
            written(store, execute, owner)

        lease_write(store, owner, extend, "lease a worker")
        store._worker_row = owner


def claim(
    store: SqlStore,
    owner: str,
    now: float,
    lease_seconds: float,
    limit: int,
    *,
    case_id: str | None = None,
    reclaim: bool = False,
    workflows: Collection[tuple[str, int]] | None = None,
) -> list[JobRecord]:
    """Take up to ``limit`` free cases for ``owner``; return their unfinished jobs.

    Atomic per case: the lease is taken on the root row inside the transaction
    (``FOR UPDATE SKIP LOCKED`` in PostgreSQL, so concurrent claimers never wait on
    each other), and each case goes to one caller only. Every row of a claimed case
    is stamped with ``owner`` in the same transaction, which fences the previous
    holder's saves out of all of them. A case is free when its root is unfinished
    and its lease has no expiry (never taken, or released), or has expired, or its
    holder's lease (its row in ``workers``) has expired. ``owner``'s lease is extended
    to ``now + lease_seconds`` when it takes a case (never shortened). A row
    that cannot be read comes back FAULTED (and is saved so). With ``workflows``
    only cases of those ``(name, version)`` pairs are taken (none if it is empty).
    """
    served = None if workflows is None else sorted(set(workflows))
    if limit <= 0 or served == []:
        return []
    now = store.lease_time(now)
    one = " AND id = ?"
    if served is not None:
        one += " AND (" + " OR ".join("(workflow = ? AND version = ?)" for _ in served) + ")"
    # One case (an event or an operator's retry for a case this worker does not hold) is
    # read by its id; the others are found through small indexes (see _claim_pick.py).
    one_case = (
        f"SELECT id, lease_owner, lease_expires FROM jobs WHERE {UNFINISHED_ROOT} "
        f"AND {FREE_LEASE}{one} LIMIT ?{store._skip_locked}"
    )
    state_at, step_at, attempt_at = (COLUMNS.index(c) for c in ("state", "step", "attempt"))

    # The cases whose holder stopped holding them without a release (it died or froze):
    # their jobs are marked taken_over, and each counts a try before it runs.
    stopped: set[str] = set()
    solo: set[str] = set()  # jobs to run alone (JobRecord.solo)
    # Whose the cases were: root -> (holder, whether it stopped without a release).
    previous: dict[str, tuple[str, bool]] = {}

    foreign: dict[str, str] = {}  # rows whose parent is another case's job, and why

    def write(execute: Execute) -> list[Any]:
        for kept in (stopped, solo, previous, foreign):
            kept.clear()  # a retried transaction starts again
        for setting in store._claim_settings:
            execute(setting, ())
        mine: list[Any] = []
        if reclaim:
            # The owner's previous process stopped without a release. It takes back what
            # fits in ``limit`` first, oldest first (watched, as cases taken over), and
            # the rest are made free for the next claim, its own or another worker's:
            # kept, they would be renewed by its heartbeats and never run.
            own = execute(
                f"SELECT id, lease_owner, lease_expires, workflow, version FROM jobs "
                f"WHERE {_LIVE_ROOT} AND {UNFINISHED_ROOT} ORDER BY {store._order}",
                (owner,),
            ).fetchall()
            wanted = None if served is None else set(served)
            mine = [r[:3] for r in own if wanted is None or (r[3], r[4]) in wanted][:limit]
            kept = {row[0] for row in mine}
            stopped.update(kept)
            for chunk, marks in in_lists([row[0] for row in own if row[0] not in kept]):
                execute(f"UPDATE jobs SET lease_expires = NULL WHERE id IN ({marks})", chunk)
            # A worker's name is new at each start: the rows of those gone are let go.
            execute(_PRUNE, (now,))
        if case_id is None:
            rest = limit - len(mine)
            mine += pick_free(store, execute, now, rest, served, skip=owner if reclaim else None)
            picked = mine
        else:
            params = (now, now, case_id, *(v for pair in served or () for v in pair))
            picked = execute(one_case, (*params, limit)).fetchall()
        if picked or reclaim:  # a start always leases the worker
            picked = _still_free(store, execute, owner, now, lease_seconds, picked)
        roots = [row[0] for row in picked]
        stopped.intersection_update(roots)
        stopped.update(root for root, _, expires in picked if expires is not None)
        # Whose the cases were: a case taken from another worker gets a history row.
        previous.update(
            (root, (holder, expires is not None))
            for root, holder, expires in picked
            if was_worker(holder, owner)
        )
        rows: list[Any] = []
        # A few statements for all the cases taken, not a few per case.
        for chunk, marks in in_lists(roots):
            # Every row of those cases, locked in insertion order (a parent before
            # its branches, the order a join arrival and a group lock them in too),
            # then stamped with the new owner, and the roots (a case's root has the
            # case's id) given the lease: one new version of each row, not two.
            of_cases, args = store._of_cases(chunk, marks)
            found = execute(
                f"SELECT {SELECT_LIST}, tries, tried_at, updated_at FROM jobs "
                f"WHERE {of_cases} ORDER BY {store._order}{store._for_update}",
                args,
            ).fetchall()
            # A try from the saved point the job is at already ended with its worker.
            # Tries that are no number (edited by hand) count none, not fail every claim.
            solo.update(r[0] for r in found if type(r[-3]) is int and r[-3] > 0 and r[-2] == r[-1])
            found = [row[:-3] for row in found]
            foreign.update(foreign_parents(execute, found))
            execute(
                "UPDATE jobs SET lease_owner = ?, lease_expires = CASE WHEN id = case_id "
                f"THEN ? ELSE lease_expires END WHERE {of_cases}",
                (owner, HELD, *args),
            )
            rows.extend(row for row in found if row[state_at] not in FINAL_VALUES)
        at = time.time()
        store._append(
            execute,
            [
                taken_over(
                    (row[0], row[step_at], row[attempt_at], row[state_at]),
                    owner,
                    previous[row[0]][0],
                    expired=previous[row[0]][1],
                    at=at,
                )
                for row in rows
                if row[0] in previous
            ],
        )
        return rows

    records = store._records(
        lease_write(store, owner, write, f"claim cases for {owner!r}"), named=foreign
    )
    return mark_taken(records, stopped, solo, previous)


def _still_free(
    store: SqlStore, execute: Execute, owner: str, now: float, lease: float, picked: list[Any]
) -> list[Any]:
    """The ``picked`` roots still free once the workers' rows involved are locked.

    Locks the row of ``owner`` (then extends its lease) and of every worker whose held
    cases were picked as expired, in one order (PostgreSQL; SQLite locks the whole file).
    A heartbeat of such a worker that committed meanwhile (the pick read an older
    snapshot) makes its cases held again: they are left to it. One that comes later waits
    for this claim to commit, and then finds (reading its cases' stamps, as a worker
    whose lease lapsed does) which cases it lost.
    """
    dead = {holder for _, holder, expires in picked if expires == HELD and holder != owner}
    revived: set[str] = set()
    if dead:
        names = sorted(dead | {owner})
        for chunk, marks in in_lists(names):
            rows = execute(
                "SELECT owner, expires FROM workers "
                f"WHERE owner IN ({marks}) ORDER BY owner{store._for_update}",
                chunk,
            ).fetchall()
            revived.update(name for name, expires in rows if name in dead and _live(expires, now))
    execute(EXTEND, (owner, now + lease))
    written(store, execute, owner)
    if not revived:
        return picked
    return [row for row in picked if not (row[2] == HELD and row[1] in revived)]


def _live(expires: Any, now: float) -> bool:
    """Whether a worker's row read back holds a lease not yet expired (see LIVE_WORKERS)."""
    until = column_time(expires)
    return until is not None and now <= until <= HELD


def unclaimed(store: SqlStore, now: float) -> dict[tuple[str, int], int]:
    """Unfinished cases no live worker holds, by ``(workflow, version)``."""
    now = store.lease_time(now)
    marks = ", ".join("?" for _ in FINAL_VALUES)
    rows = store._read(
        "SELECT workflow, version, COUNT(*) FROM jobs WHERE parent_id IS NULL "
        f"AND state NOT IN ({marks}) AND {FREE_LEASE} "
        "GROUP BY workflow, version",
        (*FINAL_VALUES, now, now),
        "count unclaimed cases",
    )
    out: dict[tuple[str, int], int] = {}
    for name, version, n in rows:
        # A version edited by hand into no integer ('x', 1.5) is counted as version 0,
        # which no worker serves: int() of it stopped a worker at its start, and status.
        key = (str(name), version if type(version) is int else 0)
        out[key] = out.get(key, 0) + int(n)
    return out


def heartbeat(store: SqlStore, owner: str, now: float, lease_seconds: float) -> None:
    """Extend ``owner``'s lease, and with it every case it holds, to ``now + lease_seconds``.

    One row's write, however many cases ``owner`` holds: its row in ``workers``. It
    locks no case, so it never waits on the worker's own saves.
    """

    def write(execute: Execute) -> tuple[Any, float]:
        store._observe_clock(execute)  # the renewal goes by what it read
        expiry = store.lease_time(now) + lease_seconds
        found = execute(EXPIRES_OF, (owner,)).fetchone()  # who renewed it last
        execute(_RENEW, (owner, expiry))
        # A newer release may have applied, under this running worker, a migration that
        # releases before it must not write past: rolled back, this renewal lets the
        # lease lapse, and the error stops the worker (see PollRound.poll).
        (version,) = execute(_TOP_VERSION, ()).fetchone()
        if version is not None and version > LATEST:
            breaking = execute(_BREAKING, (LATEST,)).fetchone()
            if breaking is not None:
                where = store.url
                raise SchemaTooNewError(too_new(where, version, breaking[0], breaking[1]))
        return found, expiry

    found, expiry = lease_write(store, owner, write, f"renew the leases of {owner!r}")
    renewed(store, owner, found, expiry)


def lease_owners(store: SqlStore, case_ids: list[str]) -> dict[str, str | None]:
    """Which worker each of these cases belongs to (``None``: nobody); unknown ids left out.

    The worker stamped on the case's root: its holder, or the worker that last held it
    if the case has ended or was released since.
    """
    out: dict[str, str | None] = {}
    for chunk, marks in in_lists(case_ids):
        rows = store._read(
            f"SELECT id, lease_owner FROM jobs WHERE id IN ({marks})",
            chunk,
            "read the leases of cases",
        )
        out.update((row[0], row[1]) for row in rows)
    return out


def release(store: SqlStore, owner: str) -> int:
    """Give up every lease ``owner`` holds; those cases resume wherever claimed next.

    Returns how many cases were released. The leases lose their expiry, which makes
    the cases free to claim at once; the rows keep their stamps until then, so the
    worker that held a case before ``owner`` stays fenced out of it. The worker's own
    row goes too: it holds nothing now, and kept until its lease ran out it showed a
    worker that had stopped as live (a missing row means what an expired one does).
    """

    def write(execute: Execute) -> int:
        cur = execute(
            f"UPDATE jobs SET lease_expires = NULL WHERE id IN ({store._live_roots})",
            (owner,),
        )
        released = int(cur.rowcount)
        execute("DELETE FROM workers WHERE owner = ?", (owner,))
        return released

    return store._write(write, f"release the leases of {owner!r}")
