"""Two live processes under one worker name: found at a lease renewal, and said loudly.

A worker's lease is one row in ``workers``, keyed by its name. A name used twice (a
copied service unit, a frozen process restarted beside itself) makes two processes
renew that one row and run the same cases, and nothing fences one from the other: both
run steps of a case, and an event or an operator's request that either takes is carried
out by one that may not hold the case in memory (the case then waits for good). Each
store remembers the expiry it last wrote to its workers' rows; a renewal that finds
another value there was preceded by another writer of the row, which is another process
renewing under the same name. The renewal logs an ERROR naming the name, once.

A value *earlier* than the one last written is what a restore under the running worker
leaves (the database put back to a copy taken before): then the cases the copy leases
to this name are held for it, renewed by it, and never run, since the worker takes the
cases leased to its name only at its start. That ERROR says so, and to restart it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from actors.stores._statements import HELD

if TYPE_CHECKING:
    from actors.stores._sql import SqlStore
    from actors.stores._statements import Execute

__all__ = ["EXPIRES_OF", "lease_write", "renewed", "written"]

T = TypeVar("T")

EXPIRES_OF = "SELECT expires FROM workers WHERE owner = ?"

logger = logging.getLogger("actors.stores")


def written(store: SqlStore, execute: Execute, owner: str) -> None:
    """This store extended ``owner``'s lease (a claim): remember what the row holds now."""
    row = execute(EXPIRES_OF, (owner,)).fetchone()
    if row is not None:
        store._leases_written[owner] = float(row[0])


def lease_write(store: SqlStore, owner: str, fn: Callable[[Execute], T], what: str) -> T:
    """``store._write(fn, what)``, a transaction that writes ``owner``'s lease.

    One that failed may have committed or not (a connection lost at its commit), so
    what the row holds is unknown: the next renewal compares nothing, rather than take
    this process's own write for another's.
    """
    try:
        return store._write(fn, what)
    except BaseException:
        store._leases_written.pop(owner, None)
        raise


def renewed(store: SqlStore, owner: str, found: Any, expiry: float) -> None:
    """A renewal found ``found`` (a row, or ``None``) in ``owner``'s row and wrote ``expiry``."""
    before = store._leases_written.get(owner)
    store._leases_written[owner] = expiry
    if before is None or found is None or type(found[0]) not in (int, float):
        # Text there ('x') is a row edited by hand, never a renewal's: float() of it
        # raised here, which stopped the worker. This renewal wrote a number over it.
        return
    if not found[0] <= HELD:  # NaN, or past any lease a worker writes: edited by hand too
        return
    if abs(found[0] - before) < 1e-6:
        return
    if owner in store._twins_told:
        return
    store._twins_told.add(owner)
    if found[0] < before:
        logger.error(
            "the lease of worker %r on %s is earlier than this process last wrote it: the "
            "database was put back to an earlier copy (a restore) while this worker ran, or "
            "another process renews under that name with a shorter lease. After a restore, "
            "restart this worker: the cases the copy leases to it run only once it takes "
            "them back at its start. Two processes under one name: stop both, and start "
            "each under a name of its own (--name, owner=)",
            owner,
            store.url,
        )
        return
    logger.error(
        "another process renews the lease of worker %r on %s as well: two live workers run "
        "under that name, both run its cases and nothing fences one from the other, so "
        "steps run twice and an event or an operator's action may reach the one that does "
        "not run the case; stop both, and start each under a name of its own (--name, "
        "owner=): the cases are then taken up afresh",
        owner,
        store.url,
    )
