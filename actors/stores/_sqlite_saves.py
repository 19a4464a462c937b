"""How a SQLite store writes saves: statements that rewrite an index only when it changes.

``SqliteStore`` runs them on its own connections; the writer process
(``actors.stores._sqlite_process``) runs ``put_group`` on its connection.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

from actors.stores._statements import (
    COLUMNS,
    FENCE,
    HISTORY,
    UPSERT,
    ExecuteMany,
    SaveRow,
    latest,
)

__all__ = [
    "SAVE_INDEXED",
    "SAVE_INDEXED_FENCED",
    "SAVE_PLAIN",
    "SAVE_PLAIN_FENCED",
    "put_group",
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
# Set when a job is created and never changed by a save, so a save need not set them:
# case_id is indexed (jobs_case), and setting it would rewrite its index entry; workflow
# is in no index, and setting it would only write the same text again.
_FIXED = ("case_id", "workflow")
_PLAIN_AT = tuple(i for i, c in enumerate(COLUMNS) if c not in _INDEXED + _FIXED)
_STATE_AT, _DUE_AT, _FINISHED_AT = COLUMNS.index("state"), COLUMNS.index("due"), len(COLUMNS) + 2
_plain_of = operator.itemgetter(*_PLAIN_AT)
SAVE_PLAIN = (
    f"UPDATE jobs SET {', '.join(f'{COLUMNS[i]} = ?' for i in _PLAIN_AT)}, updated_at = ? "
    "WHERE id = ?"
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
# A group's transaction has read every row it writes (GROUP_READ), so it knows which saves
# change an indexed column: those set all columns in one statement, the others only the
# unindexed ones. The finished time is given three times, for the three CASEs.
_SAVE_ALL = (
    f"UPDATE jobs SET {', '.join(f'{COLUMNS[i]} = ?' for i in _PLAIN_AT)}, updated_at = ?, "
    "state = ?, due = ?, "
    "finished_at = CASE WHEN ? IS NULL THEN NULL ELSE COALESCE(finished_at, ?) END, "
    "lease_expires = CASE WHEN ? IS NULL THEN lease_expires END "
    "WHERE id = ?"
)
# Where the indexed columns sit in a group's read of a row (see GROUP_READ).
_READ_STATE, _READ_DUE, _READ_FINISHED, _READ_EXPIRES = 7, 8, 9, 10


def _changes_indexed(params: tuple[Any, ...], stored: Sequence[Any]) -> bool:
    """Whether a save sets an indexed column of the row ``stored`` as SAVE_INDEXED would."""
    finished = params[_FINISHED_AT]
    return (
        stored[_READ_STATE] != params[_STATE_AT]
        or stored[_READ_DUE] != params[_DUE_AT]
        or (stored[_READ_FINISHED] is None) != (finished is None)
        or (finished is not None and stored[_READ_EXPIRES] is not None)
    )


def _save_all_params(params: tuple[Any, ...]) -> tuple[Any, ...]:
    """A save's parameters for _SAVE_ALL."""
    finished = params[_FINISHED_AT]
    state, due = params[_STATE_AT], params[_DUE_AT]
    return (*_plain_of(params), params[-5], state, due, finished, finished, finished, params[0])


def put_group(
    executemany: ExecuteMany, rows: Sequence[SaveRow], stored: Mapping[str, Sequence[Any]]
) -> None:
    """Write a group's rows (``stored``: the rows as the group's transaction read them).

    Existing rows get the unindexed columns, and the indexed ones only where they changed
    (see _SAVE_ALL); new rows (a split's branches) are inserted.
    """
    last, history = latest(rows)
    plain, changed, new = [], [], []
    for params in last:
        before = stored.get(params[0])
        if before is None:
            new.append(params)
        elif _changes_indexed(params, before):
            changed.append(_save_all_params(params))
        else:
            plain.append(split_save(params)[0])
    if plain:
        executemany(SAVE_PLAIN, plain)
    if changed:
        executemany(_SAVE_ALL, changed)
    if new:
        executemany(UPSERT, new)
    if history:
        executemany(HISTORY, history)


def split_save(params: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """A save's parameters for SAVE_PLAIN and for SAVE_INDEXED."""
    job_id = params[0]
    plain = (*_plain_of(params), params[-5], job_id)  # updated_at = the save's time
    return plain, (params[_STATE_AT], params[_DUE_AT], params[_FINISHED_AT], job_id)
