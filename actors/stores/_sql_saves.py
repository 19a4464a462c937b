"""The SQL store's writes: saving jobs (fenced by their lease stamps), deleting and pruning.

Functions of a ``SqlStore`` (its methods of the same names). A save encodes its rows
before the transaction, then joins the runner's slice, the writer's next group, or
commits on its own. Each save's step-history entry is keyed by ``history_seq``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from actors._errors import CodecError, JobExistsError, LeaseLostError
from actors._job import FINAL_STATES, JobRecord
from actors.stores._group import Slice
from actors.stores._history_rows import PACKED, pack
from actors.stores._rows import storable_text
from actors.stores._statements import (
    DATA_AT,
    HISTORY,
    STAMP_OF,
    UPSERT,
    UPSERT_FENCED,
    Execute,
    SaveRow,
)

if TYPE_CHECKING:
    from actors.stores._sql import SqlStore


def save_all(
    store: SqlStore, jobs: list[JobRecord], what: str, *, fence: bool = True, new: bool = False
) -> None:
    """Save ``jobs`` in one transaction (or the runner's slice); ``new``: just admitted."""
    now = time.time()
    # Encode before the transaction: a CodecError then costs no lock and no rollback.
    rows = [store._row(job, now) for job in jobs]
    pending = getattr(store._slice, "pending", None)
    if pending is not None:  # grouped: committed at the end of the runner's slice
        pending.extend(rows)
        return
    if store._writer is not None and store._group_all and not store._writer.is_current():
        # A save outside a runner's slice (an admission, the Scheduler's) joins the
        # writer's next group: no second writer competes for the database's lock.
        try:
            store._writer.store(Slice(rows=rows, fence=fence))
        except JobExistsError as exc:  # named by the writer, which does not know the URL
            raise JobExistsError(f"{exc} in {store.url}") from None
        return
    fence = fence and store.owner is not None
    if new and len(rows) == 1:  # a case admitted: its store may have a quicker way
        store._admit_one(rows[0], what)
    else:
        store._write(lambda execute: store._put_rows(execute, rows, fence=fence, new=new), what)
    store._after_save(jobs)


def admit_one(store: SqlStore, row: SaveRow, what: str) -> None:
    """Store one admitted job's row and history row in a transaction of their own.

    Raises ``JobExistsError`` if a job holds its id.
    """
    store._write(lambda execute: store._put_rows(execute, [row], new=True), what)


def history_seq(store: SqlStore) -> int:
    """A step-history key: nanoseconds since the epoch, strictly increasing per thread.

    Unique per job: two saves of one job on one thread get increasing keys, and two
    on different threads (a runner's, then the Scheduler's; one worker's, then the
    next holder's) are ordered by the messages or the lease between them, which take
    far longer than a nanosecond. A shared counter would need a lock that every
    save of every runner queues on.
    """
    last = store._last_seq
    seq = time.time_ns()
    previous = getattr(last, "seq", 0)
    if seq <= previous:
        seq = previous + 1
    last.seq = seq
    return seq


def save_row(store: SqlStore, job: JobRecord, now: float) -> SaveRow:
    history = None
    if store.keep_history:
        error = job.error
        history = (
            job.id,
            store._seq(),
            job.step,
            job.attempt,
            job.state._value_,  # a plain attribute (.value is a descriptor)
            now,
            store.owner,
            error if error is None else storable_text(error),
            store._started(now),
        )
    return store._params(job, now), history, job


def lost(store: SqlStore, execute: Execute, job: JobRecord) -> LeaseLostError:
    """The error for a fenced save of ``job``, naming who holds its row (the rare path)."""
    row = execute(STAMP_OF, (job.id,)).fetchone()
    case_id = row[0] if row is not None and row[0] is not None else job.case_id
    holder = row[1] if row is not None and row[1] is not None else "another worker"
    return LeaseLostError(job.id, case_id, holder, store.owner)


def commit_rows(store: SqlStore, execute: Execute, rows: list[SaveRow]) -> None:
    """Write ``rows``, fenced when the store has an owner (inside one write transaction)."""
    store._put_rows(execute, rows, fence=store.owner is not None)


def put_rows(
    store: SqlStore,
    execute: Execute,
    rows: list[SaveRow],
    *,
    fence: bool = False,
    new: bool = False,  # every row is upserted here anyway
) -> None:
    """Write ``rows`` (inside the caller's write transaction).

    Fenced, raise ``LeaseLostError`` at the first row another worker's stamp
    protects; the caller's transaction then rolls back.
    """
    last = {job.id: (params, job) for params, _, job in rows}  # the row ends as last saved
    owner = store.owner
    for params, job in last.values():
        if not fence:
            execute(UPSERT, params)
        elif execute(UPSERT_FENCED, (*params, owner)).rowcount == 0:
            raise store._lost(execute, job)
    history = [history for _, history, _ in rows if history is not None]
    if store._pack_history:
        for packed in pack(history):
            execute(PACKED, packed)
    else:
        for entry in history:
            execute(HISTORY, entry)


def after_save(store: SqlStore, jobs: list[JobRecord]) -> None:
    if store.retain is None:
        return
    finals = sum(1 for job in jobs if job.state in FINAL_STATES)
    if not finals:
        return
    with store._finals_lock:
        store._finals += finals
        due = store._finals >= max(1, store.retain // 10)
        if due:
            store._finals = 0
    if due:
        store.prune()


def create(store: SqlStore, job: JobRecord) -> None:
    """Save a newly admitted job (state READY)."""
    store._lease_worker([job])
    store._save_all([job], f"create job {job.id}", fence=False, new=True)


def create_many(store: SqlStore, jobs: list[JobRecord]) -> None:
    """Save newly admitted jobs in one transaction: all of them, or none.

    A ``CodecError`` names the batch item (its position in ``jobs``) it is about.
    """
    store._lease_worker(jobs)
    try:
        store._save_all(jobs, f"create {len(jobs)} jobs", fence=False, new=True)
    except CodecError as exc:
        for k, job in enumerate(jobs):  # only on failure: which item was it?
            try:
                store._params(job, 0.0)
            except CodecError as item:
                raise CodecError(f"batch item {k}: {item}") from exc
        raise


def save(store: SqlStore, job: JobRecord) -> None:
    """Save ``job`` after a step: every field of the record, and a step-history row."""
    pending = getattr(store._slice, "pending", None)
    if pending is not None:  # inside a runner's slice: stored with it (as _save_all does)
        pending.append(store._row(job, time.time()))
        if len(pending) > 1 and pending[-2][2] is job:
            # The save before, of the same job, is superseded: only its history row will
            # be written, so its data is let go (a loop in one slice keeps one copy).
            params, history, _ = pending[-2]
            pending[-2] = ((*params[:DATA_AT], None, *params[DATA_AT + 1 :]), history, job)
        if len(pending) >= store.slice_rows:
            flush_slice(store, pending)
    elif store._writer is None:
        store._save_one(job)  # a backend's fast path for a save of its own
    else:
        store._save_all([job], f"save job {job.id}")


def flush_slice(store: SqlStore, pending: list[SaveRow]) -> None:
    """Store the saves a long slice has grouped so far, and go on grouping afresh.

    A job that runs many steps without leaving its runner (a loop) would otherwise hold
    every save of its slice in memory, and have none of them stored, until it parks,
    splits, joins or ends. The Scheduler still hears of the slice when it ends.
    """
    if store._writer is None:  # commit="slice": one transaction on this thread
        rows = list(pending)
        pending.clear()
        store._write(lambda execute: store._commit_rows(execute, rows), "commit a long slice")
        store._after_save([job for _, _, job in rows])
        return
    part: Slice | None = getattr(store._slice, "part", None)
    if part is None or part.arrivals:  # arrivals end a slice: left for its end
        return
    fresh = Slice(alone=part.alone)
    store._slice.part = fresh
    store._slice.pending = fresh.rows
    store._writer.store(part)


def save_one(store: SqlStore, job: JobRecord) -> None:
    """The hot path (one save per step); a backend may specialise it."""
    store._save_all([job], f"save job {job.id}")


def save_split(store: SqlStore, parent: JobRecord, branches: list[JobRecord]) -> None:
    """Save a parent that split together with its new branches, in one transaction."""
    store._save_all([parent, *branches], f"save the split of job {parent.id}")


def delete(store: SqlStore, job_id: str) -> None:
    """Forget a job (and its step history) whose admission was refused."""

    def write(execute: Execute) -> None:
        execute("DELETE FROM step_history WHERE job_id = ?", (job_id,))
        execute("DELETE FROM join_arrivals WHERE parent_id = ?", (job_id,))
        execute("DELETE FROM join_counts WHERE parent_id = ?", (job_id,))
        execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    store._write(write, f"delete job {job_id}")


def prune(store: SqlStore, retain: int | None = None) -> int:
    """Delete all but the ``retain`` most recently finished jobs; return how many went."""
    keep = store.retain if retain is None else retain
    if keep is None:
        return 0
    oldest = (
        "SELECT id FROM jobs WHERE finished_at IS NOT NULL "
        f"ORDER BY finished_at DESC, id DESC {store._limit_all} OFFSET ?"
    )

    def write(execute: Execute) -> int:
        execute(f"DELETE FROM step_history WHERE job_id IN ({oldest})", (keep,))
        execute(f"DELETE FROM join_arrivals WHERE parent_id IN ({oldest})", (keep,))
        execute(f"DELETE FROM join_counts WHERE parent_id IN ({oldest})", (keep,))
        cur = execute(f"DELETE FROM jobs WHERE id IN ({oldest})", (keep,))
        return int(cur.rowcount)

    return store._write(write, "prune finished jobs")
