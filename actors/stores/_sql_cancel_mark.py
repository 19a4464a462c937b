"""``Store.mark_cancel`` on the SQL stores: a job's row marked for its runner to stop."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from actors._job import FINAL_STATES
from actors.stores._group import Slice

if TYPE_CHECKING:
    from actors.stores._sql import SqlStore

__all__ = ["mark_cancel"]

_FINAL_MARKS = ", ".join("?" for _ in FINAL_STATES)
_MARK_CANCEL = (
    "UPDATE jobs SET cancel_requested = ?, "
    "error = CASE WHEN cancel_requested THEN error ELSE ? END "
    f"WHERE id = ? AND state NOT IN ({_FINAL_MARKS})"
)


def mark_cancel(store: SqlStore, job_id: str, why: str) -> None:
    """``Store.mark_cancel``: the job's row marked, fenced by the worker's stamp on it."""
    writer = store._writer
    if writer is not None and not writer.is_current():
        # The slices the writer holds first: one may save the job as its runner left it
        # before it saw the stop, and stored after the mark it would clear it.
        # A group that fails is rolled back, none of its saves lands after the mark, and
        # its slices hear why: not the mark's error (a store that is down fails the
        # mark's own write below).
        with contextlib.suppress(Exception):
            writer.store(Slice())
    params: list[Any] = [True, why, job_id, *(state.value for state in FINAL_STATES)]
    sql = _MARK_CANCEL
    if store.owner is not None:
        sql += " AND lease_owner = ?"
        params.append(store.owner)
    store._write(lambda execute: execute(sql, tuple(params)), f"mark job {job_id} cancelled")
