"""The SQL store's claims and leases: which worker holds which case, and for how long.

Functions of a ``SqlStore`` (its methods of the same names): a case is claimed by leasing
its root row and stamping every row of the case with the worker, renewed by heartbeats,
and given up on release.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from actors._errors import JobNotFoundError, LeaseLostError
from actors._job import JobRecord
from actors.stores._admin_types import taken_over, was_worker
from actors.stores._statements import (
    COLUMNS,
    FINAL_VALUES,
    SELECT_LIST,
    STAMP_OF,
    UNFINISHED_ROOT,
    Execute,
    in_lists,
)

if TYPE_CHECKING:
    from actors.stores._sql import SqlStore

# A root whose lease a worker (the one parameter) holds: the lease index (jobs_lease) finds them.
_LIVE_ROOT = "lease_owner = ? AND parent_id IS NULL AND lease_expires IS NOT NULL"


def live_roots(store: SqlStore) -> str:
    """The roots whose lease a worker (the one parameter) holds, locked in order.

    Insertion order is the order in which claims and a group commit lock rows, so a
    heartbeat or a release never deadlocks with them (PostgreSQL; SQLite locks the
    whole file).
    """
    return f"SELECT id FROM jobs WHERE {_LIVE_ROOT} ORDER BY {store._order}{store._for_update}"


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
    and its lease has no expiry (never taken, or released) or has expired. A row
    that cannot be read comes back FAULTED (and is saved so). With ``workflows``
    only cases of those ``(name, version)`` pairs are taken (none if it is empty).
    """
    served = None if workflows is None else sorted(set(workflows))
    if limit <= 0 or served == []:
        return []
    one = " AND id = ?" if case_id is not None else ""
    if served is not None:
        one += " AND (" + " OR ".join("(workflow = ? AND version = ?)" for _ in served) + ")"
    # The final states as literals, so the unfinished roots' index serves it (migration 6).
    # One case is found by its id: through that index, a claim of one case (an event or
    # an operator's retry for a case this worker does not hold) read every unfinished
    # root, the held ones too, in a write transaction.
    source = "jobs" if case_id is not None else store._claim_from
    pick = (
        f"SELECT id, lease_owner, lease_expires FROM {source} WHERE {UNFINISHED_ROOT} "
        f"AND (lease_expires IS NULL OR lease_expires < ?){one} "
        f"ORDER BY {store._order} LIMIT ?{store._skip_locked}"
    )
    state_at, step_at, attempt_at = (COLUMNS.index(c) for c in ("state", "step", "attempt"))

    # The cases whose holder stopped holding them without a release (it died or froze):
    # their jobs are marked taken_over, and each counts a try before it runs.
    stopped: set[str] = set()
    solo: set[str] = set()  # jobs to run alone (JobRecord.solo)

    def write(execute: Execute) -> list[Any]:
        stopped.clear()  # a retried transaction starts again
        solo.clear()
        for setting in store._claim_settings:
            execute(setting, ())
        if reclaim:
            # Every case the owner still holds is made free first, in this
            # transaction: it takes back what fits in ``limit``, oldest first, and
            # the rest are free for the next claim, its own or another worker's.
            # Kept, they would be renewed by its heartbeats and never run. They were
            # held by the owner's previous process, which stopped without a release.
            stopped.update(
                row[0] for row in execute(f"SELECT id FROM jobs WHERE {_LIVE_ROOT}", (owner,))
            )
            execute(
                f"UPDATE jobs SET lease_expires = NULL WHERE id IN ({store._live_roots})",
                (owner,),
            )
        params: tuple[Any, ...] = (now,)
        if case_id is not None:
            params += (case_id,)
        for name, version in served or ():
            params += (name, version)
        picked = execute(pick, (*params, limit)).fetchall()
        roots = [row[0] for row in picked]
        stopped.intersection_update(roots)
        stopped.update(root for root, _, expires in picked if expires is not None)
        # Whose the cases were: a case taken from another worker gets a history row.
        previous = {
            root: (holder, expires is not None)
            for root, holder, expires in picked
            if was_worker(holder, owner)
        }
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
            solo.update(row[0] for row in found if row[-3] > 0 and row[-2] == row[-1])
            found = [row[:-3] for row in found]
            execute(
                "UPDATE jobs SET lease_owner = ?, lease_expires = CASE WHEN id = case_id "
                f"THEN ? ELSE lease_expires END WHERE {of_cases}",
                (owner, now + lease_seconds, *args),
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

    records = store._records(store._write(write, f"claim cases for {owner!r}"))
    if stopped:
        for job in records:
            job.taken_over = job.case_id in stopped
            job.solo = job.taken_over and job.id in solo
    return records


# A try of a job counts on from the last one while the job's row is the one that try saw.
_COUNT_TRY = (
    "UPDATE jobs SET tries = CASE WHEN tried_at = updated_at THEN tries + 1 ELSE 1 END, "
    "tried_at = updated_at WHERE id = ? AND (lease_owner IS NULL OR lease_owner = ?)"
)


def count_try(store: SqlStore, job: JobRecord) -> int:
    """Count a try of ``job`` (taken over) at its saved point; how many in a row (see Store)."""
    owner = store.owner

    def write(execute: Execute) -> int:
        if execute(_COUNT_TRY, (job.id, owner)).rowcount == 0:
            row = execute(STAMP_OF, (job.id,)).fetchone()
            if row is None:
                msg = f"no job {job.id!r} in {store.url} (deleted while it was taken over)"
                raise JobNotFoundError(msg)
            raise LeaseLostError(job.id, row[0], row[1], owner)
        return int(execute("SELECT tries FROM jobs WHERE id = ?", (job.id,)).fetchone()[0])

    return store._write(write, f"count a try of job {job.id!r}")


def unclaimed(store: SqlStore, now: float) -> dict[tuple[str, int], int]:
    """Unfinished cases no live worker holds, by ``(workflow, version)``."""
    marks = ", ".join("?" for _ in FINAL_VALUES)
    rows = store._read(
        "SELECT workflow, version, COUNT(*) FROM jobs WHERE parent_id IS NULL "
        f"AND state NOT IN ({marks}) AND (lease_expires IS NULL OR lease_expires < ?) "
        "GROUP BY workflow, version",
        (*FINAL_VALUES, now),
        "count unclaimed cases",
    )
    return {(str(name), int(version)): int(n) for name, version, n in rows}


def heartbeat(store: SqlStore, owner: str, now: float, lease_seconds: float) -> int:
    """Extend to ``now + lease_seconds`` the lease of every case ``owner`` holds.

    Returns how many cases (roots) were renewed. Only a root's lease expires; an
    ended or released case has no expiry left to renew.
    """
    expiry = now + lease_seconds
    what = f"heartbeat of {owner!r}"
    if not store._skip_locked:  # SQLite: one transaction on the whole file
        # No lock order to keep: the roots are renewed as the owner's index finds them,
        # not collected by id first and each looked up again (0.8 of the time).
        direct = f"UPDATE jobs SET lease_expires = ? WHERE {_LIVE_ROOT}"
        return store._write(lambda execute: int(execute(direct, (expiry, owner)).rowcount), what)
    renew = f"UPDATE jobs SET lease_expires = ? WHERE id IN ({store._live_roots})"
    # PostgreSQL: the worker's own group commits lock its roots as they save them. A
    # renewal that waited on each in turn (in order) would wait on one group after
    # another, and hold up the later groups meanwhile. So first renew every root no
    # transaction holds, without waiting; then the few left, waiting (in order) for
    # the groups that hold them. Every live root is renewed to ``expiry`` either way.
    free = renew.replace(store._for_update, store._skip_locked)
    first = store._write(lambda execute: int(execute(free, (expiry, owner)).rowcount), what)
    rest = renew.replace(" ORDER BY", " AND lease_expires <> ? ORDER BY")
    return first + store._write(
        lambda execute: int(execute(rest, (expiry, owner, expiry)).rowcount), what
    )


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
    worker that held a case before ``owner`` stays fenced out of it.
    """

    def write(execute: Execute) -> int:
        cur = execute(
            f"UPDATE jobs SET lease_expires = NULL WHERE id IN ({store._live_roots})",
            (owner,),
        )
        return int(cur.rowcount)

    return store._write(write, f"release the leases of {owner!r}")
