"""What the SQLite and PostgreSQL stores share: rows, statements and the Store semantics.

A subclass supplies the connection handling (``_write`` runs a function inside one write
transaction, ``_read`` runs one query) and a few dialect details; everything else, from
how a ``JobRecord`` maps to a row to how a bad row becomes a FAULTED job, lives here so
the two backends cannot drift apart. Statements are written with ``?`` placeholders; the
PostgreSQL store rewrites them to ``%s``. Every value reaches SQL as a parameter.
"""

from __future__ import annotations

import abc
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from actors._errors import CodecError, JobNotFoundError, LeaseLostError
from actors._job import FINAL_STATES, Job, JobRecord, JobState
from actors.stores._base import Store
from actors.stores._codec import DEFAULT_CODEC, Codec
from actors.stores._group import Arrival, GroupWriter, Slice

__all__ = [
    "COLUMNS",
    "FENCE",
    "GROUP_READ",
    "HISTORY",
    "SELECT_LIST",
    "UPSERT",
    "UPSERT_FENCED",
    "Execute",
    "ExecuteMany",
    "SqlStore",
    "in_lists",
    "latest",
    "mask_url",
]

logger = logging.getLogger("actors.stores")

T = TypeVar("T")

# Runs one statement inside the current transaction and returns a DB-API cursor.
Execute = Callable[[str, Sequence[Any]], Any]
# Runs one statement once per parameter tuple, inside the current transaction.
ExecuteMany = Callable[[str, Sequence[Sequence[Any]]], Any]

_STATE_VALUES = {s.value: s for s in JobState}
_FINAL_VALUES = tuple(sorted(s.value for s in FINAL_STATES))
_RUNNING = JobState.RUNNING.value
_READY = JobState.READY.value
_WAITING = JobState.WAITING.value
_FAULTED = JobState.FAULTED.value

# The record's own columns, in the order of JobRecord's fields.
COLUMNS = (
    "id",
    "case_id",
    "workflow",
    "version",
    "step",
    "data",
    "state",
    "parent_id",
    "branch_index",
    "attempt",
    "error",
    "due",
    "event",
    "split_step",
    "split_total",
    "split_live",
    "arrivals",
    "join_step",
    "joined",
    "branch_error",
    "branch_cancelled",
    "gen",
    "parent_gen",
    "cancel_requested",
)
SELECT_LIST = ", ".join(COLUMNS)
_MARKS = ", ".join("?" for _ in COLUMNS)
_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])

# One statement creates or replaces a job, so save() needs no read first. The insertion
# order (SQLite's rowid, PostgreSQL's seq) and created_at survive a replace.
#
# Leases: every row of a case carries the worker that holds the case in lease_owner (a
# stamp: rows a worker creates are stamped with it, a claim stamps every row of the case),
# and the case's root also carries the lease's expiry, which heartbeats renew. A save
# leaves the stamp alone; a final save clears the expiry but keeps the stamp, so a worker
# that lost the case stays fenced out of it even once the case has ended.
UPSERT = f"""
INSERT INTO jobs ({SELECT_LIST}, created_at, updated_at, finished_at, lease_owner, lease_expires)
VALUES ({_MARKS}, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET {_UPDATES},
    updated_at = excluded.updated_at,
    finished_at = CASE WHEN excluded.finished_at IS NULL THEN NULL
                       ELSE COALESCE(jobs.finished_at, excluded.finished_at) END,
    lease_expires = CASE WHEN excluded.finished_at IS NULL THEN jobs.lease_expires END
"""
# The same, fenced: an existing row is replaced only if no other worker's stamp is on it
# (the one parameter more is the saving worker). The check is part of the write, so
# nothing can change the stamp between the two; a fenced upsert changes no row.
FENCE = "jobs.lease_owner IS NULL OR jobs.lease_owner = ?"
UPSERT_FENCED = f"{UPSERT}WHERE {FENCE}\n"
HISTORY = (
    "INSERT INTO step_history (job_id, seq, step, attempt, state, at) VALUES (?, ?, ?, ?, ?, ?)"
)

# Who a job's row is stamped with, and its case (read only to name a fenced save's holder).
_STAMP_OF = "SELECT case_id, lease_owner FROM jobs WHERE id = ?"

_PROBLEM_PREFIX = "stored job row is unreadable"

_COMMIT_MODES = ("step", "slice", "group")

# What a group's transaction reads of every row it writes or counts an arrival at: the
# stamp (the fence) and the columns a join arrival updates.
GROUP_READ = "id, lease_owner, case_id, gen, split_total, joined, arrivals, state"
# Where those columns (after the stamp) sit in a save's parameters, and the stamp of a
# new row (the parameters end: created_at, updated_at, finished_at, lease_owner, expiry).
_JOIN_COLUMNS_AT = tuple(
    COLUMNS.index(c) for c in ("case_id", "gen", "split_total", "joined", "arrivals", "state")
)
_STAMP_AT = -2


def in_lists(ids: Sequence[str]) -> Iterator[tuple[list[str], str]]:
    """``ids`` in chunks small enough for one statement, each with its ``?`` marks.

    SQLite allows 999 parameters per statement at the least; 500 leaves room for others.
    """
    for i in range(0, len(ids), 500):
        chunk = list(ids[i : i + 500])
        yield chunk, ", ".join("?" for _ in chunk)


def latest(
    rows: list[tuple[tuple[Any, ...], Any, JobRecord]],
) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """A group's rows as written: each job's parameters as last saved, and every history row."""
    last = {job.id: params for params, _, job in rows}
    return list(last.values()), [h for _, h, _ in rows if h is not None]


_PASSWORD = re.compile(r"(://[^:/@?#]*:)[^@/?#]*@")
_PASSWORD_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and ``Store.url``)."""
    return _PASSWORD_PARAM.sub(r"\1***", _PASSWORD.sub(r"\1***@", url))


class SqlStore(Store):
    """Base of the SQL stores: the ``Store`` semantics over a ``jobs`` table.

    Args:
        codec: encodes job data and event payloads (``DEFAULT_CODEC`` unless given).
        retain: keep at most about this many finished jobs (``None``, the default, keeps
            them all: a durable store is also the record of what ran). Pruning runs in
            batches of ``retain // 10`` final saves, oldest finished first, and takes
            their step history with them.
        history: append a ``step_history`` row on every save (the default). Off, a save
            writes one B-tree page instead of two: about twice the SQLite save rate.
        commit: ``"step"`` (the default) commits every save on its own. ``"slice"``
            groups the saves a runner makes while it runs one job (from taking it to
            parking, splitting, joining or ending it) into one transaction, committed
            before the Scheduler hears of the job: several times the throughput, and a
            crash re-runs the steps of the slice in flight rather than just the last
            step (at-least-once either way; idempotency keys do not change).
            ``"group"`` stores slices the same way, but the runner does not wait: one
            writer thread stores every slice waiting, from all runners, in one
            transaction, and only then are the runners' reports sent to the Scheduler.
            Many times the throughput again; what a crash re-runs is the same as with
            ``"slice"`` (the slices not yet stored).
    """

    # Dialect details, set by subclasses.
    _limit_all = "LIMIT -1"  # "LIMIT ALL" in PostgreSQL
    _for_update = ""  # " FOR UPDATE" in PostgreSQL (SQLite's BEGIN IMMEDIATE locks all)
    _for_share = ""  # " FOR SHARE" in PostgreSQL
    _skip_locked = ""  # " FOR UPDATE SKIP LOCKED" in PostgreSQL
    _order = "rowid"  # insertion order: "seq" in PostgreSQL
    # With commit="group": whether saves outside a slice go through the writer too. Yes
    # where the database has one write lock (SQLite); PostgreSQL writes rows concurrently,
    # and a caller waiting for a whole group would wait longer than for its own commit.
    _group_all = True

    def __init__(
        self,
        *,
        codec: Codec | None = None,
        retain: int | None = None,
        history: bool = True,
        commit: str = "step",
    ) -> None:
        if commit not in _COMMIT_MODES:
            msg = f"commit must be one of {', '.join(map(repr, _COMMIT_MODES))}, got {commit!r}"
            raise ValueError(msg)
        self.commit = commit
        self._slice = threading.local()
        self._writer: GroupWriter | None = None
        if commit == "group":
            self._writer = GroupWriter(self._store_group, name=f"actors-writer-{id(self):x}")
            self.background_commit = True
        if retain is not None and (type(retain) is not int or retain < 0):
            msg = f"retain must be None or an int >= 0, got {retain!r}"
            raise ValueError(msg)
        self.codec = codec if codec is not None else DEFAULT_CODEC
        self.retain = retain
        self.keep_history = history
        self._finals = 0  # final saves since the last prune
        self._finals_lock = threading.Lock()
        self._last_seq = threading.local()  # per thread: no lock for runners to queue on
        self.shared = True  # several processes may work on one database

    def _new_lease(self, job: JobRecord, now: float) -> tuple[str | None, float | None]:
        """The stamp and expiry of a row this store inserts (an update keeps the stored ones).

        A worker's store stamps every row it creates with the worker; an unfinished root
        also gets a lease expiry. Without an owner (a single process, ``enqueue``) rows
        are nobody's.
        """
        owner = self.owner
        if owner is None:
            return None, None
        if job.parent_id is not None or job.state in FINAL_STATES:
            return owner, None
        return owner, now + self.lease_seconds

    @property
    def _live_roots(self) -> str:
        """The roots whose lease a worker (the one parameter) holds, locked in order.

        Insertion order is the order in which claims and a group commit lock rows, so a
        heartbeat or a release never deadlocks with them (PostgreSQL; SQLite locks the
        whole file).
        """
        return (
            "SELECT id FROM jobs WHERE lease_owner = ? AND parent_id IS NULL "
            f"AND lease_expires IS NOT NULL ORDER BY {self._order}{self._for_update}"
        )

    def _seq(self) -> int:
        """A step-history key: nanoseconds since the epoch, strictly increasing per thread.

        Unique per job: two saves of one job on one thread get increasing keys, and two
        on different threads (a runner's, then the Scheduler's; one worker's, then the
        next holder's) are ordered by the messages or the lease between them, which take
        far longer than a nanosecond. A shared counter would need a lock that every
        save of every runner queues on.
        """
        last = self._last_seq
        seq = time.time_ns()
        previous = getattr(last, "seq", 0)
        if seq <= previous:
            seq = previous + 1
        last.seq = seq
        return seq

    # -- what a subclass provides ---------------------------------------------------------------

    @abc.abstractmethod
    def _write(self, fn: Callable[[Execute], T], what: str) -> T:
        """Run ``fn(execute)`` in one write transaction; commit, or roll back and raise.

        ``execute`` takes statements with ``?`` placeholders. ``what`` names the
        operation in a ``StoreError``.
        """

    @abc.abstractmethod
    def _read(self, sql: str, params: Sequence[Any], what: str) -> list[Any]:
        """Rows of one query (``sql`` uses ``?`` placeholders)."""

    # -- rows ---------------------------------------------------------------------------------

    def _params(self, job: JobRecord, now: float) -> tuple[Any, ...]:
        codec = self.codec
        where = f"data of job {job.id}"
        data = codec.encode(job.data, where)
        event = None
        if job.event is not None:
            event = codec.encode(list(job.event), f"event of job {job.id}")
        arrivals = None
        if job.arrivals:
            arrivals = codec.encode(job.arrivals, f"arrivals of job {job.id}")
        state = job.state.value
        return (
            job.id,
            job.case_id,
            job.workflow,
            job.version,
            job.step,
            data,
            state,
            job.parent_id,
            job.branch_index,
            job.attempt,
            job.error,
            job.due,
            event,
            job.split_step,
            job.split_total,
            job.split_live,
            arrivals,
            job.join_step,
            bool(job.joined),
            job.branch_error,
            bool(job.branch_cancelled),
            job.gen,
            job.parent_gen,
            bool(job.cancel_requested),
            now,
            now,
            now if job.state in FINAL_STATES else None,
            *self._new_lease(job, now),
        )

    def _record(self, row: Sequence[Any]) -> tuple[JobRecord, list[str]]:
        """The record a row holds, and what is wrong with the row (nothing, normally)."""
        problems: list[str] = []
        r = _RowReader(row, problems)
        job_id = r.text(0, "id", fallback="?")
        job = JobRecord(
            id=job_id,
            case_id=r.text(1, "case_id", fallback=job_id),
            workflow=r.text(2, "workflow", fallback="?"),
            version=r.integer(3, "version", fallback=0),
            step=r.text_or_none(4, "step"),
            data=self._decode(row[5], f"data of job {job_id}", problems),
            state=r.state(6),
            parent_id=r.text_or_none(7, "parent_id"),
            branch_index=r.integer_or_none(8, "branch_index"),
            attempt=r.integer(9, "attempt", fallback=1),
            error=r.text_or_none(10, "error"),
            due=r.number_or_none(11, "due"),
            event=self._event(row[12], job_id, problems),
            split_step=r.text_or_none(13, "split_step"),
            split_total=r.integer(14, "split_total", fallback=0),
            split_live=r.integer(15, "split_live", fallback=0),
            arrivals=self._arrivals(row[16], job_id, problems),
            join_step=r.text_or_none(17, "join_step"),
            joined=r.flag(18, "joined"),
            branch_error=r.text_or_none(19, "branch_error"),
            branch_cancelled=r.flag(20, "branch_cancelled"),
            gen=r.integer(21, "gen", fallback=0),
            parent_gen=r.integer(22, "parent_gen", fallback=0),
            cancel_requested=r.flag(23, "cancel_requested"),
        )
        return job, problems

    def _decode(self, text: Any, what: str, problems: list[str]) -> Any:
        if text is None:
            problems.append(f"{what} is NULL")
            return None
        try:
            return self.codec.decode(text, what)
        except CodecError as exc:
            problems.append(str(exc))
            return None

    def _event(self, text: Any, job_id: str, problems: list[str]) -> tuple[str, str, Any] | None:
        if text is None:
            return None
        what = f"event of job {job_id}"
        before = len(problems)
        value = self._decode(text, what, problems)
        if len(problems) > before:
            return None
        if (
            isinstance(value, list)
            and len(value) == 3
            and isinstance(value[0], str)
            and isinstance(value[1], str)
        ):
            return (value[0], value[1], value[2])
        problems.append(f"{what} is not a [kind, name, payload] list: {text!r:.80}")
        return None

    def _arrivals(self, text: Any, job_id: str, problems: list[str]) -> dict[int, Any]:
        if text is None:
            return {}
        what = f"arrivals of job {job_id}"
        before = len(problems)
        value = self._decode(text, what, problems)
        if len(problems) > before:
            return {}
        if isinstance(value, dict) and all(type(k) is int for k in value):
            return value
        problems.append(f"{what} is not a map of branch index to data: {text!r:.80}")
        return {}

    def _records(self, rows: list[Any]) -> list[JobRecord]:
        """Records of ``rows``; a bad row comes back FAULTED (and is saved so)."""
        out = []
        for row in rows:
            job, problems = self._record(row)
            if problems:
                self._fault_bad_row(job, row, problems)
            out.append(job)
        return out

    def _fault_bad_row(self, job: JobRecord, row: Sequence[Any], problems: list[str]) -> None:
        """Mark a job whose row cannot be read FAULTED, naming what is wrong.

        Only the state, error and lease are written: the unreadable columns stay as they
        are for someone to inspect. A worker reading the row keeps running.
        """
        why = f"{_PROBLEM_PREFIX}: {'; '.join(problems)}"
        job.state, job.error = JobState.FAULTED, why
        if row[6] == _FAULTED:
            return  # already FAULTED in the store: nothing to save
        logger.error("job %s: %s", job.id, why)
        now = time.time()

        def mark(execute: Execute) -> None:
            execute(
                "UPDATE jobs SET state = ?, error = ?, finished_at = ?, updated_at = ?, "
                "lease_expires = NULL WHERE id = ?",
                (_FAULTED, why, now, now, job.id),
            )
            if self.keep_history:
                execute(HISTORY, (job.id, self._seq(), job.step, job.attempt, _FAULTED, now))

        try:
            self._write(mark, f"mark unreadable job {job.id} FAULTED")
        except Exception:  # the caller still gets the FAULTED job; the store may be down
            logger.exception("could not save job %s as FAULTED", job.id)

    # -- Store ----------------------------------------------------------------------------------

    def _save_all(self, jobs: list[JobRecord], what: str, *, fence: bool = True) -> None:
        now = time.time()
        # Encode before the transaction: a CodecError then costs no lock and no rollback.
        rows = [self._row(job, now) for job in jobs]
        pending = getattr(self._slice, "pending", None)
        if pending is not None:  # grouped: committed at the end of the runner's slice
            pending.extend(rows)
            return
        if self._writer is not None and self._group_all and not self._writer.is_current():
            # A save outside a runner's slice (an admission, the Scheduler's) joins the
            # writer's next group: no second writer competes for the database's lock.
            self._writer.store(Slice(rows=rows, fence=fence))
            return
        fence = fence and self.owner is not None
        self._write(lambda execute: self._put_rows(execute, rows, fence=fence), what)
        self._after_save(jobs)

    def _row(self, job: JobRecord, now: float) -> tuple[tuple[Any, ...], Any, JobRecord]:
        history = None
        if self.keep_history:
            history = (job.id, self._seq(), job.step, job.attempt, job.state.value, now)
        return self._params(job, now), history, job

    def _lost(self, execute: Execute, job: JobRecord) -> LeaseLostError:
        """The error for a fenced save of ``job``, naming who holds its row (the rare path)."""
        row = execute(_STAMP_OF, (job.id,)).fetchone()
        case_id = row[0] if row is not None and row[0] is not None else job.case_id
        holder = row[1] if row is not None and row[1] is not None else "another worker"
        return LeaseLostError(job.id, case_id, holder, self.owner)

    def _commit_rows(
        self, execute: Execute, rows: list[tuple[tuple[Any, ...], Any, JobRecord]]
    ) -> None:
        """Write ``rows``, fenced when the store has an owner (inside one write transaction)."""
        self._put_rows(execute, rows, fence=self.owner is not None)

    def _put_rows(
        self,
        execute: Execute,
        rows: list[tuple[tuple[Any, ...], Any, JobRecord]],
        *,
        fence: bool = False,
    ) -> None:
        """Write ``rows`` (inside the caller's write transaction).

        Fenced, raise ``LeaseLostError`` at the first row another worker's stamp
        protects; the caller's transaction then rolls back.
        """
        last = {job.id: (params, job) for params, _, job in rows}  # the row ends as last saved
        owner = self.owner
        for params, job in last.values():
            if not fence:
                execute(UPSERT, params)
            elif execute(UPSERT_FENCED, (*params, owner)).rowcount == 0:
                raise self._lost(execute, job)
        for _, history, _ in rows:
            if history is not None:
                execute(HISTORY, history)

    def begin_slice(self) -> None:
        """Start grouping this thread's saves (``commit="slice"`` or ``"group"``)."""
        if self.commit == "slice":
            self._slice.pending = []
        elif self._writer is not None:
            part = Slice()
            self._slice.part = part
            self._slice.pending = part.rows

    def end_slice(self, then: Callable[[BaseException | None], None] | None = None) -> None:
        """Store this thread's grouped saves: now, or (``"group"`` with ``then``) soon.

        ``commit="slice"`` commits them in one transaction before returning. With
        ``commit="group"`` the slice goes to the writer thread: without ``then`` this
        waits until it is stored (and raises why not); with ``then`` it returns at once
        and the writer calls ``then(None)`` once the slice is stored, or ``then(error)``.
        """
        pending = getattr(self._slice, "pending", None)
        part: Slice | None = getattr(self._slice, "part", None)
        self._slice.pending = None
        self._slice.part = None
        if self._writer is not None:
            # Even an empty slice goes through the writer when it has a callback, so the
            # callbacks run on one thread, in order.
            if then is not None:
                self._writer.submit(part or Slice(), then)
            elif part is not None and (part.rows or part.arrivals):
                self._writer.store(part)
            return
        if pending:
            self._write(lambda execute: self._commit_rows(execute, pending), "commit a slice")
            self._after_save([job for _, _, job in pending])
        if then is not None:
            then(None)

    # -- group commit ------------------------------------------------------------------------

    def _store_group(self, slices: list[Slice]) -> list[BaseException | None]:
        """Store ``slices`` in one transaction; per slice, ``None`` or why it was left out.

        Runs on the writer thread. Every row the group writes, and every parent it counts
        an arrival at, is read first in the transaction (and locked, in PostgreSQL), so
        the fence is checked once per row instead of in every statement: a slice with a
        row another worker's stamp is on (``LeaseLostError``), or an arrival at a parent
        that is missing or unreadable, is left out alone and the others are stored.
        Rows are then written together, each job once as last saved, with a history row
        per save; the arrivals at a parent are counted in memory and stored in one update.
        """
        results: list[BaseException | None] = [None] * len(slices)
        if not any(part.rows or part.arrivals for part in slices):
            return results

        def write(execute: Execute, executemany: ExecuteMany) -> list[Any]:
            results[:] = [None] * len(slices)  # a retried transaction starts over
            ids = {job.id for part in slices for _, _, job in part.rows}
            ids.update(arrival.parent_id for part in slices for arrival in part.arrivals)
            stored = self._group_rows(execute, sorted(ids))
            # The rows as the slices before the current one left them: a slice is judged,
            # and its arrivals counted, as if the earlier ones had been stored on their own.
            # Only the rows of parents that arrivals count at matter for that.
            saved: dict[str, Sequence[Any]] = {}
            parents = {arrival.parent_id for part in slices for arrival in part.arrivals}
            joins: dict[str, _Join] = {}
            rows: list[Any] = []
            for k, part in enumerate(slices):
                try:
                    self._admit_slice(part, stored, saved, joins)
                except (LeaseLostError, JobNotFoundError, CodecError) as exc:
                    results[k] = exc
                    continue
                for a in part.arrivals:
                    join = joins[a.parent_id]
                    join.arrive(self, a.gen, a.branch_index, a.data, a.join_step, a.needed)
                for params, _, job in part.rows:
                    if job.id in parents:
                        # A saved row replaces whatever arrivals were counted at it so far.
                        joins.pop(job.id, None)
                        before = saved.get(job.id) or stored.get(job.id)
                        stamp = before[1] if before is not None else params[_STAMP_AT]
                        saved[job.id] = (job.id, stamp, *(params[i] for i in _JOIN_COLUMNS_AT))
                rows.extend(part.rows)
            self._put_group(execute, executemany, rows, stored)
            # One executemany per statement shape: pipelined on PostgreSQL, where one
            # round trip per parent would otherwise add up in a group of hundreds.
            updates: dict[str, list[tuple[Any, ...]]] = {}
            for join in joins.values():
                if join.changed:
                    sql, params = join.update(self)
                    updates.setdefault(sql, []).append(params)
            for sql, many in updates.items():
                executemany(sql, many)
            return rows

        rows = self._write_group(write, f"store a group of {len(slices)} slice(s)")
        self._after_save([job for _, _, job in rows])
        return results

    def _admit_slice(
        self,
        part: Slice,
        stored: Mapping[str, Sequence[Any]],
        saved: Mapping[str, Sequence[Any]],
        joins: dict[str, _Join],
    ) -> None:
        """Raise why ``part`` cannot be stored; else make ready the joins its arrivals count at.

        ``stored``: the rows as the transaction read them (their stamps do not change
        within it); ``saved``: parents' rows as earlier slices of the group saved them.
        """
        owner = self.owner
        if owner is not None and part.fence:
            for _, _, job in part.rows:
                row = stored.get(job.id)
                if row is not None and row[1] not in (None, owner):
                    raise LeaseLostError(job.id, row[2], row[1], owner)
            for arrival in part.arrivals:
                row = stored.get(arrival.parent_id)
                if row is not None and row[1] not in (None, owner):
                    raise LeaseLostError(arrival.parent_id, row[2], row[1], owner)
        fresh: dict[str, _Join] = {}
        for arrival in part.arrivals:
            pid = arrival.parent_id
            join = joins.get(pid) or fresh.get(pid)
            if join is None:
                row = saved.get(pid) or stored.get(pid)
                if row is None:
                    msg = f"no job {pid!r} to record branch {arrival.branch_index}'s arrival at"
                    raise JobNotFoundError(msg)
                join = fresh[pid] = _Join(pid, row[3:8])
            if join.counts(arrival.gen):
                join.arrivals(self)  # readable, or CodecError before anything counts
        joins.update(fresh)

    def _group_rows(self, execute: Execute, ids: list[str]) -> dict[str, Sequence[Any]]:
        """The ``GROUP_READ`` columns of the rows ``ids`` (those that exist), by id."""
        out: dict[str, Sequence[Any]] = {}
        for chunk, marks in in_lists(ids):
            sql = f"SELECT {GROUP_READ} FROM jobs WHERE id IN ({marks}){self._for_update}"
            out.update((row[0], row) for row in execute(sql, chunk).fetchall())
        return out

    def _put_group(
        self,
        execute: Execute,
        executemany: ExecuteMany,
        rows: list[tuple[tuple[Any, ...], Any, JobRecord]],
        stored: dict[str, Sequence[Any]],
    ) -> None:  # pragma: no cover - each backend provides it
        """Write a group's rows, unfenced (its transaction checked the stamps already).

        ``stored`` holds the rows that existed before the group (see ``latest``).
        """
        raise NotImplementedError

    def _write_group(
        self, fn: Callable[[Execute, ExecuteMany], T], what: str
    ) -> T:  # pragma: no cover - each backend provides it
        """Run ``fn(execute, executemany)`` in one write transaction (as ``_write`` does)."""
        raise NotImplementedError

    def group_stats(self) -> tuple[int, int] | None:
        """With ``commit="group"``: (transactions, slices) the writer has stored so far.

        Slices per transaction is how much each commit was shared; ``None`` in the
        other modes.
        """
        if self._writer is None:
            return None
        return self._writer.groups, self._writer.slices

    def _close_writer(self) -> None:
        """Store what the writer thread still holds and stop it (before connections close)."""
        if self._writer is not None:
            self._writer.close()

    def _take_pending(self) -> list[tuple[tuple[Any, ...], Any, JobRecord]]:
        pending = getattr(self._slice, "pending", None)
        if not pending:
            return []
        self._slice.pending = []
        return list(pending)

    def _after_save(self, jobs: list[JobRecord]) -> None:
        if self.retain is None:
            return
        finals = sum(1 for job in jobs if job.state in FINAL_STATES)
        if not finals:
            return
        with self._finals_lock:
            self._finals += finals
            due = self._finals >= max(1, self.retain // 10)
            if due:
                self._finals = 0
        if due:
            self.prune()

    def create(self, job: JobRecord) -> None:
        """Save a newly admitted job (state READY)."""
        self._save_all([job], f"create job {job.id}", fence=False)

    def save(self, job: JobRecord) -> None:
        """Save ``job`` after a step: every field of the record, and a step-history row."""
        if self._writer is None and getattr(self._slice, "pending", None) is None:
            self._save_one(job)  # a backend's fast path for a save of its own
        else:
            self._save_all([job], f"save job {job.id}")

    def _save_one(self, job: JobRecord) -> None:
        """The hot path (one save per step); a backend may specialise it."""
        self._save_all([job], f"save job {job.id}")

    def save_split(self, parent: JobRecord, branches: list[JobRecord]) -> None:
        """Save a parent that split together with its new branches, in one transaction."""
        self._save_all([parent, *branches], f"save the split of job {parent.id}")

    def delete(self, job_id: str) -> None:
        """Forget a job (and its step history) whose admission was refused."""

        def write(execute: Execute) -> None:
            execute("DELETE FROM step_history WHERE job_id = ?", (job_id,))
            execute("DELETE FROM jobs WHERE id = ?", (job_id,))

        self._write(write, f"delete job {job_id}")

    def _one(self, job_id: str) -> JobRecord | None:
        rows = self._read(
            f"SELECT {SELECT_LIST} FROM jobs WHERE id = ?", (job_id,), f"load {job_id}"
        )
        return self._records(rows)[0] if rows else None

    def load(self, job_id: str) -> JobRecord | None:
        """A fresh record of the job as last saved, or ``None``."""
        return self._one(job_id)

    def get(self, job_id: str) -> Job | None:
        """A snapshot of the job as last saved, or ``None`` when the store has no such job."""
        job = self._one(job_id)
        return job.snapshot() if job is not None else None

    def unfinished(self) -> list[JobRecord]:
        """Every job not in a final state, oldest first.

        A row that cannot be read comes back FAULTED (and is saved so), so whoever
        resumes these jobs learns of it instead of failing.
        """
        marks = ", ".join("?" for _ in _FINAL_VALUES)
        rows = self._read(
            f"SELECT {SELECT_LIST} FROM jobs WHERE state NOT IN ({marks}) ORDER BY {self._order}",
            _FINAL_VALUES,
            "list unfinished jobs",
        )
        return self._records(rows)

    def counts(self) -> dict[JobState, int]:
        """How many jobs the store holds in each state (unknown state strings are skipped)."""
        rows = self._read("SELECT state, COUNT(*) FROM jobs GROUP BY state", (), "count jobs")
        out = dict.fromkeys(JobState, 0)
        for state, n in rows:
            known = _STATE_VALUES.get(state)
            if known is not None:
                out[known] += int(n)
        return out

    def history(self, job_id: str) -> list[tuple[str | None, int, str, float]]:
        """The job's saves, oldest first: (step, attempt, state, wall-clock time)."""
        rows = self._read(
            "SELECT step, attempt, state, at FROM step_history WHERE job_id = ? ORDER BY seq",
            (job_id,),
            f"read the history of job {job_id}",
        )
        return [(step, int(attempt), state, float(at)) for step, attempt, state, at in rows]

    def prune(self, retain: int | None = None) -> int:
        """Delete all but the ``retain`` most recently finished jobs; return how many went."""
        keep = self.retain if retain is None else retain
        if keep is None:
            return 0
        oldest = (
            "SELECT id FROM jobs WHERE finished_at IS NOT NULL "
            f"ORDER BY finished_at DESC, id DESC {self._limit_all} OFFSET ?"
        )

        def write(execute: Execute) -> int:
            execute(f"DELETE FROM step_history WHERE job_id IN ({oldest})", (keep,))
            cur = execute(f"DELETE FROM jobs WHERE id IN ({oldest})", (keep,))
            return int(cur.rowcount)

        return self._write(write, "prune finished jobs")

    # -- multi-worker groundwork -------------------------------------------------------------------

    def claim(
        self,
        owner: str,
        now: float,
        lease_seconds: float,
        limit: int,
        *,
        case_id: str | None = None,
        reclaim: bool = False,
    ) -> list[JobRecord]:
        """Take up to ``limit`` free cases for ``owner``; return their unfinished jobs.

        Atomic per case: the lease is taken on the root row inside the transaction
        (``FOR UPDATE SKIP LOCKED`` in PostgreSQL, so concurrent claimers never wait on
        each other), and each case goes to one caller only. Every row of a claimed case
        is stamped with ``owner`` in the same transaction, which fences the previous
        holder's saves out of all of them. A case is free when its root is unfinished
        and its lease has no expiry (never taken, or released) or has expired. A row
        that cannot be read comes back FAULTED (and is saved so).
        """
        if limit <= 0:
            return []
        marks = ", ".join("?" for _ in _FINAL_VALUES)
        one = " AND id = ?" if case_id is not None else ""
        mine = " OR lease_owner = ?" if reclaim else ""
        pick = (
            f"SELECT id FROM jobs WHERE parent_id IS NULL AND state NOT IN ({marks}) "
            f"AND (lease_expires IS NULL OR lease_expires < ?{mine}){one} "
            f"ORDER BY {self._order} LIMIT ?{self._skip_locked}"
        )
        state_at = COLUMNS.index("state")

        def write(execute: Execute) -> list[Any]:
            params: tuple[Any, ...] = (*_FINAL_VALUES, now)
            if reclaim:
                params += (owner,)
            if case_id is not None:
                params += (case_id,)
            roots = [row[0] for row in execute(pick, (*params, limit)).fetchall()]
            rows: list[Any] = []
            # A few statements for all the cases taken, not a few per case.
            for chunk, marks in in_lists(roots):
                execute(
                    f"UPDATE jobs SET lease_expires = ? WHERE id IN ({marks})",
                    (now + lease_seconds, *chunk),
                )
                # Every row of those cases, locked in insertion order (a parent before
                # its branches, the order a join arrival and a group lock them in too),
                # then stamped with the new owner.
                found = execute(
                    f"SELECT {SELECT_LIST} FROM jobs WHERE case_id IN ({marks}) "
                    f"ORDER BY {self._order}{self._for_update}",
                    chunk,
                ).fetchall()
                execute(
                    f"UPDATE jobs SET lease_owner = ? WHERE case_id IN ({marks})", (owner, *chunk)
                )
                rows.extend(row for row in found if row[state_at] not in _FINAL_VALUES)
            return rows

        return self._records(self._write(write, f"claim cases for {owner!r}"))

    def heartbeat(self, owner: str, now: float, lease_seconds: float) -> int:
        """Extend to ``now + lease_seconds`` the lease of every case ``owner`` holds.

        Returns how many cases (roots) were renewed. Only a root's lease expires; an
        ended or released case has no expiry left to renew.
        """

        def write(execute: Execute) -> int:
            cur = execute(
                f"UPDATE jobs SET lease_expires = ? WHERE id IN ({self._live_roots})",
                (now + lease_seconds, owner),
            )
            return int(cur.rowcount)

        return self._write(write, f"heartbeat of {owner!r}")

    def lease_owners(self, case_ids: list[str]) -> dict[str, str | None]:
        """Which worker each of these cases belongs to (``None``: nobody); unknown ids left out.

        The worker stamped on the case's root: its holder, or the worker that last held it
        if the case has ended or was released since.
        """
        out: dict[str, str | None] = {}
        for chunk, marks in in_lists(case_ids):
            rows = self._read(
                f"SELECT id, lease_owner FROM jobs WHERE id IN ({marks})",
                chunk,
                "read the leases of cases",
            )
            out.update((row[0], row[1]) for row in rows)
        return out

    def release(self, owner: str) -> int:
        """Give up every lease ``owner`` holds; those cases resume wherever claimed next.

        Returns how many cases were released. The leases lose their expiry, which makes
        the cases free to claim at once; the rows keep their stamps until then, so the
        worker that held a case before ``owner`` stays fenced out of it.
        """

        def write(execute: Execute) -> int:
            cur = execute(
                f"UPDATE jobs SET lease_expires = NULL WHERE id IN ({self._live_roots})",
                (owner,),
            )
            return int(cur.rowcount)

        return self._write(write, f"release the leases of {owner!r}")

    def record_arrival(
        self,
        parent_id: str,
        gen: int,
        branch_index: int,
        data: Any,
        *,
        join_step: str | None = None,
        needed: int | None = None,
    ) -> tuple[int, int] | None:
        """Record that branch ``branch_index`` of split ``gen`` of ``parent_id`` reached its join.

        Returns ``(arrived, total)`` as counted in the same transaction, so exactly one
        call per split sees ``arrived == total`` however many workers record at once.
        ``arrived == 0`` means the call counted nothing: the branch had already been
        recorded (a retry), the split is not the parent's current one (``gen``), or the
        parent has already joined. With ``join_step``, the call that completes the split
        also makes the parent READY at ``join_step`` with the join event, so the join is
        durable the moment it fires. Raises ``JobNotFoundError`` for an unknown parent.
        Inside a runner's slice with ``commit="group"`` the arrival is stored with the
        slice, by the writer thread, and the call returns ``None``.
        """
        encoded = self.codec.encode(data, f"data of branch {branch_index} of job {parent_id}")
        part: Slice | None = getattr(self._slice, "part", None)
        if part is not None:  # stored with the slice, by the writer thread
            part.arrivals.append(Arrival(parent_id, gen, branch_index, encoded, join_step, needed))
            return None
        select = (
            "SELECT gen, split_total, joined, arrivals, state, case_id, lease_owner "
            "FROM jobs WHERE id = ?" + self._for_update
        )
        owner = self.owner

        pending = self._take_pending()  # the slice's saves commit with the arrival

        def write(execute: Execute) -> tuple[int, int]:
            # The parent row first, locked (FOR UPDATE in PostgreSQL) for the count and
            # fenced by its own stamp; then the branch's grouped saves (its slice: never
            # the parent), fenced by theirs. A parent is locked before its branches, the
            # order in which a claim locks a case's rows, so the two never deadlock.
            row = execute(select, (parent_id,)).fetchone()
            if owner is not None and row is not None and row[6] not in (None, owner):
                raise LeaseLostError(parent_id, row[5], row[6], owner)
            self._put_rows(execute, pending, fence=owner is not None)
            if row is None:
                msg = f"no job {parent_id!r} to record branch {branch_index}'s arrival at"
                raise JobNotFoundError(msg)
            join = _Join(parent_id, row)
            counted = join.arrive(self, gen, branch_index, encoded, join_step, needed)
            if join.changed:
                execute(*join.update(self))
            return counted

        return self._write(write, f"record an arrival at job {parent_id}")

    def due_timers(self, now: float) -> list[str]:
        """Ids of WAITING jobs whose due time is at or before ``now``, earliest first."""
        rows = self._read(
            "SELECT id FROM jobs WHERE due <= ? AND state = ? ORDER BY due",
            (now, _WAITING),
            "list due timers",
        )
        return [row[0] for row in rows]


class _Join:
    """A parent's join bookkeeping as read in a write transaction, and arrivals counted on it.

    ``row`` starts ``gen, split_total, joined, arrivals, state``. Counting is in memory;
    ``update`` is the one statement that stores what changed.
    """

    __slots__ = ("decoded", "final", "fired", "gen", "id", "joined", "n", "step", "text", "total")

    def __init__(self, parent_id: str, row: Sequence[Any]) -> None:
        self.gen, total, joined, self.text, state = row[:5]
        self.id = parent_id
        self.total = int(total or 0)
        self.joined = bool(joined)
        self.final = state in _FINAL_VALUES
        self.decoded: dict[int, Any] | None = None
        self.step: str | None = None  # the join step to remember, once an arrival names it
        self.fired = False
        self.n = 0  # arrivals counted

    @property
    def changed(self) -> bool:
        """Whether an arrival was counted (so there is something to store)."""
        return self.n > 0

    def arrivals(self, store: SqlStore) -> dict[int, Any]:
        """The arrivals stored so far (decoded once); ``CodecError`` if they are unreadable."""
        if self.decoded is None:
            problems: list[str] = []
            value = store._arrivals(self.text, self.id, problems)
            if problems:
                raise CodecError("; ".join(problems))
            self.decoded = value
        return self.decoded

    def counts(self, gen: int) -> bool:
        """Whether an arrival for split ``gen`` would be counted (not stale, not too late)."""
        return gen == self.gen and not self.joined and not self.final and self.total > 0

    def arrive(
        self,
        store: SqlStore,
        gen: int,
        branch_index: int,
        encoded: str,
        join_step: str | None,
        needed: int | None,
    ) -> tuple[int, int]:
        """Count one arrival; ``(arrived, total)``, ``arrived == 0`` when it counts nothing."""
        if not self.counts(gen):
            return 0, self.total
        arrivals = self.arrivals(store)
        if branch_index in arrivals:
            return 0, self.total
        arrivals[branch_index] = store.codec.decode(encoded)
        self.n += 1
        arrived = len(arrivals)
        if join_step is not None:
            self.step = join_step
            if arrived >= (needed or self.total):
                self.joined = self.fired = True
        return arrived, self.total

    def update(self, store: SqlStore) -> tuple[str, tuple[Any, ...]]:
        """The statement that stores the counted arrivals (and the join, if it fired)."""
        assert self.decoded is not None
        sets = "arrivals = ?, updated_at = ?"
        params: list[Any] = [store.codec.encode(self.decoded), time.time()]
        if self.fired:
            event = store.codec.encode(["join", self.step, None])
            sets += ", joined = ?, state = ?, step = ?, join_step = ?, event = ?, due = NULL"
            params += [True, _READY, self.step, self.step, event]
        elif self.step is not None:
            sets += ", join_step = ?"
            params.append(self.step)
        return f"UPDATE jobs SET {sets} WHERE id = ?", (*params, self.id)


class _RowReader:
    """Reads typed columns of a row, noting (not raising) what does not fit."""

    def __init__(self, row: Sequence[Any], problems: list[str]) -> None:
        self.row = row
        self.problems = problems

    def _bad(self, name: str, expected: str, value: Any) -> None:
        self.problems.append(f"column {name} holds {value!r:.80} (expected {expected})")

    def text(self, i: int, name: str, *, fallback: str) -> str:
        value = self.row[i]
        if isinstance(value, str):
            return value
        self._bad(name, "text", value)
        return fallback if value is None else str(value)

    def text_or_none(self, i: int, name: str) -> str | None:
        value = self.row[i]
        if value is None or isinstance(value, str):
            return value
        self._bad(name, "text or NULL", value)
        return str(value)

    def integer(self, i: int, name: str, *, fallback: int) -> int:
        value = self.row[i]
        if type(value) is int:
            return value
        self._bad(name, "an integer", value)
        return fallback

    def integer_or_none(self, i: int, name: str) -> int | None:
        value = self.row[i]
        if value is None or type(value) is int:
            return value
        self._bad(name, "an integer or NULL", value)
        return None

    def number_or_none(self, i: int, name: str) -> float | None:
        value = self.row[i]
        if value is None:
            return None
        if type(value) in (int, float):
            return float(value)
        self._bad(name, "a number or NULL", value)
        return None

    def flag(self, i: int, name: str) -> bool:
        value = self.row[i]
        if type(value) is bool or value in (0, 1):
            return bool(value)
        self._bad(name, "a boolean", value)
        return False

    def state(self, i: int) -> JobState:
        value = self.row[i]
        known = _STATE_VALUES.get(value) if isinstance(value, str) else None
        if known is not None:
            return known
        self.problems.append(f"unknown state {value!r:.40} (known: {', '.join(_STATE_VALUES)})")
        return JobState.FAULTED
