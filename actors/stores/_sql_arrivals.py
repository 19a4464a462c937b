"""The SQL store's join arrivals: a branch reaching its join, counted in one transaction.

A function of a ``SqlStore`` (its ``record_arrival`` method).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors._errors import JobNotFoundError, LeaseLostError
from actors.stores._group import Arrival, Slice
from actors.stores._joins import ADD_ARRIVAL, COUNT_OF, PUT_COUNT, JoinCount, stored_counts
from actors.stores._statements import CANCELLED_VALUE, FAULTED_VALUE, SELECT_LIST, Execute

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actors._job import JobRecord
    from actors.stores._sql import SqlStore


def record_arrival(
    store: SqlStore,
    parent_id: str,
    gen: int,
    branch_index: int,
    data: Any,
    *,
    join_step: str | None = None,
    needed: int | None = None,
) -> tuple[int, int] | None:
    """Record that branch ``branch_index`` of split ``gen`` of ``parent_id`` reached its join.

    Returns ``(arrived, total)`` as counted in the same transaction, so exactly one
    call per split sees ``arrived == total`` however many workers record at once.
    ``arrived == 0`` means the call counted nothing: the branch had already been
    recorded (a retry), the split is not the parent's current one (``gen``), or the
    parent has already joined. With ``join_step``, the call that completes the split
    also makes the parent READY at ``join_step`` with the join event, so the join is
    durable the moment it fires. Raises ``JobNotFoundError`` for an unknown parent.
    Inside a runner's slice with ``commit="group"`` the arrival is stored with the
    slice, by the writer thread, and the call returns ``None``.
    """
    encoded = store.codec.encode(data, f"data of branch {branch_index} of job {parent_id}")
    part: Slice | None = getattr(store._slice, "part", None)
    if part is not None:  # stored with the slice, by the writer thread
        part.arrivals.append(Arrival(parent_id, gen, branch_index, encoded, join_step, needed))
        return None
    select = (
        "SELECT gen, split_total, joined, arrivals, state, join_step, case_id, lease_owner "
        "FROM jobs WHERE id = ?" + store._for_update
    )
    owner = store.owner

    pending = store._take_pending()  # the slice's saves commit with the arrival

    def write(execute: Execute) -> tuple[int, int]:
        # The parent row first, locked (FOR UPDATE in PostgreSQL) for the count and
        # fenced by its own stamp; then the branch's grouped saves (its slice: never
        # the parent), fenced by theirs. A parent is locked before its branches, the
        # order in which a claim locks a case's rows, so the two never deadlock.
        row = execute(select, (parent_id,)).fetchone()
        if owner is not None and row is not None and row[7] not in (None, owner):
            raise LeaseLostError(parent_id, row[6], row[7], owner)
        store._put_rows(execute, pending, fence=owner is not None)
        if row is None:
            msg = f"no job {parent_id!r} to record branch {branch_index}'s arrival at"
            raise JobNotFoundError(msg)
        count = execute(COUNT_OF, (parent_id, row[0])).fetchone()
        arrived = stored_counts(execute, [(parent_id, row[0], count[0])] if count else [])
        join = JoinCount(parent_id, row, arrived.get((parent_id, row[0]), 0))
        if not join.counts(gen):
            return 0, join.total
        join.check(store.codec)  # readable, or CodecError before anything is written
        new = execute(ADD_ARRIVAL, (parent_id, gen, branch_index, encoded)).rowcount == 1
        counted = join.arrive(store.codec, gen, branch_index, join_step, needed, new=new)
        if join.changed:
            execute(PUT_COUNT, join.count_params())
            update = join.update(store.codec)
            if update is not None:
                execute(*update)
        return counted

    return store._write(write, f"record an arrival at job {parent_id}")


def arrived_branches(store: SqlStore, parents: Sequence[JobRecord]) -> dict[str, frozenset[int]]:
    """The arrivals ``join_arrivals`` holds for each parent's split, and its record's.

    For an operator's view (see ``Store.arrived_branches``): until its join fires, a
    parent's arrivals are rows of their own, not in the parent's record.
    """
    out = {parent.id: set(parent.arrivals) for parent in parents}  # saved in its row
    gens = {parent.id: parent.gen for parent in parents}
    for among, params in store._id_lists(list(out)):
        rows = store._read(
            f"SELECT parent_id, gen, branch_index FROM join_arrivals WHERE parent_id {among}",
            params,
            "read the arrivals of splits",
        )
        for parent_id, gen, index in rows:
            if gens.get(parent_id) == gen:  # an earlier pass of a loop: not this split
                out[parent_id].add(int(index))
    return {parent_id: frozenset(found) for parent_id, found in out.items()}


def ended_branches(store: SqlStore, parent: JobRecord) -> list[JobRecord]:
    """``Store.ended_branches``: the case's rows of those branches, found by their state."""
    rows = store._read(
        f"SELECT {SELECT_LIST} FROM jobs WHERE case_id = ? AND parent_id = ? AND state IN (?, ?)",
        (parent.case_id, parent.id, FAULTED_VALUE, CANCELLED_VALUE),
        f"read the ended branches of {parent.id}",
    )
    ended = [record for record in store._records(rows) if record.parent_gen == parent.gen]
    return sorted(ended, key=lambda record: record.branch_index or 0)
