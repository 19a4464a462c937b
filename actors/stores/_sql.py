"""What the SQLite and PostgreSQL stores share: the ``Store`` semantics over a ``jobs`` table.

A subclass supplies the connection handling (``_write`` runs a function inside one write
transaction, ``_read`` runs one query) and a few dialect details; everything else is
shared so the two backends cannot drift apart. This module holds the store's
configuration and its slices and group commit; its other parts are module-level functions
of the store, one module per concern: job reads and bad rows in ``_sql_reads``, saves,
deletes, pruning and step-history keys in ``_sql_saves``, claims and leases (a new row's
lease stamp too) in ``_sql_leases``, join arrivals in ``_sql_arrivals``; and two mixins:
the admin queries in ``_sql_admin``, the operator's requests in ``_sql_requests``. The
table's statements are in ``_statements``, the mapping of a job to a row and back in
``_rows``, and a join's bookkeeping in ``_joins``.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from actors._job import JobRecord
from actors._redact import mask_url, redacted_logger
from actors.stores import _sql_arrivals as sql_arrivals
from actors.stores import _sql_cancel_mark as sql_cancel_mark
from actors.stores import _sql_leases as sql_leases
from actors.stores import _sql_reads as sql_reads
from actors.stores import _sql_saves as sql_saves
from actors.stores import _sql_tries as sql_tries
from actors.stores import _sql_workers as sql_workers
from actors.stores import _unfinished_facts
from actors.stores._base import Store
from actors.stores._codec import DEFAULT_CODEC, Codec
from actors.stores._group import GroupWriter, Slice
from actors.stores._group_transaction import GroupTransaction, join_reads
from actors.stores._rows import read_row, row_params
from actors.stores._schema import LISTING_ID, SQLITE
from actors.stores._sql_admin import SqlAdmin
from actors.stores._sql_requests import SqlRequests
from actors.stores._statements import (
    Execute,
    ExecuteMany,
    SaveRow,
    group_rows,
)

__all__ = ["SqlStore", "mask_url"]

logger = redacted_logger("actors.stores")

T = TypeVar("T")

_COMMIT_MODES = ("step", "slice", "group")
GROUP_WAIT = 0.005
"""With ``commit="group"``: the longest, in seconds, the writer waits for the slices the
engine is about to make to join a group (only while it has work under way)."""


class SqlStore(SqlAdmin, SqlRequests, Store):
    """Base of the SQL stores: the ``Store`` semantics over a ``jobs`` table.

    Args:
        codec: encodes job data and event payloads (``DEFAULT_CODEC`` unless given).
        retain: keep at most about this many finished jobs (``None``, the default, keeps
            them all: a durable store is also the record of what ran). Pruning runs in
            batches of ``retain // 10`` final saves, oldest finished first, and takes
            their step history with them.
        history: append a ``step_history`` row on every save (the default). Off, a save
            writes one B-tree page instead of two: about twice the SQLite save rate.
        commit: ``"group"`` (the default; ``"step"`` when read-only): a runner's saves
            of one job, from taking it to parking, splitting, joining or ending it (its
            slice), are stored together,
            and the runner does not wait for them: one writer thread stores every slice
            waiting, from all runners, in one transaction, and only then are the
            runners' reports sent to the Scheduler, so nothing the Scheduler acts on is
            unsaved. A crash re-runs the steps of the slices not yet stored
            (at-least-once either way; idempotency keys do not change). Saves outside a
            slice (admissions, the Scheduler's own) are stored before the call returns.
            ``"slice"`` commits each slice on the runner, before the Scheduler hears of
            the job; ``"step"`` commits every save on its own, so a crash re-runs only the
            last step. Both are slower: see ``benchmarks/README.md`` for the figures.
        read_only: open the database for reading only (what ``actors status`` and
            ``actors jobs show`` do): it must exist and hold the current schema (nothing
            is created or upgraded), the database itself refuses writes, and a row that
            cannot be read comes back FAULTED without being saved so.
        group_wait: with ``commit="group"``, the longest (seconds, 0 to 1; 5 ms by
            default) the writer waits for more slices to join a group, and only while
            the engine has work under way that will bring one (a job running or ready, a
            case being admitted, a report the Scheduler has not read). A lone case never
            waits; under load each commit serves many workflows. 0: never wait.
    """

    # Dialect details, set by subclasses.
    _limit_all = "LIMIT -1"  # "LIMIT ALL" in PostgreSQL
    _for_update = ""  # " FOR UPDATE" in PostgreSQL (SQLite's BEGIN IMMEDIATE locks all)
    _for_share = ""  # " FOR SHARE" in PostgreSQL
    _skip_locked = ""  # " FOR UPDATE SKIP LOCKED" in PostgreSQL
    _order = "rowid"  # insertion order: "seq" in PostgreSQL
    _listing_id = LISTING_ID[SQLITE]  # ids by code point, as listings order them
    _hint_indexes = True
    _text_times = True  # REAL columns keep text written by hand (PostgreSQL: NaN)
    # Where a claim finds free roots, and the roots of a holder (see _claim_pick.py):
    # SQLite's planner, with no statistics, may prefer jobs_claimable (the held ones too).
    # None: no index of the free roots in insertion order (SQLite's went in migration
    # 16), so a claim for any workflow reads each workflow's through jobs_free_served.
    _free_from: str | None = None
    _free_served_from = "jobs INDEXED BY jobs_free_served"
    _held_served_by = "jobs INDEXED BY jobs_lease"  # keyed by worker, workflow, version
    _held_by = "jobs INDEXED BY jobs_lease"
    # A stopped holder's cases, oldest first: SQLite's index keeps them in rowid order
    # (PostgreSQL's does not, and would sort them all for the first few: any will do).
    _held_order = " ORDER BY rowid"
    _expired_from = "jobs INDEXED BY jobs_claim"
    # Statements that open a claim's transaction (PostgreSQL's planner settings).
    _claim_settings: tuple[str, ...] = ()
    _worker_row: str | None = None  # the worker whose lease this store extended on creating
    # With commit="group": whether saves outside a slice go through the writer too (a
    # SQLite writer process: see SqliteStore). PostgreSQL writes rows concurrently, and a
    # caller waiting for a whole group would wait longer than for its own commit.
    _group_all = True
    # Whether a transaction's saves of one job share one step_history row (see
    # stores/_history_rows.py). It pays where a row costs the server more than encoding
    # the entries as JSON costs the worker: on PostgreSQL (12% of its CPU on W), not on
    # SQLite (its writer thread's CPU rose by 2%).
    _pack_history = False
    # Whether the admin reads of many ids pass them as one array (``= ANY(?)``) rather
    # than an ``IN`` list of one ``?`` each: PostgreSQL plans it once, and psycopg parses
    # a statement of more than 50 parameters afresh at every call.
    _id_array = False
    # With commit="slice" or "group": a slice that has grouped this many saves stores
    # them and groups afresh, so a long loop's saves are stored as it runs.
    slice_rows = 1000

    def __init__(
        self,
        *,
        codec: Codec | None = None,
        retain: int | None = None,
        history: bool = True,
        commit: str | None = None,
        read_only: bool = False,
        group_wait: float = GROUP_WAIT,
    ) -> None:
        if commit is None:  # group commit, unless there is nothing to commit
            commit = "step" if read_only else "group"
        if read_only and commit != "step":
            msg = f"a read-only store commits nothing: commit must be 'step', not {commit!r}"
            raise ValueError(msg)
        self.read_only = read_only
        if commit not in _COMMIT_MODES:
            msg = f"commit must be one of {', '.join(map(repr, _COMMIT_MODES))}, got {commit!r}"
            raise ValueError(msg)
        self.commit = commit
        self._slice = threading.local()
        self._writer: GroupWriter | None = None
        if commit == "group":
            if type(group_wait) not in (int, float) or not 0 <= group_wait <= 1:
                msg = f"group_wait must be a number of seconds from 0 to 1, got {group_wait!r}"
                raise ValueError(msg)
            self._writer = GroupWriter(
                self._store_group, name=f"actors-writer-{id(self):x}", wait=group_wait
            )
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
        # The expiry this store last wrote to each worker's lease (see _lease_twins).
        self._leases_written: dict[str, float] = {}
        self._twins_told: set[str] = set()

    # -- what a subclass provides ---------------------------------------------------------------

    def _observe_clock(self, execute: Execute) -> None:
        """In a heartbeat's transaction: read the server's clock, if leases go by it."""

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
        return row_params(job, now, self.codec, self._new_lease(job, now))

    def _record(self, row: Sequence[Any]) -> tuple[JobRecord, list[str]]:
        """The record a row holds, and what is wrong with the row (nothing, normally)."""
        return read_row(row, self.codec)

    def _started(self, now: float) -> float | None:
        """When the step a save ends began (``None`` outside a runner's slice).

        Inside a slice: the slice's start, or the save before. The Scheduler's saves run
        no step.
        """
        slice_ = self._slice
        began: float | None = getattr(slice_, "began", None)
        if began is not None:
            slice_.began = now
        return began

    def finish_writes(self) -> None:
        """With ``commit="group"``: store what the writer holds, and stop it (see ``Store``)."""
        self._close_writer()

    def pace(self, busy: Callable[[int], bool] | None) -> None:
        """With ``commit="group"``: the engine's hint of work under way (see ``GroupWriter``)."""
        if self._writer is not None:
            self._writer.busy = busy

    def begin_slice(self, *, alone: bool = False) -> None:
        """Start grouping this thread's saves (``commit="slice"`` or ``"group"``).

        In every mode it notes when the slice began, for the step history. ``alone``:
        with ``"group"``, the writer stores this slice in a transaction of its own.
        """
        self._slice.began = time.time()
        if self.commit == "slice":
            self._slice.pending = []
        elif self._writer is not None:
            part = Slice(alone=alone)
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
        self._slice.began = None
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

        Runs on the writer thread; ``GroupTransaction`` says how a group is judged.
        """
        group = GroupTransaction(self, slices)
        rows = self._write_group(group.write, f"store a group of {len(slices)} slice(s)")
        if self.retain is not None:
            self._after_save([job for _, _, job in rows])
        return group.results

    def _group_rows(self, execute: Execute, ids: list[str]) -> dict[str, Sequence[Any]]:
        """The ``GROUP_READ`` columns of the rows ``ids`` (those that exist), by id."""
        return group_rows(execute, ids, self._for_update)

    def _join_reads(
        self, execute: Execute, parents: list[str], keys: list[tuple[str, int, int]]
    ) -> tuple[dict[tuple[str, int], int], set[tuple[str, int, int]]]:
        """What a group reads of its joins (``join_reads``)."""
        return join_reads(execute, parents, keys)

    def _put_group(
        self,
        execute: Execute,
        executemany: ExecuteMany,
        rows: list[SaveRow],
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

    def _take_pending(self) -> list[SaveRow]:
        pending = getattr(self._slice, "pending", None)
        if not pending:
            return []
        self._slice.pending = []
        return list(pending)

    # -- the parts: module-level functions of the store, one module per concern --------------

    # Job reads (``_sql_reads``): a bad row comes back FAULTED, and is saved so.
    _records = sql_reads.records
    _recorded_arrivals = sql_reads.recorded_arrivals
    _fault_bad_row = sql_reads.fault_bad_row
    _one = sql_reads.one
    existing = sql_reads.existing
    load = sql_reads.load
    get = sql_reads.get
    unfinished = sql_reads.unfinished
    counts = sql_reads.counts
    unfinished_facts = _unfinished_facts.of_sql
    history = sql_reads.history
    due_timers = sql_reads.due_timers

    # Writes (``_sql_saves``): saves fenced by lease stamps, their history keys, deletes, pruning.
    _seq = sql_saves.history_seq
    _save_all = sql_saves.save_all
    _admit_one = sql_saves.admit_one
    _row = sql_saves.save_row
    _lost = sql_saves.lost
    _commit_rows = sql_saves.commit_rows
    _put_rows = sql_saves.put_rows
    _after_save = sql_saves.after_save
    _save_one = sql_saves.save_one
    create = sql_saves.create
    create_many = sql_saves.create_many
    save = sql_saves.save
    save_split = sql_saves.save_split
    delete = sql_saves.delete
    prune = sql_saves.prune

    # Claims and leases (``_sql_leases``), and the lease of a row the store creates.
    _live_roots = property(sql_leases.live_roots)
    _new_lease = sql_leases.new_lease
    _lease_worker = sql_leases.lease_worker

    def _of_cases(self, case_ids: list[str], marks: str) -> tuple[str, list[Any]]:
        """A condition on ``jobs`` naming every row of the cases ``case_ids``, and its params."""
        return f"case_id IN ({marks})", list(case_ids)

    claim = sql_leases.claim
    count_try = sql_tries.count_try
    count_tries = sql_tries.count_tries
    unclaimed = sql_leases.unclaimed
    leases_held = sql_workers.leases_held
    worker_leases = sql_workers.worker_leases
    heartbeat = sql_leases.heartbeat
    mark_cancel = sql_cancel_mark.mark_cancel
    lease_owners = sql_leases.lease_owners
    release = sql_leases.release

    # Join arrivals (``_sql_arrivals``).
    record_arrival = sql_arrivals.record_arrival
    arrived_branches = sql_arrivals.arrived_branches
    ended_branches = sql_arrivals.ended_branches
