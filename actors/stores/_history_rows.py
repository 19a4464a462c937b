"""Step-history rows in the SQL stores: one table row per job per transaction.

A save appends one history entry (the job's step, attempt and state, when, by whom).
A slice saves one job several times (a chain of steps, a split, a join), and on
PostgreSQL every table row costs the server about the same whatever it holds: a heap
tuple, an index entry, their log records. So there the entries a transaction writes for
one job, by one worker, share one row: the first entry in the row's columns, the others
(oldest first) in its ``more`` column as a JSON array of ``[seq, step, attempt, state,
at, error, started]``. W's 25 entries per workflow take 11 rows. SQLite appends a row to
its B-tree for less than the JSON costs, so it writes one row per entry. Readers
(``unpack``) give every entry back in order, from either kind of row. Rows written
before migration 8, and the operators' actions, have ``more`` NULL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from actors._job import JobState
from actors.stores._admin_types import UNREADABLE

__all__ = ["ENTRY", "PACKED", "pack", "unpack"]

# One entry as the stores build it: (job_id, seq, step, attempt, state, at, worker, error,
# started), the columns of ``HISTORY``.
ENTRY = 9
PACKED = (
    "INSERT INTO step_history (job_id, seq, step, attempt, state, at, worker, error, started, "
    "more) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def pack(entries: Sequence[tuple[Any, ...]], *, encode: bool = True) -> list[tuple[Any, ...]]:
    """``entries`` as the rows of ``PACKED``: one per run of one job's entries by one worker.

    The entries of one job are consecutive in a transaction (a job is in one slice of a
    group), and a run is cut wherever the job or the worker changes, so no entry moves
    past another job's. ``encode=False`` leaves ``more`` a list, for a caller that
    encodes the rows as one JSON document anyway (the server reads it as text).
    """
    dumps = _dumps if encode else _same
    out: list[tuple[Any, ...]] = []
    head: tuple[Any, ...] | None = None
    more: list[list[Any]] = []
    for entry in entries:
        if head is not None and entry[0] == head[0] and entry[6] == head[6]:
            more.append([entry[1], entry[2], entry[3], entry[4], entry[5], entry[7], entry[8]])
            continue
        if head is not None:
            out.append((*head, dumps(more) if more else None))
            more = []
        head = entry
    if head is not None:
        out.append((*head, dumps(more) if more else None))
    return out


def _same(more: list[list[Any]]) -> Any:
    return more


def unpack(rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Every entry of ``rows``, ordered by ``seq``, as the first ten of the row's columns.

    ``rows``: ``(job_id, seq, step, attempt, state, at, worker, error, action, started,
    more)``. An entry packed in ``more`` has its row's job, worker and no action. Packed
    entries no save could have written (``more`` edited by hand) are left out and named
    by one entry after the row's own: its row's columns, the reason as its error, and
    ``UNREADABLE`` as its action. So is a row whose own seq, attempt or times no save
    writes (SQLite keeps text in any column): an ``UNREADABLE`` entry in its place, with
    the seq, attempt and time of the job's entry before it (after it, for a first).
    Nothing is raised, and every readable entry is kept.
    """
    out: list[tuple[Any, ...]] = []
    last: dict[Any, tuple[Any, ...]] = {}  # each job's latest entry
    for row in rows:
        damaged = _damaged(row)
        head = tuple(row[:10]) if damaged is None else _stand_in(row, last.get(row[0]), damaged)
        out.append(head)
        if row[10] is not None:
            why = _unpack_more(row, out)
            if why is not None:
                why = f"step history row {head[1]}: {why}"
                out.append((*head[:7], why, UNREADABLE, None))
        last[row[0]] = out[-1]
    _date_stand_ins(out)
    out.sort(key=lambda entry: int(entry[1]))
    return out


def _damaged(row: Sequence[Any]) -> str | None:
    """What in ``row``'s own columns no save writes (text in a number's column), if any."""
    seq, attempt, at, started = row[1], row[3], row[5], row[9]
    for name, value, fits in (
        ("seq", seq, type(seq) is int),
        ("attempt", attempt, type(attempt) is int),
        ("at", at, _is_time(at)),
        ("started", started, started is None or _is_time(started)),
    ):
        if not fits:
            return f"its {name} holds {value!r:.40}"
    return None


def _stand_in(row: Sequence[Any], before: tuple[Any, ...] | None, why: str) -> tuple[Any, ...]:
    """The ``UNREADABLE`` entry of a damaged row, numbered and dated as ``before``.

    Its time is ``None`` when the job has no entry before it: ``_date_stand_ins`` dates it.
    """
    seq, attempt, at = (before[1], before[3], before[5]) if before else (0, 0, None)
    seq = row[1] if type(row[1]) is int else seq
    attempt = row[3] if type(row[3]) is int else attempt
    at = float(row[5]) if _is_time(row[5]) else at
    step = row[2] if row[2] is None or type(row[2]) is str else None
    reason = f"step history row {row[1]!r:.40}: {why}"
    return (row[0], seq, step, attempt, row[4], at, row[6], reason, UNREADABLE, None)


def _date_stand_ins(out: list[tuple[Any, ...]]) -> None:
    """Date each undated stand-in as its job's next entry (or the epoch: the job has none)."""
    after: dict[Any, float] = {}
    for i in range(len(out) - 1, -1, -1):
        entry = out[i]
        if entry[5] is None:
            out[i] = (*entry[:5], after.get(entry[0], 0.0), *entry[6:])
        else:
            after[entry[0]] = entry[5]


def _unpack_more(row: Sequence[Any], out: list[tuple[Any, ...]]) -> str | None:
    """Append the entries packed in ``row``'s ``more`` to ``out``; why some cannot be, if so."""
    try:
        packed = json.loads(row[10])
    except (ValueError, TypeError, RecursionError) as exc:
        return f"its further entries cannot be read ({exc})"
    if type(packed) is not list:
        return f"its further entries cannot be read (not a JSON array: {row[10]!r:.60})"
    job_id, worker = row[0], row[6]
    bad: list[Any] = []
    for item in packed:
        if not _is_entry(item):
            bad.append(item)
            continue
        seq, step, attempt, state, at, error, started = item
        started = None if started is None else float(started)
        out.append((job_id, seq, step, attempt, state, float(at), worker, error, None, started))
    if not bad:
        return None
    return (
        f"{len(bad)} of its {len(packed)} further entries cannot be read "
        f"(no save writes {bad[0]!r:.80})"
    )


_STATES = frozenset(state.value for state in JobState)
_LAST_SECOND = 253_402_300_799.0  # 9999-12-31T23:59:59Z: a time a clock can show


def _is_entry(item: Any) -> bool:
    """Whether ``item`` is an entry as ``pack`` writes it: ``[seq, step, ..., started]``."""
    if type(item) is not list or len(item) != 7:
        return False
    seq, step, attempt, state, at, error, started = item
    return (
        type(seq) is int
        and (step is None or type(step) is str)
        and type(attempt) is int
        and type(state) is str
        and state in _STATES
        and _is_time(at)
        and (error is None or type(error) is str)
        and (started is None or _is_time(started))
    )


def _is_time(value: Any) -> bool:
    return (type(value) is float or type(value) is int) and -_LAST_SECOND <= value <= _LAST_SECOND
