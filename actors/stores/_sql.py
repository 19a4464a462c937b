"""What the SQLite and PostgreSQL stores share: the ``Store`` semantics over a ``jobs`` table.

A subclass supplies the connection handling (``_write`` runs a function inside one write
transaction, ``_read`` runs one query) and a few dialect details; everything else, from
saves and claims to how a bad row becomes a FAULTED job, lives here so the two backends
cannot drift apart. The table's statements are in ``_statements``, the mapping of a job
to a row and back in ``_rows``, and a join's bookkeeping in ``_joins``.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from actors._errors import CodecError, JobNotFoundError, LeaseLostError
from actors._job import FINAL_STATES, Job, JobRecord, JobState, branch_fault
from actors._redact import mask_url, redacted_logger
from actors.stores._base import Store
from actors.stores._codec import DEFAULT_CODEC, Codec
from actors.stores._group import Arrival, GroupWriter, Slice
from actors.stores._group_transaction import GroupTransaction
from actors.stores._joins import ADD_ARRIVAL, ARRIVALS_OF, COUNT_OF, PUT_COUNT, JoinCount
from actors.stores._rows import read_row, row_params
from actors.stores._sql_admin import SqlAdmin
from actors.stores._statements import (
    COLUMNS,
    FAULTED_VALUE,
    FINAL_VALUES,
    HISTORY,
    SELECT_LIST,
    STAMP_OF,
    STATE_VALUES,
    UPSERT,
    UPSERT_FENCED,
    WAITING_VALUE,
    Execute,
    ExecuteMany,
    SaveRow,
    group_rows,
    in_lists,
)

__all__ = ["SqlStore", "mask_url"]

logger = redacted_logger("actors.stores")

T = TypeVar("T")

_PROBLEM_PREFIX = "stored job row is unreadable"

_COMMIT_MODES = ("step", "slice", "group")


class SqlStore(SqlAdmin, Store):
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
    """

    # Dialect details, set by subclasses.
    _limit_all = "LIMIT -1"  # "LIMIT ALL" in PostgreSQL
    _for_update = ""  # " FOR UPDATE" in PostgreSQL (SQLite's BEGIN IMMEDIATE locks all)
    _for_share = ""  # " FOR SHARE" in PostgreSQL
    _skip_locked = ""  # " FOR UPDATE SKIP LOCKED" in PostgreSQL
    _order = "rowid"  # insertion order: "seq" in PostgreSQL
    # With commit="group": whether saves outside a slice go through the writer too (a
    # SQLite writer process: see SqliteStore). PostgreSQL writes rows concurrently, and a
    # caller waiting for a whole group would wait longer than for its own commit.
    _group_all = True

    def __init__(
        self,
        *,
        codec: Codec | None = None,
        retain: int | None = None,
        history: bool = True,
        commit: str | None = None,
        read_only: bool = False,
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
        return row_params(job, now, self.codec, self._new_lease(job, now))

    def _record(self, row: Sequence[Any]) -> tuple[JobRecord, list[str]]:
        """The record a row holds, and what is wrong with the row (nothing, normally)."""
        return read_row(row, self.codec)

    def _records(self, rows: list[Any]) -> list[JobRecord]:
        """Records of ``rows``; a bad row comes back FAULTED (and is saved so)."""
        out = []
        for row in rows:
            job, problems = self._record(row)
            if job.split_total > 0 and not problems:
                self._recorded_arrivals(job, problems)
            if problems:
                self._fault_bad_row(job, row, problems)
            out.append(job)
        return out

    def _recorded_arrivals(self, job: JobRecord, problems: list[str]) -> None:
        """Add to ``job.arrivals`` those recorded for its current split (``join_arrivals``)."""
        rows = self._read(ARRIVALS_OF, (job.id, job.gen), f"read the arrivals at job {job.id}")
        for index, text in rows:
            what = f"arrival of branch {index} at job {job.id}"
            try:
                job.arrivals.setdefault(int(index), self.codec.decode(text, what))
            except CodecError as exc:
                problems.append(str(exc))

    def _fault_bad_row(self, job: JobRecord, row: Sequence[Any], problems: list[str]) -> None:
        """Mark a job whose row cannot be read FAULTED, naming what is wrong.

        Only the state, error and lease are written: the unreadable columns stay as they
        are for someone to inspect. A worker reading the row keeps running.
        """
        why = f"{_PROBLEM_PREFIX}: {'; '.join(problems)}"
        job.state, job.error = JobState.FAULTED, why
        if row[6] == FAULTED_VALUE or self.read_only:
            return  # already FAULTED in the store, or only looked at: nothing to save
        logger.error("job %s: %s", job.id, why)
        now = time.time()

        def mark(execute: Execute) -> None:
            execute(
                "UPDATE jobs SET state = ?, error = ?, finished_at = ?, updated_at = ?, "
                "lease_expires = NULL WHERE id = ?",
                (FAULTED_VALUE, why, now, now, job.id),
            )
            if self.keep_history:
                execute(
                    HISTORY,
                    (
                        job.id,
                        self._seq(),
                        job.step,
                        job.attempt,
                        FAULTED_VALUE,
                        now,
                        None,
                        why,
                        None,
                    ),
                )
            if job.parent_id is not None and job.branch_index is not None:
                # The split's parent learns why now: whoever resumes it (this worker, or
                # another after a crash) ends its join with this reason, not a bare count.
                execute(
                    "UPDATE jobs SET branch_error = ? WHERE id = ? AND gen = ? "
                    "AND branch_error IS NULL AND joined = ?",
                    (branch_fault(job), job.parent_id, job.parent_gen, False),
                )

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

    def _row(self, job: JobRecord, now: float) -> SaveRow:
        history = None
        if self.keep_history:
            history = (
                job.id,
                self._seq(),
                job.step,
                job.attempt,
                job.state.value,
                now,
                self.owner,
                job.error,
                self._started(now),
            )
        return self._params(job, now), history, job

    def _lost(self, execute: Execute, job: JobRecord) -> LeaseLostError:
        """The error for a fenced save of ``job``, naming who holds its row (the rare path)."""
        row = execute(STAMP_OF, (job.id,)).fetchone()
        case_id = row[0] if row is not None and row[0] is not None else job.case_id
        holder = row[1] if row is not None and row[1] is not None else "another worker"
        return LeaseLostError(job.id, case_id, holder, self.owner)

    def _commit_rows(self, execute: Execute, rows: list[SaveRow]) -> None:
        """Write ``rows``, fenced when the store has an owner (inside one write transaction)."""
        self._put_rows(execute, rows, fence=self.owner is not None)

    def _put_rows(
        self,
        execute: Execute,
        rows: list[SaveRow],
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

    def begin_slice(self) -> None:
        """Start grouping this thread's saves (``commit="slice"`` or ``"group"``).

        In every mode it notes when the slice began, for the step history.
        """
        self._slice.began = time.time()
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
        self._after_save([job for _, _, job in rows])
        return group.results

    def _group_rows(self, execute: Execute, ids: list[str]) -> dict[str, Sequence[Any]]:
        """The ``GROUP_READ`` columns of the rows ``ids`` (those that exist), by id."""
        return group_rows(execute, ids, self._for_update)

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

    def create_many(self, jobs: list[JobRecord]) -> None:
        """Save newly admitted jobs in one transaction: all of them, or none.

        A ``CodecError`` names the batch item (its position in ``jobs``) it is about.
        """
        try:
            self._save_all(jobs, f"create {len(jobs)} jobs", fence=False)
        except CodecError as exc:
            for k, job in enumerate(jobs):  # only on failure: which item was it?
                try:
                    self._params(job, 0.0)
                except CodecError as item:
                    raise CodecError(f"batch item {k}: {item}") from exc
            raise

    def existing(self, job_ids: Sequence[str]) -> set[str]:
        """Which of ``job_ids`` the store holds (a few queries, however many ids)."""
        found: set[str] = set()
        for chunk, marks in in_lists(list(job_ids)):
            rows = self._read(f"SELECT id FROM jobs WHERE id IN ({marks})", chunk, "look up jobs")
            found.update(row[0] for row in rows)
        return found

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
            execute("DELETE FROM join_arrivals WHERE parent_id = ?", (job_id,))
            execute("DELETE FROM join_counts WHERE parent_id = ?", (job_id,))
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
        marks = ", ".join("?" for _ in FINAL_VALUES)
        rows = self._read(
            f"SELECT {SELECT_LIST} FROM jobs WHERE state NOT IN ({marks}) ORDER BY {self._order}",
            FINAL_VALUES,
            "list unfinished jobs",
        )
        return self._records(rows)

    def counts(self) -> dict[JobState, int]:
        """How many jobs the store holds in each state (unknown state strings are skipped)."""
        rows = self._read("SELECT state, COUNT(*) FROM jobs GROUP BY state", (), "count jobs")
        out = dict.fromkeys(JobState, 0)
        for state, n in rows:
            known = STATE_VALUES.get(state)
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
            execute(f"DELETE FROM join_arrivals WHERE parent_id IN ({oldest})", (keep,))
            execute(f"DELETE FROM join_counts WHERE parent_id IN ({oldest})", (keep,))
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
        workflows: Collection[tuple[str, int]] | None = None,
    ) -> list[JobRecord]:
        """Take up to ``limit`` free cases for ``owner``; return their unfinished jobs.

        Atomic per case: the lease is taken on the root row inside the transaction
        (``FOR UPDATE SKIP LOCKED`` in PostgreSQL, so concurrent claimers never wait on
        each other), and each case goes to one caller only. Every row of a claimed case
        is stamped with ``owner`` in the same transaction, which fences the previous
        holder's saves out of all of them. A case is free when its root is unfinished
        and its lease has no expiry (never taken, or released) or has expired. A row
        that cannot be read comes back FAULTED (and is saved so). With ``workflows``
        only cases of those ``(name, version)`` pairs are taken (none if it is empty).
        """
        served = None if workflows is None else sorted(set(workflows))
        if limit <= 0 or served == []:
            return []
        marks = ", ".join("?" for _ in FINAL_VALUES)
        one = " AND id = ?" if case_id is not None else ""
        if served is not None:
            one += " AND (" + " OR ".join("(workflow = ? AND version = ?)" for _ in served) + ")"
        pick = (
            f"SELECT id FROM jobs WHERE parent_id IS NULL AND state NOT IN ({marks}) "
            f"AND (lease_expires IS NULL OR lease_expires < ?){one} "
            f"ORDER BY {self._order} LIMIT ?{self._skip_locked}"
        )
        state_at = COLUMNS.index("state")

        def write(execute: Execute) -> list[Any]:
            if reclaim:
                # Every case the owner still holds is made free first, in this
                # transaction: it takes back what fits in ``limit``, oldest first, and
                # the rest are free for the next claim, its own or another worker's.
                # Kept, they would be renewed by its heartbeats and never run.
                execute(
                    f"UPDATE jobs SET lease_expires = NULL WHERE id IN ({self._live_roots})",
                    (owner,),
                )
            params: tuple[Any, ...] = (*FINAL_VALUES, now)
            if case_id is not None:
                params += (case_id,)
            for name, version in served or ():
                params += (name, version)
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
                rows.extend(row for row in found if row[state_at] not in FINAL_VALUES)
            return rows

        return self._records(self._write(write, f"claim cases for {owner!r}"))

    def unclaimed(self, now: float) -> dict[tuple[str, int], int]:
        """Unfinished cases no live worker holds, by ``(workflow, version)``."""
        marks = ", ".join("?" for _ in FINAL_VALUES)
        rows = self._read(
            "SELECT workflow, version, COUNT(*) FROM jobs WHERE parent_id IS NULL "
            f"AND state NOT IN ({marks}) AND (lease_expires IS NULL OR lease_expires < ?) "
            "GROUP BY workflow, version",
            (*FINAL_VALUES, now),
            "count unclaimed cases",
        )
        return {(str(name), int(version)): int(n) for name, version, n in rows}

    def heartbeat(self, owner: str, now: float, lease_seconds: float) -> int:
        """Extend to ``now + lease_seconds`` the lease of every case ``owner`` holds.

        Returns how many cases (roots) were renewed. Only a root's lease expires; an
        ended or released case has no expiry left to renew.
        """
        expiry = now + lease_seconds
        renew = f"UPDATE jobs SET lease_expires = ? WHERE id IN ({self._live_roots})"
        what = f"heartbeat of {owner!r}"
        if not self._skip_locked:  # SQLite: one transaction on the whole file
            return self._write(lambda execute: int(execute(renew, (expiry, owner)).rowcount), what)
        # PostgreSQL: the worker's own group commits lock its roots as they save them. A
        # renewal that waited on each in turn (in order) would wait on one group after
        # another, and hold up the later groups meanwhile. So first renew every root no
        # transaction holds, without waiting; then the few left, waiting (in order) for
        # the groups that hold them. Every live root is renewed to ``expiry`` either way.
        free = renew.replace(self._for_update, self._skip_locked)
        first = self._write(lambda execute: int(execute(free, (expiry, owner)).rowcount), what)
        rest = renew.replace(" ORDER BY", " AND lease_expires <> ? ORDER BY")
        return first + self._write(
            lambda execute: int(execute(rest, (expiry, owner, expiry)).rowcount), what
        )

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
            "SELECT gen, split_total, joined, arrivals, state, join_step, case_id, lease_owner "
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
            if owner is not None and row is not None and row[7] not in (None, owner):
                raise LeaseLostError(parent_id, row[6], row[7], owner)
            self._put_rows(execute, pending, fence=owner is not None)
            if row is None:
                msg = f"no job {parent_id!r} to record branch {branch_index}'s arrival at"
                raise JobNotFoundError(msg)
            count = execute(COUNT_OF, (parent_id, row[0])).fetchone()
            join = JoinCount(parent_id, row, count[0] if count is not None else 0)
            if not join.counts(gen):
                return 0, join.total
            join.check(self.codec)  # readable, or CodecError before anything is written
            new = execute(ADD_ARRIVAL, (parent_id, gen, branch_index, encoded)).rowcount == 1
            counted = join.arrive(self.codec, gen, branch_index, join_step, needed, new=new)
            if join.changed:
                execute(PUT_COUNT, join.count_params())
                update = join.update(self.codec)
                if update is not None:
                    execute(*update)
            return counted

        return self._write(write, f"record an arrival at job {parent_id}")

    def due_timers(self, now: float) -> list[str]:
        """Ids of WAITING jobs whose due time is at or before ``now``, earliest first."""
        rows = self._read(
            "SELECT id FROM jobs WHERE due <= ? AND state = ? ORDER BY due",
            (now, WAITING_VALUE),
            "list due timers",
        )
        return [row[0] for row in rows]
