"""Trim what a case that never ends leaves behind on a SQL store (``prune --trim-history``).

A case that loops (a step and a ``Wait``, back to the step) is never pruned, since it never
ends, yet every turn adds history rows, and a turn through a ``ParallelSplit`` adds
finished branch jobs with their history and join arrivals. The engine reads none of a
split's rows once its parent has split again (``parent_gen``/``gen`` below the parent's
``gen``: "an earlier pass of a loop"), nor history but each step's latest attempt (from
which a reset numbers the next one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.stores._statements import Execute, in_lists

if TYPE_CHECKING:
    from actors.stores._sql_admin import SqlAdmin

__all__ = ["trim"]

# Per chunk of unfinished jobs (its ``?`` marks twice): their history saved before the
# cut-off, but operators' actions and each job's latest row of each step and attempt. A
# seq another job shares keeps a row too many, never deletes one that is kept.
_HISTORY = (
    "DELETE FROM step_history WHERE job_id IN ({marks}) AND at < ? "
    "AND action IS NULL AND seq NOT IN (SELECT MAX(seq) FROM step_history "
    "WHERE job_id IN ({marks}) AND action IS NULL GROUP BY job_id, step, attempt)"
)
# The finished branches of an earlier split of these parents, ended before the cut-off.
_STALE = (
    "SELECT k.id FROM jobs k JOIN jobs p ON p.id = k.parent_id WHERE p.id IN ({marks}) "
    "AND k.finished_at IS NOT NULL AND k.finished_at < ? AND k.parent_gen < p.gen"
)
# Arrivals at these parents' earlier splits.
_OLD_ARRIVALS = (
    "DELETE FROM {table} WHERE parent_id IN ({marks}) AND gen < "
    "(SELECT p.gen FROM jobs p WHERE p.id = {table}.parent_id)"
)


def trim(store: SqlAdmin, saved_before: float) -> tuple[int, int]:
    """Trim the unfinished cases' leftovers from before ``saved_before``; (rows, jobs) gone.

    Each chunk of unfinished jobs is trimmed in a transaction of its own, so the
    workers' saves never wait for a whole store's trim; the rows it deletes are ones no
    worker writes again.
    """
    rows = store._read(
        f"SELECT id FROM jobs WHERE finished_at IS NULL ORDER BY {store._order}",
        (),
        "list unfinished jobs",
    )
    ids = [row[0] for row in rows]
    history = jobs = 0
    for start in range(0, len(ids), 250):  # each id twice: within SQLite's 999 parameters
        chunk = ids[start : start + 250]

        def write(execute: Execute, chunk: list[str] = chunk) -> tuple[int, int]:
            marks = ", ".join("?" for _ in chunk)
            gone = execute(_HISTORY.format(marks=marks), (*chunk, saved_before, *chunk))
            rows_gone = int(gone.rowcount)
            stale = [r[0] for r in execute(_STALE.format(marks=marks), (*chunk, saved_before))]
            dropped = _drop_subtrees(execute, stale)
            for table in ("join_arrivals", "join_counts"):
                execute(_OLD_ARRIVALS.format(table=table, marks=marks), chunk)
            return rows_gone, dropped

        done = store._write(write, "trim the history of unfinished cases")
        history += done[0]
        jobs += done[1]
    return history, jobs


def _drop_subtrees(execute: Execute, roots: list[str]) -> int:
    """Delete ``roots`` and every job below them, if all ended; how many jobs went.

    A branch that split in turn has branches of its own, ended when it ended; a subtree
    holding a job not ended (none should) is left whole.
    """
    keep: set[str] = set()
    below: dict[str, str] = {root: root for root in roots}  # job -> the root above it
    frontier = list(roots)
    while frontier:
        found: list[str] = []
        for chunk, marks in in_lists(frontier):
            sql = f"SELECT id, parent_id, finished_at FROM jobs WHERE parent_id IN ({marks})"
            for kid, parent, finished in execute(sql, chunk).fetchall():
                below[kid] = below[parent]
                if finished is None:
                    keep.add(below[kid])
                found.append(kid)
        frontier = found
    doomed = [job for job, root in below.items() if root not in keep]
    for chunk, marks in in_lists(doomed):
        for table, key in (
            ("step_history", "job_id"),
            ("join_arrivals", "parent_id"),
            ("join_counts", "parent_id"),
        ):
            execute(f"DELETE FROM {table} WHERE {key} IN ({marks})", chunk)
        execute(f"DELETE FROM jobs WHERE id IN ({marks})", chunk)
    return len(doomed)
