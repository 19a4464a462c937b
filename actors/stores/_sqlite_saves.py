"""How a SQLite store writes saves: statements that rewrite an index only when it changes.

``SqliteStore`` runs them on its own connections; the writer process
(``actors.stores._sqlite_process``) runs ``put_group`` on its connection.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from actors._errors import JobExistsError
from actors.stores._statements import (
    COLUMNS,
    FENCE,
    GROUP_READ,
    HISTORY,
    INSERT_NEW,
    UPSERT,
    UPSERT_FENCED,
    Execute,
    ExecuteMany,
    SaveRow,
    group_rows,
    latest,
)

if TYPE_CHECKING:
    from actors.stores._sql import SqlStore

__all__ = [
    "GROUP_READ_SQLITE",
    "INSERT",
    "SAVE_INDEXED",
    "SAVE_INDEXED_FENCED",
    "SAVE_PLAIN",
    "SAVE_PLAIN_FENCED",
    "group_read",
    "put_group",
    "put_rows",
    "split_save",
]

# SQLite rewrites an index entry whenever an UPDATE sets an indexed column, changed or
# not, and each rewritten index page is another page in the WAL at commit. A step's save
# rarely changes the indexed columns, so it sets the others in one statement and the
# indexed ones (state, due, finished_at, the lease's expiry) in a second that matches no
# row when none of them changed. That halves the cost of a save. parent_id never changes
# after a job is created, so a save leaves it alone. A fenced save adds the fence (no
# other worker's stamp on the row) to both: the first then matches no row when fenced.
_INDEXED = ("id", "state", "parent_id", "due")
# Set when a job is created and never changed by a save, and indexed (jobs_case): an
# UPDATE that set them would rewrite their index entries on every save for nothing.
_FIXED = ("case_id",)
_PLAIN_AT = tuple(i for i, c in enumerate(COLUMNS) if c not in _INDEXED + _FIXED)
_STATE_AT, _DUE_AT, _FINISHED_AT = COLUMNS.index("state"), COLUMNS.index("due"), len(COLUMNS) + 2
_plain_of = operator.itemgetter(*_PLAIN_AT)
# A cancel's mark stays on the unfinished job whatever a save holds (as UPSERT keeps it):
# the mark's column is set last, from the save's value and its finished time.
_MARK_AT = COLUMNS.index("cancel_requested")
_UNMARKED_AT = tuple(i for i in _PLAIN_AT if i != _MARK_AT)
_unmarked_of = operator.itemgetter(*_UNMARKED_AT)
SAVE_PLAIN = (
    f"UPDATE jobs SET {', '.join(f'{COLUMNS[i]} = ?' for i in _UNMARKED_AT)}, updated_at = ?, "
    "cancel_requested = ? OR (? IS NULL AND cancel_requested) WHERE id = ?"
)
SAVE_PLAIN_FENCED = f"{SAVE_PLAIN} AND ({FENCE})"
SAVE_INDEXED = """
UPDATE jobs SET state = ?1, due = ?2,
    finished_at = CASE WHEN ?3 IS NULL THEN NULL ELSE COALESCE(finished_at, ?3) END,
    lease_expires = CASE WHEN ?3 IS NULL THEN lease_expires END
WHERE id = ?4 AND (state IS NOT ?1 OR due IS NOT ?2 OR (finished_at IS NULL) != (?3 IS NULL)
                   OR (?3 IS NOT NULL AND lease_expires IS NOT NULL))
"""
SAVE_INDEXED_FENCED = f"{SAVE_INDEXED} AND (jobs.lease_owner IS NULL OR jobs.lease_owner = ?5)"
# A group's transaction has read every row it writes (GROUP_READ_SQLITE), so each row is
# updated by a statement that sets only what may have changed: the columns a step changes
# (_HOT), the others (_COLD) only when one of them differs from the row read, and each
# indexed column only when it changes (an index entry costs most to rewrite). A row with
# an arrivals map always sets its columns: that fires the trigger that clears what was
# recorded for its split (migration 5), as every save of such a row does. Rows sharing a
# statement go in one executemany.
_HOT = ("step", "data", "attempt", "error", "event")
_COLD = tuple(COLUMNS[i] for i in _PLAIN_AT if COLUMNS[i] not in _HOT)
_READ = tuple(c.strip() for c in GROUP_READ.split(","))
GROUP_READ_SQLITE = ", ".join((*_READ, *(c for c in _COLD if c not in _READ)))
_READ_AT = {c: i for i, c in enumerate(GROUP_READ_SQLITE.split(", "))}
_READ_STATE, _READ_DUE, _READ_FINISHED, _READ_EXPIRES, _READ_MARK = (
    _READ_AT[c] for c in ("state", "due", "finished_at", "lease_expires", "cancel_requested")
)
_cold_of = operator.itemgetter(*(COLUMNS.index(c) for c in _COLD))
_cold_read = operator.itemgetter(*(_READ_AT[c] for c in _COLD))
_hot_of = operator.itemgetter(*(COLUMNS.index(c) for c in _HOT))
_ARRIVALS_AT, _UPDATED_AT = COLUMNS.index("arrivals"), len(COLUMNS) + 1
# The indexed columns an update may set, by bit: each only when it changed. A finished
# time is set when the row finishes or is reopened (a finished row keeps its first one),
# and a finishing row's lease expiry is cleared.
_STATE, _DUE, _FINISHED, _EXPIRES = 1, 2, 4, 8
_SETS = ((_STATE, "state = ?"), (_DUE, "due = ?"), (_FINISHED, "finished_at = ?"))
_updates: dict[tuple[bool, int], str] = {}
# A new row (a split's branch): the transaction read that no row holds its id.
INSERT = UPSERT[: UPSERT.index("ON CONFLICT")]


def _update(cold: bool, mask: int) -> str:
    """The UPDATE that sets the hot columns (and the cold ones), and the indexed in ``mask``."""
    sql = _updates.get((cold, mask))
    if sql is None:
        names = [COLUMNS[i] for i in _PLAIN_AT] if cold else list(_HOT)
        sets = [f"{c} = ?" for c in names] + ["updated_at = ?"]
        sets += [text for bit, text in _SETS if mask & bit]
        if mask & _EXPIRES:
            sets.append("lease_expires = NULL")
        sql = _updates[cold, mask] = f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?"
    return sql


def group_read(execute: Execute, ids: Sequence[str]) -> dict[str, Sequence[Any]]:
    """The ``GROUP_READ_SQLITE`` columns of the rows ``ids`` (those that exist), by id."""
    return group_rows(execute, ids, columns=GROUP_READ_SQLITE)


def put_group(
    executemany: ExecuteMany, rows: Sequence[SaveRow], stored: Mapping[str, Sequence[Any]]
) -> None:
    """Write a group's rows; ``stored``: the rows as its transaction read them (``group_read``).

    Existing rows get what changed (see _update); new rows (a split's branches) are
    inserted.
    """
    last, history = latest(rows)
    shapes: dict[tuple[bool, int], list[list[Any]]] = {}
    new = []
    for saved in last:
        params = saved
        before = stored.get(params[0])
        if before is None:
            new.append(params)
            continue
        if params[_FINISHED_AT] is None and before[_READ_MARK] and not params[_MARK_AT]:
            # marked cancelled since its runner looked (read under the group's lock)
            params = (*params[:_MARK_AT], True, *params[_MARK_AT + 1 :])
        cold = params[_ARRIVALS_AT] is not None or _cold_of(params) != _cold_read(before)
        values = [*(_plain_of(params) if cold else _hot_of(params)), params[_UPDATED_AT]]
        mask = 0
        if before[_READ_STATE] != params[_STATE_AT]:
            mask = _STATE
            values.append(params[_STATE_AT])
        if before[_READ_DUE] != params[_DUE_AT]:
            mask |= _DUE
            values.append(params[_DUE_AT])
        finished = params[_FINISHED_AT]
        if (before[_READ_FINISHED] is None) != (finished is None):
            mask |= _FINISHED
            values.append(finished)
        if finished is not None and before[_READ_EXPIRES] is not None:
            mask |= _EXPIRES
        values.append(params[0])
        shapes.setdefault((cold, mask), []).append(values)
    for (cold, mask), many in shapes.items():
        executemany(_update(cold, mask), many)
    if new:
        executemany(INSERT, new)
    if history:
        executemany(HISTORY, history)


def split_save(params: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """A save's parameters for SAVE_PLAIN and for SAVE_INDEXED."""
    job_id = params[0]
    # updated_at = the save's time
    plain = (*_unmarked_of(params), params[-5], params[_MARK_AT], params[_FINISHED_AT], job_id)
    return plain, (params[_STATE_AT], params[_DUE_AT], params[_FINISHED_AT], job_id)


def put_rows(
    store: SqlStore,
    execute: Execute,
    rows: list[SaveRow],
    *,
    fence: bool = False,
    new: bool = False,
) -> None:
    """``SqlStore._put_rows`` on SQLite: write ``rows`` inside the caller's transaction."""
    # The unindexed columns first; the indexed ones only when they changed (the
    # statement matches no row otherwise), since rewriting an index costs most.
    # Rows of jobs just admitted (``new``) are inserted, or refused if the id is taken.
    # Fenced, a first update that matches nothing is either a job saved before it
    # was created or a row another worker's stamp protects: the fenced upsert that
    # follows inserts the one and changes nothing of the other.
    last = {job.id: (params, job) for params, _, job in rows}
    owner = store.owner
    for params, job in last.values():
        plain, indexed = split_save(params)
        if new:
            if execute(INSERT_NEW, params).rowcount == 0:  # rolled back with the rest
                raise JobExistsError(f"a job with id {job.id!r} already exists in {store.url}")
        elif not fence:
            if execute(SAVE_PLAIN, plain).rowcount == 0:
                execute(UPSERT, params)  # a job saved before it was created
            else:
                execute(SAVE_INDEXED, indexed)
        elif execute(SAVE_PLAIN_FENCED, (*plain, owner)).rowcount == 0:
            if execute(UPSERT_FENCED, (*params, owner)).rowcount == 0:
                raise store._lost(execute, job)
        else:
            execute(SAVE_INDEXED_FENCED, (*indexed, owner))
    for _, history, _ in rows:
        if history is not None:
            execute(HISTORY, history)
