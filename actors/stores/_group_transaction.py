"""One group commit's transaction: each slice of the group judged on its own, then written.

Every row the group writes, and every parent it counts an arrival at, is read first in
the transaction (and locked, in PostgreSQL), so the fence is checked once per row instead
of in every statement. A slice with a row another worker's stamp is on
(``LeaseLostError``), an arrival at a parent that is missing or unreadable, or an
admission (a slice not fenced) of an id already held (``JobExistsError``), is left out
alone and the others are stored. Rows are then written together, each job once as last
saved, with a history row per save; the arrivals at a parent are counted in memory and
stored in one update per parent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from actors._errors import CodecError, JobExistsError, JobNotFoundError, LeaseLostError
from actors.stores._codec import Codec
from actors.stores._group import Slice
from actors.stores._joins import ADD_ARRIVAL, PUT_COUNT, JoinCount, stored_counts
from actors.stores._statements import (
    COLUMNS,
    JOIN_COLUMNS_AT,
    JOIN_STEP_AT,
    STAMP_AT,
    Execute,
    ExecuteMany,
    SaveRow,
    padded,
)

__all__ = ["GroupStore", "GroupTransaction", "join_reads"]

ARRIVALS_AT, GEN_AT = COLUMNS.index("arrivals"), COLUMNS.index("gen")


class GroupStore(Protocol):
    """What a group transaction uses of its store (a ``SqlStore``, or a writer process's)."""

    codec: Codec
    owner: str | None

    def _group_rows(self, execute: Execute, ids: list[str]) -> dict[str, Sequence[Any]]: ...

    def _put_group(
        self,
        execute: Execute,
        executemany: ExecuteMany,
        rows: list[SaveRow],
        stored: dict[str, Sequence[Any]],
    ) -> None: ...

    def _join_reads(
        self, execute: Execute, parents: list[str], keys: list[tuple[str, int, int]]
    ) -> tuple[dict[tuple[str, int], int], set[tuple[str, int, int]]]:
        """``join_reads``, or the same read in the store's own dialect."""


class GroupTransaction:
    """Judges and writes one group of slices; ``write`` runs inside the write transaction.

    After ``write``, ``results`` holds per slice ``None`` (stored) or why it was left out.
    """

    def __init__(self, store: GroupStore, slices: list[Slice]) -> None:
        self.store = store
        self.slices = slices
        self.results: list[BaseException | None] = [None] * len(slices)

    def write(self, execute: Execute, executemany: ExecuteMany) -> list[Any]:
        """Write the group's admissible slices; return the rows written."""
        store, slices, codec = self.store, self.slices, self.store.codec
        self.results = [None] * len(slices)  # a retried transaction starts over
        ids = {job.id for part in slices for _, _, job in part.rows}
        parents = {arrival.parent_id for part in slices for arrival in part.arrivals}
        ids.update(parents)
        stored = store._group_rows(execute, sorted(ids))
        foreign = _foreign(stored, store.owner)
        # What join_arrivals and join_counts hold of this group's arrivals, read once:
        # the group's own keys only, so a wide split costs no more per group than a
        # narrow one.
        keys = {(a.parent_id, a.gen, a.branch_index) for part in slices for a in part.arrivals}
        counts, present = store._join_reads(execute, sorted(parents), sorted(keys))
        # The rows as the slices before the current one left them: a slice is judged,
        # and its arrivals counted, as if the earlier ones had been stored on their own.
        # Only the rows of parents that arrivals count at matter for that.
        saved: dict[str, Sequence[Any]] = {}
        joins: dict[str, JoinCount] = {}
        left: list[JoinCount] = []  # counts whose parent row a later save replaced
        added: list[tuple[Any, ...]] = []
        rows: list[Any] = []
        created: set[str] = set()  # ids the group's admissions so far create
        for k, part in enumerate(slices):
            try:
                self._admit(part, stored, foreign, saved, joins, counts, created)
            except (LeaseLostError, JobNotFoundError, CodecError, JobExistsError) as exc:
                self.results[k] = exc
                continue
            for a in part.arrivals:
                join = joins[a.parent_id]
                key = (a.parent_id, a.gen, a.branch_index)
                before = join.n
                join.arrive(
                    codec, a.gen, a.branch_index, a.join_step, a.needed, new=key not in present
                )
                if join.n > before:
                    present.add(key)
                    added.append((*key, a.data))
                    counts[a.parent_id, join.gen] = join.arrived
            for params, _, job in part.rows:
                if job.id in parents:
                    # A saved row replaces the parent's columns, not the arrivals
                    # recorded at it: those are rows of their own.
                    replaced = joins.pop(job.id, None)
                    if params[ARRIVALS_AT] is not None:
                        _forget(job.id, params[GEN_AT], added, present, counts)
                    elif replaced is not None and replaced.changed:
                        left.append(replaced)
                    before_row = saved.get(job.id) or stored.get(job.id)
                    stamp = before_row[1] if before_row is not None else params[STAMP_AT]
                    saved[job.id] = (
                        job.id,
                        stamp,
                        *(params[i] for i in JOIN_COLUMNS_AT),
                        None,
                        None,
                        None,
                        params[JOIN_STEP_AT],
                    )
            rows.extend(part.rows)
        store._put_group(execute, executemany, rows, stored)
        if added:
            executemany(ADD_ARRIVAL, added)
        # One executemany per statement shape: pipelined on PostgreSQL, where one
        # round trip per parent would otherwise add up in a group of hundreds.
        touched = {(join.id, join.gen) for join in [*left, *joins.values()] if join.changed}
        if touched:
            executemany(PUT_COUNT, [(pid, gen, counts[pid, gen]) for pid, gen in sorted(touched)])
        updates: dict[str, list[tuple[Any, ...]]] = {}
        for join in joins.values():
            update = join.update(codec) if join.changed else None
            if update is not None:
                updates.setdefault(update[0], []).append(update[1])
        for sql, many in updates.items():
            executemany(sql, many)
        return rows

    def _admit(
        self,
        part: Slice,
        stored: Mapping[str, Sequence[Any]],
        foreign: Mapping[str, Sequence[Any]],
        saved: Mapping[str, Sequence[Any]],
        joins: dict[str, JoinCount],
        counts: Mapping[tuple[str, int], int],
        created: set[str],
    ) -> None:
        """Raise why ``part`` cannot be stored; else make ready the joins its arrivals count at.

        ``stored``: the rows as the transaction read them (their stamps do not change
        within it), and ``foreign`` those of them another worker's stamp is on;
        ``saved``: parents' rows as earlier slices of the group saved them; ``created``:
        ids the group's earlier admissions create.
        """
        if not part.fence:  # an admission: its ids must be free
            _free(part, stored, created)
        elif foreign:
            owner = self.store.owner
            for _, _, job in part.rows:
                row = foreign.get(job.id)
                if row is not None:
                    raise LeaseLostError(job.id, row[2], row[1], owner)
            for arrival in part.arrivals:
                row = foreign.get(arrival.parent_id)
                if row is not None:
                    raise LeaseLostError(arrival.parent_id, row[2], row[1], owner)
        if not part.arrivals:
            return
        fresh: dict[str, JoinCount] = {}
        for arrival in part.arrivals:
            pid = arrival.parent_id
            join = joins.get(pid) or fresh.get(pid)
            if join is None:
                row = saved.get(pid) or stored.get(pid)
                if row is None:
                    msg = f"no job {pid!r} to record branch {arrival.branch_index}'s arrival at"
                    raise JobNotFoundError(msg)
                join = fresh[pid] = JoinCount(
                    pid, (*row[3:8], row[11]), counts.get((pid, row[3]), 0)
                )
            if join.counts(arrival.gen):
                join.check(self.store.codec)  # readable, or CodecError before anything counts
        joins.update(fresh)


def _foreign(stored: Mapping[str, Sequence[Any]], owner: str | None) -> dict[str, Sequence[Any]]:
    """The rows another worker's stamp is on (none, nearly always), found once per group.

    A fenced slice that writes one, or counts an arrival at one, is left out.
    """
    if owner is None:
        return {}
    return {job_id: row for job_id, row in stored.items() if row[1] not in (None, owner)}


def _free(part: Slice, stored: Mapping[str, Sequence[Any]], created: set[str]) -> None:
    """Raise ``JobExistsError`` if an admission's id is held (stored, or created earlier)."""
    ids = [job.id for _, _, job in part.rows]
    for job_id in ids:
        if job_id in stored or job_id in created:
            raise JobExistsError(f"a job with id {job_id!r} already exists")
    created.update(ids)


def join_reads(
    execute: Execute, parents: list[str], keys: list[tuple[str, int, int]]
) -> tuple[dict[tuple[str, int], int], set[tuple[str, int, int]]]:
    """What a group reads of its joins: the counts at ``parents``, the ``keys`` present.

    The arrivals counted so far at each split of ``parents``, by (parent, split); and
    which of ``keys`` (parent, split, branch) ``join_arrivals`` holds already.
    """
    return _counts(execute, parents), _present(execute, keys)


def _counts(execute: Execute, parents: list[str]) -> dict[tuple[str, int], int]:
    out: dict[tuple[str, int], int] = {}
    for i in range(0, len(parents), 500):
        chunk, size = padded(parents[i : i + 500])
        marks = ", ".join(["?"] * size)
        sql = f"SELECT parent_id, gen, arrived FROM join_counts WHERE parent_id IN ({marks})"
        out.update(stored_counts(execute, execute(sql, chunk).fetchall()))
    return out


def _present(execute: Execute, keys: list[tuple[str, int, int]]) -> set[tuple[str, int, int]]:
    out: set[tuple[str, int, int]] = set()
    for i in range(0, len(keys), 256):  # 3 parameters each: 768, under SQLite's 999
        chunk, size = padded(keys[i : i + 256])
        values = ", ".join(["(?, ?, ?)"] * size)
        # A join on the keys, not "(parent_id, gen, branch_index) IN (VALUES ...)":
        # SQLite scans the whole table for that row-value IN, so every group would read
        # every arrival ever stored; joined, each key is one primary-key search.
        sql = (
            f"WITH k(p, g, b) AS (VALUES {values}) "
            "SELECT a.parent_id, a.gen, a.branch_index FROM k JOIN join_arrivals AS a "
            "ON a.parent_id = k.p AND a.gen = k.g AND a.branch_index = k.b"
        )
        params = [v for key in chunk for v in key]
        out.update((pid, int(gen), int(b)) for pid, gen, b in execute(sql, params).fetchall())
    return out


def _forget(
    pid: str,
    gen: int,
    added: list[tuple[Any, ...]],
    present: set[tuple[str, int, int]],
    counts: dict[tuple[str, int], int],
) -> None:
    """A saved arrivals map replaces what was recorded at split ``gen`` of ``pid`` before.

    The rows stored before the group are cleared by the trigger of migration 5; those
    this group counted so far are dropped here.
    """
    added[:] = [x for x in added if x[:2] != (pid, gen)]
    for key in [x for x in present if x[:2] == (pid, gen)]:
        present.discard(key)
    counts[pid, gen] = 0
