"""The SQL stores' side of the operator's API: listing, case changes, pruning.

A mixin of ``SqlStore``: it uses the store's ``_write``, ``_read`` and dialect details.
Every value reaches SQL as a parameter. The requests an operator leaves for a case's
worker are another mixin, ``SqlRequests`` (``_sql_requests``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from actors._errors import JobNotFoundError, StoreError
from actors.stores._admin_types import (
    CaseChange,
    Held,
    HistoryRow,
    JobQuery,
    ListingPosition,
    RowsLockedError,
    StoredJob,
    refuse_unread,
)
from actors.stores._history_rows import unpack
from actors.stores._rows import row_params, storable_text
from actors.stores._sql_admin_rows import arrived, column_time, history_row, raw_times, stored
from actors.stores._sql_listing import filters, parts
from actors.stores._sql_prune import BatchDone, prune
from actors.stores._sql_trim import trim
from actors.stores._statements import (
    HELD,
    LEASE_EXPIRY,
    SELECT_LIST,
    UPSERT_OVER,
    Execute,
    in_lists,
    padded,
)

if TYPE_CHECKING:
    from actors.stores._codec import Codec

__all__ = ["LOCK_WAIT_MAX_MS", "SqlAdmin", "wait_ms"]

# A root's lease_expires as when its lease ends (see LEASE_EXPIRY).
# The tries count only while tried_at is the last save's time (see _sql_tries._COUNT).
_ADMIN_SELECT = (
    f"{SELECT_LIST}, created_at, updated_at, finished_at, lease_owner, {LEASE_EXPIRY}, "
    "CASE WHEN tried_at = updated_at THEN tries ELSE 0 END"
)
_SQL_INT_MAX = 2**63 - 1

_HISTORY_FULL = "job_id, seq, step, attempt, state, at, worker, error, action, started"
_HISTORY_ROWS = ", ".join(f"h.{column}" for column in [*_HISTORY_FULL.split(", "), "more"])
_ACTION = f"INSERT INTO step_history ({_HISTORY_FULL}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


LOCK_WAIT_MAX_MS = 2**31 - 1
"""The longest lock wait either database takes, in milliseconds (about 24.8 days).

SQLite's ``busy_timeout`` is a C ``int`` (a larger one reads back as 0: no wait at
all) and PostgreSQL's ``lock_timeout`` refuses more.
"""


def wait_ms(seconds: float) -> int:
    """``seconds`` as whole milliseconds, at least one (a lock wait of 0 is no bound).

    At most ``LOCK_WAIT_MAX_MS``: a longer wait is cut to the longest the databases take.
    """
    return max(1, math.ceil(min(seconds * 1000, LOCK_WAIT_MAX_MS)))


class SqlAdmin:
    """What ``actors.admin`` asks of a SQL store (mixed into ``SqlStore``)."""

    codec: Codec
    url: str
    _order: str
    _listing_id: str  # the id as listings order it (see _schema.LISTING_ID)
    _text_times: bool  # SQLite: a time column edited by hand may hold text (see filters)
    _hint_indexes: bool  # SQLite: name the index each part reads (see _sql_listing.parts)
    _id_array: bool  # PostgreSQL: many ids as one array parameter (see _id_lists)
    _for_update: str
    # The statement that bounds this transaction's waits for row locks (its parameter:
    # PostgreSQL's lock_timeout text); None where there is none (SQLite bounds its wait
    # for the one writer's lock otherwise: its _write_waiting).
    _lock_wait_sql: str | None = None

    if TYPE_CHECKING:  # provided by SqlStore

        def _write(self, fn: Any, what: str) -> Any: ...
        def _read(self, sql: str, params: Sequence[Any], what: str) -> list[Any]: ...
        def _seq(self) -> int: ...
        def lease_time(self, now: float) -> float: ...

    def _lock_timed_out(self, exc: BaseException | None) -> bool:
        """Whether the driver's error ``exc`` is a wait for locks cut at ``lock_wait``."""
        return False

    def _write_waiting(self, fn: Any, what: str, lock_wait: float | None) -> Any:
        """``_write``, its waits for other transactions' locks bounded by ``lock_wait`` seconds."""
        sql = self._lock_wait_sql
        if lock_wait is None or sql is None:
            return self._write(fn, what)

        def bounded(execute: Execute) -> Any:
            execute(sql, (f"{wait_ms(lock_wait)}ms",))
            return fn(execute)

        return self._write(bounded, what)

    # -- reading ---------------------------------------------------------------------------

    def query_jobs(
        self,
        query: JobQuery,
        *,
        limit: int,
        offset: int = 0,
        after: ListingPosition | None = None,
    ) -> list[StoredJob]:
        """Jobs matching ``query``, newest first, ``limit`` of them after the first ``offset``.

        Newest first is by (created_at, id), both descending; ``after`` is the
        (created_at, id) of a job already listed, its time as the row holds it: only
        jobs past it in that order, which is SQL's for a time edited into no number.

        Each part of the statement (one per state asked for) reads an index that
        bounds its cost by a page or by the jobs in its state, never by the store's
        finished history: everything and DONE walk an index in the listing's order and
        stop after ``offset + limit`` rows, other filters narrowing the walk; the other
        states read theirs through the state index (see ``_sql_listing.parts``).
        """
        # SQL's integers end at 2**63 - 1 (a page past them is past every row anyway):
        # an offset and a limit near it each overflowed in their sum.
        limit, offset = min(limit, _SQL_INT_MAX), min(offset, _SQL_INT_MAX)
        reach = min(offset + limit, _SQL_INT_MAX)
        order = f"created_at DESC, {self._listing_id} DESC"
        where, params = filters(query, after, self._listing_id, text_times=self._text_times)
        selects: list[tuple[str, str, list[Any]]] = []
        for condition, values, index in parts(query):
            jobs = f"jobs INDEXED BY {index}" if index and self._hint_indexes else "jobs"
            clause = " AND ".join(c for c in (condition, *where) if c)
            selects.append((jobs, f"WHERE {clause} " if clause else "", [*values, *params]))
        if len(selects) == 1:
            [(jobs, clause, values)] = selects
            sql = f"SELECT {_ADMIN_SELECT} FROM {jobs} {clause}ORDER BY {order} LIMIT ? OFFSET ?"
            rows = self._read(sql, (*values, limit, offset), "list jobs")
            return raw_times([stored(row, self.codec) for row in rows], self._read)
        # One part per state, merged: an IN list would read every job in those states
        # and sort them, DONE included.
        merged: list[Any] = []
        texts = []
        for n, (jobs, clause, values) in enumerate(selects):
            texts.append(
                f"SELECT * FROM (SELECT {_ADMIN_SELECT} FROM {jobs} {clause}"
                f"ORDER BY {order} LIMIT ?) AS part{n}"
            )
            merged.extend([*values, reach])
        sql = (
            f"SELECT * FROM ({' UNION ALL '.join(texts)}) AS parts "
            f"ORDER BY {order} LIMIT ? OFFSET ?"
        )
        rows = self._read(sql, (*merged, limit, offset), "list jobs")
        return raw_times([stored(row, self.codec) for row in rows], self._read)

    def case_jobs(self, case_id: str) -> list[StoredJob]:
        """Every job of case ``case_id``, in the order they were created."""
        rows = self._read(
            f"SELECT {_ADMIN_SELECT} FROM jobs WHERE case_id = ? ORDER BY {self._order}",
            (case_id,),
            f"read case {case_id}",
        )
        return [stored(row, self.codec) for row in rows]

    def stored_job(self, job_id: str) -> StoredJob | None:
        """The job ``job_id`` as an operator reads it; never writes (see ``Store``)."""
        rows = self._read(
            f"SELECT {_ADMIN_SELECT} FROM jobs WHERE id = ?", (job_id,), f"read {job_id}"
        )
        return stored(rows[0], self.codec) if rows else None

    def step_history(self, job_id: str) -> list[HistoryRow]:
        """Every history row of ``job_id``, oldest first."""
        return self.step_histories([job_id])[job_id]

    def stored_jobs(self, job_ids: Sequence[str]) -> dict[str, StoredJob]:
        """The jobs of ``job_ids`` as ``stored_job`` reads them, by id, in one query.

        Ids the store does not hold are left out. (SQLite: a query per 500 ids.)
        """
        out: dict[str, StoredJob] = {}
        for among, params in self._id_lists(job_ids):
            rows = self._read(
                f"SELECT {_ADMIN_SELECT} FROM jobs WHERE id {among}", params, "read jobs"
            )
            for row in rows:
                job = stored(row, self.codec)
                out[job.record.id] = job
        return out

    def step_histories(
        self, job_ids: Sequence[str], *, last: int | None = None
    ) -> dict[str, list[HistoryRow]]:
        """``step_history`` of each job of ``job_ids``, by id, in one query.

        A job with no history (or none in the store) has an empty list. (SQLite: a query
        per 500 ids.) ``last``: only each job's most recent ``last`` entries, read so (a
        job that loops keeps a row per save: 400,000 took 9 s to read whole).
        """
        out: dict[str, list[HistoryRow]] = {job_id: [] for job_id in job_ids}
        for among, ids in self._id_lists(list(out)):
            params = ids
            if last is None:
                sql = f"SELECT {_HISTORY_FULL}, more FROM step_history WHERE job_id {among}"
            else:
                # Each job's oldest seq among its last rows, ranked on (job_id, seq)
                # alone; then only those rows are read whole. A row may pack several
                # entries (PostgreSQL): the last rows hold at least as many, cut to
                # ``last`` once unpacked.
                sql = (
                    f"SELECT {_HISTORY_ROWS} FROM step_history AS h JOIN (SELECT job_id, "
                    "MIN(seq) AS cut FROM (SELECT job_id, seq, ROW_NUMBER() OVER "
                    "(PARTITION BY job_id ORDER BY seq DESC) AS back FROM step_history "
                    f"WHERE job_id {among}) AS ranked WHERE back <= ? GROUP BY job_id) AS c "
                    "ON h.job_id = c.job_id AND h.seq >= c.cut"
                )
                params = [*ids, last]
            rows = self._read(f"{sql} ORDER BY seq", params, "read the history of jobs")
            for r in unpack(rows):  # every entry in seq order: each job's oldest first
                out[r[0]].append(history_row(r))
        if last is not None:
            out = {job_id: rows[-last:] if last else [] for job_id, rows in out.items()}
        return out

    def _id_lists(self, ids: Sequence[str]) -> Iterator[tuple[str, list[Any]]]:
        """``ids`` (each once) as conditions on a column (``IN (?, ...)``) and their params.

        PostgreSQL: one ``= ANY(?)`` of them all. SQLite: an ``IN`` list per 500, padded
        to a few sizes (``padded``), so that it prepares a few statements, not one per size.
        """
        unique = list(dict.fromkeys(ids))
        if self._id_array:
            if unique:
                yield "= ANY(?)", [unique]
            return
        for chunk, _ in in_lists(unique):
            filled, size = padded(chunk)
            yield f"IN ({', '.join('?' for _ in range(size))})", filled

    # -- changing a case no live worker holds ------------------------------------------------

    def change_case(
        self,
        case_id: str,
        change: CaseChange,
        *,
        now: float,
        stamp: str,
        lock_wait: float | None = None,
    ) -> Any:
        """Apply ``change`` to case ``case_id`` in one transaction, unless a live worker holds it.

        Returns ``Held(owner, expires)`` and changes nothing when the case's lease runs
        past ``now``; otherwise locks every row of the case, saves what ``change``
        returns, stamps every row with ``stamp`` (which fences out a worker whose lease
        expired) and leaves the case free to claim, and returns ``change``'s result.
        ``lock_wait``: see ``OperatorApi.change_case`` (``RowsLockedError``).
        """
        root_sql = f"SELECT lease_owner, lease_expires FROM jobs WHERE id = ?{self._for_update}"
        # Its holder's lease, locked: a heartbeat of it waits until this change commits.
        worker_sql = f"SELECT expires FROM workers WHERE owner = ?{self._for_update}"
        case_sql = (
            f"SELECT {_ADMIN_SELECT} FROM jobs WHERE case_id = ? "
            f"ORDER BY {self._order}{self._for_update}"
        )

        def write(execute: Execute) -> Any:
            root = execute(root_sql, (case_id,)).fetchone()
            if root is None:
                msg = f"no case {case_id!r}"
                raise JobNotFoundError(msg)
            expires = column_time(root[1])  # text edited into it: no worker's lease
            if expires == HELD:
                row = execute(worker_sql, (root[0],)).fetchone()
                expires = None if row is None else column_time(row[0])
            if expires is not None and expires > HELD:
                expires = None  # edited past HELD: no lease, as a claim reads it (LAPSED)
            if expires is not None and expires >= self.lease_time(now):
                return Held(root[0], float(expires) - (self.lease_time(now) - now))
            rows = list(execute(case_sql, (case_id,)))
            jobs = [arrived(execute, stored(row, self.codec), self.codec) for row in rows]
            for job in jobs:
                refuse_unread(job)  # its stand-in would be saved over the row
            saves, history, result = change(jobs)
            at = time.time()
            for record in saves:
                execute(UPSERT_OVER, row_params(record, at, self.codec, (stamp, None)))
            execute(
                "UPDATE jobs SET lease_owner = ?, lease_expires = NULL WHERE case_id = ?",
                (stamp, case_id),
            )
            self._append(execute, history)
            return result

        try:
            return self._write_waiting(write, f"change case {case_id}", lock_wait)
        except StoreError as exc:
            if lock_wait is None or not self._lock_timed_out(exc.__cause__):
                raise
            msg = (
                f"{self.url}: case {case_id} stayed locked by another transaction (a worker "
                f"in the middle of a write, or frozen in one) for {lock_wait:.3g}s; nothing "
                "was changed"
            )
            raise RowsLockedError(msg) from exc

    def _append(self, execute: Execute, rows: list[HistoryRow]) -> None:
        for row in rows:
            execute(
                _ACTION,
                (
                    row.job_id,
                    self._seq(),
                    row.step,
                    row.attempt,
                    row.state,
                    row.at,
                    row.worker,
                    storable_text(row.error),
                    row.action,
                    row.started,
                ),
            )

    def append_history(self, rows: list[HistoryRow]) -> None:
        """Append history rows (an operator's action a worker carried out)."""
        self._write(lambda execute: self._append(execute, rows), "record an action")

    # -- pruning -----------------------------------------------------------------------------

    def prune_cases(
        self, finished_before: float, batch_done: BatchDone | None = None
    ) -> tuple[int, int]:
        """Delete cases whose every job ended before ``finished_before``; (cases, jobs) gone.

        Their step history, requests and join arrivals go with them. A case with any
        job still unfinished is kept, however old its root. The cases go ``PRUNE_BATCH``
        at a time, each batch in a transaction of its own, so that workers wait for a
        batch (milliseconds), never for the whole prune (a million cases of history).
        ``batch_done`` is told of each batch committed (see ``_sql_prune``).
        """
        return prune(self, finished_before, batch_done)

    def trim_history(self, saved_before: float) -> tuple[int, int]:
        """Trim unfinished cases' history and old splits' branches (see Store.trim_history)."""
        return trim(self, saved_before)
