"""PostgreSQL's group commit statements: a group's rows and join bookkeeping, few statements.

A group of slices (see ``GroupTransaction``) writes hundreds of rows. Each kind goes in
one statement of a fixed shape (so the driver prepares it once): the rows as one JSON
document, encoded by the json module in C and read back with ``jsonb_array_elements``,
typed column by column. The driver would dump an array parameter element by element in
Python, which was most of a worker's writer thread; a group holding a value JSON cannot
carry exactly (a float infinity or NaN) still goes as one typed array per column.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Collection, Sequence
from typing import Any

from actors.stores._history_rows import pack
from actors.stores._joins import ADD_ARRIVAL, PUT_COUNT, stored_counts
from actors.stores._statements import COLUMNS, UPSERT, Execute, SaveRow, latest

__all__ = ["ROW_TYPES", "UPSERT_INTO", "as_one_statement", "join_reads", "json_rows", "put_group"]

# A group's rows in one statement each, not one per row (most of the server's work per
# save): every column as one array parameter, unnest() turning the arrays into rows.
_ARRAY_TYPES = {
    "version": "integer",
    "branch_index": "integer",
    "attempt": "integer",
    "split_total": "integer",
    "split_live": "integer",
    "gen": "integer",
    "parent_gen": "integer",
    "due": "double precision",
    "joined": "boolean",
    "branch_cancelled": "boolean",
    "cancel_requested": "boolean",
}
ROW_TYPES = [_ARRAY_TYPES.get(c, "text") for c in COLUMNS]
ROW_TYPES += ["double precision"] * 3 + ["text", "double precision"]  # times, lease
UPSERT_INTO, _, _UPSERT_REST = UPSERT.partition("VALUES")
_ON_CONFLICT = _UPSERT_REST[_UPSERT_REST.index("ON CONFLICT") :]
_UPSERT_MANY = (
    f"{UPSERT_INTO}SELECT * FROM unnest({', '.join(f'?::{t}[]' for t in ROW_TYPES)})\n"
    + _ON_CONFLICT
)
# A group's history rows, packed (see actors.stores._history_rows).
_HISTORY_INTO = (
    "INSERT INTO step_history (job_id, seq, step, attempt, state, at, worker, error, started, "
    "more) "
)
_HISTORY_TYPES = ["text", "bigint", "text", "integer", "text"]
_HISTORY_TYPES += ["double precision", "text", "text", "double precision", "text"]
_HISTORY_MANY = (
    f"{_HISTORY_INTO}SELECT * FROM unnest({', '.join(f'?::{t}[]' for t in _HISTORY_TYPES)})"
)


def _from_json(types: list[str]) -> str:
    """Rows out of one JSON array of arrays: ``SELECT`` each element's columns, typed."""
    columns = ", ".join(f"(r->>{k})::{t}" for k, t in enumerate(types))
    return f"SELECT {columns} FROM jsonb_array_elements(?::jsonb) AS r\n"


# The same from one JSON text parameter (the server parses it about as fast).
_UPSERT_JSON = f"{UPSERT_INTO}{_from_json(ROW_TYPES)}{_ON_CONFLICT}"
# The rows the group read (and locked) before: a plain update, as the upsert would have
# made it (created_at and the stamp kept, finished_at and the lease as UPSERT sets them),
# without the upsert's failed insertion and second lock of every row. The ids as an
# array too, so each row is found through the primary key whatever the planner makes of
# the JSON rows. Each row's JSON holds only what the update sets: not the job's case and
# parent (a job's, set when it is created, never change), created_at, or the lease a new
# row gets (a third of a W row's text, to encode and for the server to parse).
_UPDATED, _FINISHED = len(COLUMNS) + 1, len(COLUMNS) + 2
_KEPT = ("case_id", "parent_id")
_MARK_AT = COLUMNS.index("cancel_requested")  # kept while the job is unfinished, as UPSERT
_SENT = [0, *(k for k, c in enumerate(COLUMNS) if k and c not in _KEPT), _UPDATED, _FINISHED]
_sent = operator.itemgetter(*_SENT)
_UPDATE_JSON = (
    "UPDATE jobs AS j SET "
    + ", ".join(f"{COLUMNS[k]} = r.c{k}" for k in _SENT[1:-2] if k != _MARK_AT)
    + f", cancel_requested = r.c{_MARK_AT} OR (r.c{_FINISHED} IS NULL AND j.cancel_requested)"
    + f", updated_at = r.c{_UPDATED}"
    + f", finished_at = CASE WHEN r.c{_FINISHED} IS NULL THEN NULL"
    + f" ELSE COALESCE(j.finished_at, r.c{_FINISHED}) END"
    + f", lease_expires = CASE WHEN r.c{_FINISHED} IS NULL THEN j.lease_expires END FROM "
    + "(SELECT "
    + ", ".join(f"(r->>{n})::{ROW_TYPES[k]} AS c{k}" for n, k in enumerate(_SENT))
    + " FROM jsonb_array_elements(?::jsonb) AS r) AS r WHERE j.id = ANY(?) AND j.id = r.c0"
)
_HISTORY_JSON = f"{_HISTORY_INTO}{_from_json(_HISTORY_TYPES)}"
# What a group reads of its joins (see GroupTransaction): the counts at its parents, and
# which of its arrivals (parent, split, branch) are stored already.
# Each parent on its own, in a subquery OFFSET 0 keeps from being flattened (as
# jobs_case in a claim, see _postgres.py): "parent_id = ANY(?)" was read by a sequential
# scan of every count the store holds until autovacuum had analyzed the table.
_COUNTS_OF = (
    "SELECT k.parent_id, k.gen, k.arrived FROM unnest(?::text[]) AS p(id) CROSS JOIN LATERAL "
    "(SELECT parent_id, gen, arrived FROM join_counts WHERE parent_id = p.id OFFSET 0) AS k"
)
# Each key is looked up in the primary key, in a LATERAL subquery that LIMIT keeps the
# planner from flattening: joined plainly, the planner may take the JSON rows for a
# hundred and hash a sequential scan of the whole table, reading every arrival the store
# holds in every group.
_PRESENT_OF = (
    "SELECT a.parent_id, a.gen, a.branch_index FROM jsonb_array_elements(?::jsonb) AS r "
    "CROSS JOIN LATERAL (SELECT parent_id, gen, branch_index FROM join_arrivals "
    "WHERE parent_id = r->>0 AND gen = (r->>1)::integer "
    "AND branch_index = (r->>2)::integer LIMIT 1) AS a"
)
# A group's arrivals and join counts, one row per parameter tuple: one statement each,
# not one pipelined statement per row.
_MANY_AS_JSON = {
    ADD_ARRIVAL: "INSERT INTO join_arrivals (parent_id, gen, branch_index, data) "
    + _from_json(["text", "integer", "integer", "text"])
    + "ON CONFLICT (parent_id, gen, branch_index) DO NOTHING",
    PUT_COUNT: "INSERT INTO join_counts (parent_id, gen, arrived) "
    + _from_json(["text", "integer", "integer"])
    + "ON CONFLICT (parent_id, gen) DO UPDATE SET arrived = excluded.arrived",
}


def json_rows(rows: list[Any]) -> str | None:
    """``rows`` (tuples of str, int, float, bool, None) as JSON; ``None`` if one cannot be.

    Floats are written as their shortest exact repr, which the server reads back to the
    same double. NaN and infinities are not JSON; strings go as UTF-8, not escapes (an
    escape above U+007F needs a UTF-8 server).
    """
    try:
        return json.dumps(rows, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return None


def put_group(execute: Execute, rows: list[SaveRow], stored: Collection[str]) -> None:
    """Write a group's rows: updates, upserts and step-history rows, one statement each.

    ``stored``: the ids of the rows that existed before the group (read and locked by
    its transaction): those are updated, the others upserted.
    """
    last, entries = latest(rows)
    # ``more`` stays a list: it goes inside the rows' JSON document, and the server
    # reads it back as text (``->>``), so the entries are encoded once, not twice.
    history = pack(entries, encode=False)
    old = [row for row in last if row[0] in stored]
    new = [row for row in last if row[0] not in stored] if old else last
    if old:
        text = json_rows([_sent(row) for row in old])
        if text is not None:
            execute(_UPDATE_JSON, (text, [row[0] for row in old]))
        else:  # a value JSON cannot carry exactly (a float infinity): upserted as arrays
            new = last
    for group, as_json, as_arrays in (
        (new, _UPSERT_JSON, _UPSERT_MANY),
        (history, _HISTORY_JSON, _HISTORY_MANY),
    ):
        if not group:
            continue
        text = json_rows(group)
        if text is not None:
            execute(as_json, (text,))
        else:  # a value JSON cannot carry exactly (a float infinity): arrays, as typed
            typed = [(*r[:-1], _as_text(r[-1])) for r in group] if group is history else group
            execute(as_arrays, [list(column) for column in zip(*typed, strict=True)])


def _as_text(more: list[Any] | None) -> str | None:
    return None if more is None else json.dumps(more, ensure_ascii=False, separators=(",", ":"))


def join_reads(
    execute: Execute, parents: list[str], keys: list[tuple[str, int, int]]
) -> tuple[dict[tuple[str, int], int], set[tuple[str, int, int]]]:
    """What a group reads of its joins, in two statements of one shape each.

    The arrivals counted at each split of ``parents`` (one array parameter), and which
    of ``keys`` (parent, split, branch) ``join_arrivals`` holds already (one JSON
    document); see ``actors.stores._group_transaction.join_reads``.
    """
    counts: dict[tuple[str, int], int] = {}
    if parents:
        found = execute(_COUNTS_OF, (parents,)).fetchall()
        counts = stored_counts(execute, found)
    present: set[tuple[str, int, int]] = set()
    if keys:
        found = execute(_PRESENT_OF, (json.dumps(keys, ensure_ascii=False),)).fetchall()
        present = {(pid, int(gen), int(b)) for pid, gen, b in found}
    return counts, present


def _join_update(sets: list[tuple[str, str]]) -> tuple[str, str]:
    """A join's ``UPDATE jobs SET <sets>, updated_at = ? WHERE id = ?``, and the same for many.

    The many: one JSON document of the rows' parameters, and their ids as an array too
    (so each row is found through the primary key).
    """
    each = ", ".join(f"{c} = {v}" for c, v in sets)
    one = f"UPDATE jobs SET {each}, updated_at = ? WHERE id = ?"
    marks = [c for c, v in sets if v == "?"]
    types = [_ARRAY_TYPES.get(c, "text") for c in marks] + ["double precision", "text"]
    names = [*marks, "updated_at", "id"]
    many = (
        "UPDATE jobs AS j SET "
        + ", ".join(f"{c} = r.{c}" if v == "?" else f"{c} = {v}" for c, v in sets)
        + ", updated_at = r.updated_at FROM (SELECT "
        + ", ".join(
            f"(r->>{k})::{t} AS {c}" for k, (c, t) in enumerate(zip(names, types, strict=True))
        )
        + " FROM jsonb_array_elements(?::jsonb) AS r) AS r WHERE j.id = ANY(?) AND j.id = r.id"
    )
    return one, many


# The updates JoinCount.update makes (a fired join; a newly named join step).
_FIRED = [(c, "?") for c in ("joined", "state", "step", "join_step", "event")]
_JOIN_UPDATES = dict([_join_update([*_FIRED, ("due", "NULL")]), _join_update([("join_step", "?")])])


def as_one_statement(
    sql: str, params: Sequence[Sequence[Any]]
) -> tuple[str, tuple[Any, ...]] | None:
    """``executemany(sql, params)`` as one statement and its parameters, if it has one.

    For a group's join arrivals, counts and fired joins (more than one row): one
    statement instead of one pipelined statement per row. ``None``: run them as they are.
    """
    if len(params) < 2:
        return None
    as_json = _MANY_AS_JSON.get(sql)
    if as_json is not None:
        text = json_rows(list(params))
        return None if text is None else (as_json, (text,))
    update = _JOIN_UPDATES.get(sql)
    if update is None:
        return None
    text = json_rows(list(params))
    return None if text is None else (update, (text, [row[-1] for row in params]))
