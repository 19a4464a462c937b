"""Rows the operator's API reads from a SQL store, as ``StoredJob`` and ``HistoryRow``.

A row that cannot be read is shown, not raised: the operator must see a damaged job to
act on it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from actors._errors import CodecError
from actors._job import JobState
from actors._text import NotUtf8
from actors.stores._admin_types import UNREADABLE_ROW, HistoryRow, RawText, StoredJob
from actors.stores._joins import ARRIVALS_OF
from actors.stores._rows import read_row
from actors.stores._statements import Execute

if TYPE_CHECKING:
    from actors.stores._codec import Codec

__all__ = ["arrived", "column_time", "history_row", "raw_times", "stored"]

Read = Callable[[str, Sequence[Any], str], list[Any]]


def stored(row: Sequence[Any], codec: Codec) -> StoredJob:
    """A row read for the operator: a row that cannot be read is shown FAULTED (not saved)."""
    record, problems = read_row(row[:-6], codec)
    if problems:
        record.state = JobState.FAULTED
        record.error = UNREADABLE_ROW + "; ".join(problems)
    created, updated, finished, owner, expires, tries = row[-6:]
    tries = tries if isinstance(tries, int) and not isinstance(tries, bool) else 0
    owner = owner if isinstance(owner, str) else None
    return StoredJob(
        record,
        column_time(created),
        column_time(updated),
        column_time(finished),
        owner,
        column_time(expires),
        tries,
        tuple(problems),
        None if column_time(created) is not None else _listed_at(created),
    )


def _listed_at(created: Any) -> float | str | bytes:
    """A creation time that is no number, as the row holds it (``StoredJob.listed_at``).

    A listing's cursor names it, so that the next page starts where SQL orders it
    (SQLite: text and bytes after every number; PostgreSQL: NaN after infinity).
    """
    if isinstance(created, float | str | bytes):
        return created
    return math.inf  # no type a SQL store returns for a REAL column


def raw_times(jobs: list[StoredJob], read: Read) -> list[StoredJob]:
    """``jobs``, each creation time of text that is not UTF-8 read again as its bytes.

    It reads as its escaped form (``NotUtf8``), which SQL orders elsewhere: a listing's
    cursor naming that would skip or repeat jobs. Only SQLite holds such text.
    """
    out = []
    for job in jobs:
        raw = None
        if isinstance(job.listed_at, NotUtf8):
            sql = "SELECT CAST(created_at AS BLOB) FROM jobs WHERE id = ?"
            rows = read(sql, (job.record.id,), "read a creation time")
            raw = rows[0][0] if rows and isinstance(rows[0][0], bytes) else None
        out.append(job if raw is None else dataclasses.replace(job, listed_at=RawText(raw)))
    return out


def arrived(execute: Execute, job: StoredJob, codec: Codec) -> StoredJob:
    """``job`` with the arrivals ``join_arrivals`` holds for its split still waiting.

    Until its join fires, a parent's arrivals are rows of their own, not in its record:
    a change that saves the parent from its record would write an empty map over them
    (a trigger clears the rows), and the branches that had arrived would be lost.
    """
    record = job.record
    if job.unread or not record.split_total or record.joined:
        return job
    problems = []
    for index, text in list(execute(ARRIVALS_OF, (record.id, record.gen))):
        what = f"arrival of branch {index} at job {record.id}"
        try:
            record.arrivals.setdefault(int(index), codec.decode(text, what))
        except CodecError as exc:
            problems.append(str(exc))
    return dataclasses.replace(job, unread=tuple(problems)) if problems else job


def column_time(value: Any) -> float | None:
    """A time column as a float; ``None`` for NULL or what a row edited by hand holds instead.

    SQLite keeps any value in any column: text there would fail every comparison and
    date the operator's commands make of it.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def history_row(r: Sequence[Any]) -> HistoryRow:
    """A history entry as ``unpack`` gives it."""
    return HistoryRow(r[0], int(r[1]), r[2], int(r[3]), r[4], float(r[5]), r[6], r[7], r[8], r[9])
