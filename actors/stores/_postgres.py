"""``postgresql://...``: a PostgreSQL store shared by many worker processes (psycopg 3).

This module imports psycopg and psycopg_pool at import time; ``actors.stores`` imports
it only when a PostgreSQL URL is opened, so the engine runs without them installed
(``pip install 'actors-mediator[postgres]'`` adds them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from psycopg.errors import ReadOnlySqlTransaction

from actors._errors import StoreError
from actors._job import JobRecord
from actors._redact import mask_url, redacted_logger, remember_secrets
from actors.stores._codec import Codec
from actors.stores._group_room import QUEUE_BOUND
from actors.stores._pg_deadlines import MIN_BOUND, STATEMENT_SHARE, Deadlines
from actors.stores._pg_group import join_reads, json_rows, put_group
from actors.stores._pg_listen import Listener, notify_store
from actors.stores._pg_open import describe as _describe
from actors.stores._pg_open import open_pool
from actors.stores._pg_saves import (
    CREATE_MANY,
    CREATE_MANY_BARE,
    Taken,
    lost_error,
    save_statement,
    taken_error,
)
from actors.stores._pg_session import checked_bounds, connect_params, own_statement_timeout
from actors.stores._pg_transaction import read_rows, write, write_group
from actors.stores._rows import storable_text
from actors.stores._schema import LISTING_ID, POSTGRES
from actors.stores._server_clock import SERVER_NOW, ServerClock
from actors.stores._sql import GROUP_WAIT, SqlStore
from actors.stores._sql_admin import LOCK_WAIT_MAX_MS
from actors.stores._statements import COLUMNS, GROUP_READ, Execute, ExecuteMany, SaveRow

_DUE_AT = COLUMNS.index("due")
_NOT_THE_JOBS = (psycopg.OperationalError, psycopg_pool.PoolTimeout, ReadOnlySqlTransaction)

__all__ = ["PostgresStore"]

T = TypeVar("T")

# Every row of some cases, each case looked up in jobs_case on its own. The planner
# estimates "case_id = ANY(array)" from the column's statistics; until autovacuum has
# analyzed the table (minutes, on a new or fast-growing one) it takes each id for 1/200
# of the table and reads the whole table instead: a claim of 100 cases cost two
# sequential scans of jobs, 4 and 13 ms at 25,000 rows, and grew with the table. A
# OFFSET 0 keeps the subquery from being flattened, so its plan is made for one id, for
# which the index is always cheaper; the ids it finds are then looked up by key.
_OF_CASES = (
    "id = ANY(ARRAY(SELECT j.id FROM unnest(?::text[]) AS c(case_id) CROSS JOIN LATERAL "
    "(SELECT id FROM jobs WHERE jobs.case_id = c.case_id OFFSET 0) AS j))"
)

# The driver's loggers (a pool logs its failed connection attempts) are masked too.
for _name in ("psycopg", "psycopg.pool"):
    redacted_logger(_name)

logger = redacted_logger("actors.stores")


class PostgresStore(SqlStore):
    """Jobs in PostgreSQL, through a ``psycopg_pool.ConnectionPool``.

    Connections run in autocommit: a save is one statement (its job row and its
    step-history row together), and multi-statement operations run in an explicit
    transaction. Claims use ``SELECT ... FOR UPDATE SKIP LOCKED``; joins count arrivals
    under the parent row's lock (``SELECT ... FOR UPDATE``).

    Job data, events and arrivals are stored as JSON *text* made by the codec, not
    JSONB: text round-trips exactly (dict key order, NaN, the codec's tags as written)
    and the store never queries inside job data. A later migration can add a JSONB
    column if querying data in SQL is wanted.

    Args:
        url: a libpq URL (``postgresql://user:pass@host:5432/db`` or ``postgres://...``).
        codec: encodes job data (see ``SqlStore``).
        retain: how many finished jobs to keep (see ``SqlStore``).
        history: whether each save appends a step-history row (see ``SqlStore``).
        commit: ``"step"``, ``"slice"`` or ``"group"``: when saves commit (see ``SqlStore``).
        min_size: connections the pool keeps open.
        max_size: most connections the pool opens (threads beyond it wait ``timeout``).
        timeout: seconds to wait for a connection (also each connect's ``connect_timeout``).
        statement_timeout: seconds a statement may wait for the server (the server's
            ``statement_timeout``; the connection is cut half as long again later);
            ``None``: a third of the lease (``lease_seconds``), at least a second. Both
            are seconds above 0 up to a century (``ValueError`` otherwise); the server's
            bound stops at about 24.8 days.
        read_only: read only, in read-only transactions (see ``SqlStore``).
        group_wait: how long a group may wait for more slices (see ``SqlStore``).
    """

    max_version = 2**31 - 1  # jobs.version is an INTEGER column (migration 1)
    _limit_all = "LIMIT ALL"
    _for_update = " FOR UPDATE"
    _lock_wait_sql = "SELECT set_config('lock_timeout', ?, true)"  # this transaction's only
    _for_share = " FOR SHARE"
    _skip_locked = " FOR UPDATE SKIP LOCKED"
    _order = "seq"
    _listing_id = LISTING_ID[POSTGRES]
    _hint_indexes = False
    _text_times = False
    _free_from = "jobs"
    _free_served_from = "jobs"
    _held_served_by = "jobs"
    _held_by = "jobs"
    _held_order = ""
    _expired_from = "jobs"
    # A claim picks the oldest free roots by walking jobs_free in order until it has
    # enough. Until autovacuum has analyzed jobs, or while a burst of enqueued cases is
    # newer than its statistics, the planner takes the free roots for a few dozen,
    # reads them all through a bitmap and sorts them (1.7 ms a claim with 5,000 cases
    # waiting, against 0.1 walking the index). Without bitmap scans (for the claim's
    # transaction only) it walks the index; every other statement of a claim reads an
    # index either way.
    _claim_settings = ("SET LOCAL enable_bitmapscan = off",)
    _group_all = False  # saves outside a slice commit on their own (see SqlStore)
    _pack_history = True
    _id_array = True

    def __init__(  # noqa: PLR0913 - the store's options
        self,
        url: str,
        *,
        codec: Codec | None = None,
        retain: int | None = None,
        history: bool = True,
        commit: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
        read_only: bool = False,
        group_wait: float = GROUP_WAIT,
        statement_timeout: float | None = None,
    ) -> None:
        timeout, statement_timeout = checked_bounds(timeout, statement_timeout)  # first
        super().__init__(
            codec=codec,
            retain=retain,
            history=history,
            commit=commit,
            read_only=read_only,
            group_wait=group_wait,
        )
        if self._writer is not None:  # runners wait for room: see _group_room
            self._writer.limit(QUEUE_BOUND)
        remember_secrets(url)
        self.url = mask_url(url)
        self.wake_key = f"postgresql:{self.url}"
        self._raw_url = url  # for the listening connection, opened when a worker watches
        self._listener: Listener | None = None
        self._channel: str | None = None  # NOTIFY's: its schema's, looked up once
        self._listener_lock = threading.Lock()
        self._timeout = timeout
        self._statement_timeout = statement_timeout
        self._own_server_bound = own_statement_timeout(url)
        self._statements: dict[str, str] = {}
        self._statements_lock = threading.Lock()
        self._server_clock = ServerClock(self.url)
        self._deadlines = Deadlines()
        try:
            self._pool = open_pool(
                url,
                self.url,
                read_only=read_only,
                clock=self._server_clock,
                deadlines=self._deadlines,
                bound=self.statement_bound,
                server_bound=self._server_bound,
                min_size=min_size,
                max_size=max_size,
                timeout=timeout,
            )
        except BaseException:
            self._deadlines.close()  # its thread, started by the open's first statement
            raise

    def statement_bound(self) -> float:
        """Seconds a statement may wait for the server before it fails as an outage."""
        if self._statement_timeout is not None:
            return self._statement_timeout
        return max(MIN_BOUND, self.lease_seconds * STATEMENT_SHARE)

    def _server_bound(self) -> int | None:
        # The server keeps it as an int of milliseconds, and refuses more (every statement).
        bound = min(int(self.statement_bound() * 1000), LOCK_WAIT_MAX_MS)
        return None if self._own_server_bound else bound

    def _pg(self, sql: str) -> str:
        """``sql`` with ``%s`` placeholders (statements are written with ``?``)."""
        converted = self._statements.get(sql)
        if converted is None:
            converted = sql.replace("?", "%s")
            with self._statements_lock:
                self._statements[sql] = converted
        return converted

    def _params(self, job: JobRecord, now: float) -> tuple[Any, ...]:
        params = super()._params(job, now)
        if job.due is None or not self._server_clock.offset:
            return params
        due = self._server_clock.stored_due(job.due)
        return (*params[:_DUE_AT], due, *params[_DUE_AT + 1 :])  # timers on the server's clock

    def _record(self, row: Sequence[Any]) -> tuple[JobRecord, list[str]]:
        job, problems = super()._record(row)
        job.due = self._server_clock.local_due(job.due)
        return job, problems

    def lease_time(self, now: float) -> float:
        """``now`` on the server's clock: every worker of the database measures leases by it."""
        return now + self._server_clock.offset

    def _observe_clock(self, execute: Execute) -> None:
        self._server_clock.observe(lambda: _one(execute(SERVER_NOW, ()).fetchone()))

    def _write(self, fn: Callable[[Execute], T], what: str) -> T:
        return write(self._pool, self._pg, fn, partial(self._error, what))

    def _write_group(self, fn: Callable[[Execute, ExecuteMany], T], what: str) -> T:
        return write_group(self._pool, self._pg, fn, partial(self._error, what))

    def _put_group(
        self,
        execute: Execute,
        executemany: ExecuteMany,
        rows: list[SaveRow],
        stored: dict[str, Sequence[Any]],
    ) -> None:
        put_group(execute, rows, stored)

    def _join_reads(
        self, execute: Execute, parents: list[str], keys: list[tuple[str, int, int]]
    ) -> tuple[dict[tuple[str, int], int], set[tuple[str, int, int]]]:
        return join_reads(execute, parents, keys)

    def _of_cases(self, case_ids: list[str], marks: str) -> tuple[str, list[Any]]:
        return _OF_CASES, [case_ids]

    def _group_rows(self, execute: Execute, ids: list[str]) -> dict[str, Sequence[Any]]:
        # One statement, rows locked in insertion order (the order a claim locks a case).
        sql = f"SELECT {GROUP_READ} FROM jobs WHERE id = ANY(?) ORDER BY seq FOR UPDATE"
        return {row[0]: row for row in execute(sql, (ids,)).fetchall()}

    def _read(self, sql: str, params: Sequence[Any], what: str) -> list[Any]:
        try:
            return read_rows(self._pool, self._pg(sql), params, min(self._timeout, 1.0))
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise self._error(what, exc) from exc

    def _lock_timed_out(self, exc: BaseException | None) -> bool:
        return isinstance(exc, psycopg.errors.LockNotAvailable)

    def _error(self, what: str, exc: Exception) -> StoreError:
        cut = self._deadlines.expired()
        reason = f"no answer within {cut:.1f}s" if cut is not None else _describe(exc)
        reason += self._deadlines.stall_note()
        error = StoreError(f"{self.url}: cannot {what}: {reason}")
        # A lost connection, a pool with none to give or a server that takes no writes (a
        # standby after a failover: every write fails) says nothing of the job.
        error.blames_job = not isinstance(exc, _NOT_THE_JOBS)
        return error

    def _save_all(
        self, jobs: list[JobRecord], what: str, *, fence: bool = True, new: bool = False
    ) -> None:
        if getattr(self._slice, "pending", None) is not None:
            super()._save_all(jobs, what, fence=fence)  # grouped: stored with the slice
            return
        owner = self.owner
        fence = fence and owner is not None
        now = time.time()
        rows: list[tuple[Any, ...]]
        sql = self._pg(save_statement(new=new, fence=fence, history=self.keep_history))
        if self.keep_history:
            rows = [
                (
                    *self._params(job, now),
                    *((owner,) if fence else ()),
                    self._seq(),
                    job.step,
                    job.attempt,
                    job.state.value,
                    now,
                    owner,
                    storable_text(job.error),
                    self._started(now),
                )
                for job in jobs
            ]
        else:
            rows = [(*self._params(job, now), *((owner,) if fence else ())) for job in jobs]
        try:
            with self._pool.connection() as conn:
                if len(rows) == 1:  # the hot path: autocommit, one statement, one transaction
                    if conn.execute(sql, rows[0]).rowcount == 0:
                        if new:
                            raise Taken
                        if fence:
                            raise self._lost(lambda q, p: conn.execute(self._pg(q), p), jobs[0])
                else:
                    # A batch of admissions is one statement (see _pg_saves), if it is JSON.
                    many = json_rows(rows) if new else None
                    with conn.transaction(), conn.cursor() as cur:
                        if many is not None:
                            one = CREATE_MANY if self.keep_history else CREATE_MANY_BARE
                            stored = _one(cur.execute(self._pg(one), (many,)).fetchone())
                        else:
                            cur.executemany(sql, rows)  # rowcount: the rows of all of them
                            stored = cur.rowcount
                        if stored < len(rows):
                            if new:  # leaving the block rolls every row of the batch back
                                raise Taken
                            if fence:
                                raise lost_error(cur, jobs, self.owner)
        except Taken:
            held = self.existing([job.id for job in jobs])  # the batch is rolled back by now
            raise taken_error(jobs, held, self.url) from None
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise self._error(what, exc) from exc
        self._after_save(jobs)

    def _send_wake(self, topic: str) -> None:
        """Wake this database's workers in other processes by ``NOTIFY``."""
        try:
            with self._pool.connection() as conn:
                self._channel = notify_store(conn, self._channel, topic)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            # What woke them is stored: workers find it at their next poll instead.
            logger.warning("could not notify the workers of %s: %s", self.url, _describe(exc))

    def _listen(self) -> None:
        """Listen for ``NOTIFY`` from other processes, on a thread of this store's."""
        with self._listener_lock:
            if self._listener is None:
                params = connect_params(self._raw_url, self._timeout)
                self._listener = Listener(
                    self._raw_url,
                    str(self.wake_key),
                    self.url,
                    params,
                    self._deadlines,
                    self.statement_bound,
                )
                self._listener.start(self._timeout)

    def close(self) -> None:
        """Store what the writer thread holds, stop listening, close the connection pool."""
        self._close_writer()
        with self._listener_lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        self._pool.close()
        self._deadlines.close()


def _one(row: Sequence[Any] | None) -> Any:
    return None if row is None else row[0]
