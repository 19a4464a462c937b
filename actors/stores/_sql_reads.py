"""The SQL store's job reads: rows into records, and a bad row into a FAULTED job.

Functions of a ``SqlStore`` (its methods of the same names): loading one job, listing the
unfinished ones, counts, step history and due timers. A row that cannot be read comes
back FAULTED (and is saved so) instead of failing whoever reads it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from actors._errors import CodecError
from actors._job import Job, JobRecord, JobState, branch_fault
from actors._redact import redacted_logger
from actors.stores._admin_types import TAKEOVER, UNREADABLE_ROW
from actors.stores._history_rows import unpack
from actors.stores._joins import ARRIVALS_OF
from actors.stores._sql_bad_parent import cancel_read, cancel_under
from actors.stores._statements import (
    FAULTED_VALUE,
    FINAL_VALUES,
    HISTORY,
    SELECT_LIST,
    STATE_VALUES,
    WAITING_VALUE,
    Execute,
    in_lists,
)

if TYPE_CHECKING:
    from actors.stores._sql import SqlStore


logger = redacted_logger("actors.stores")


def records(
    store: SqlStore,
    rows: list[Any],
    *,
    save_faults: bool = True,
    named: Mapping[str, str] | None = None,
) -> list[JobRecord]:
    """Records of ``rows``; a bad row comes back FAULTED (and is saved so if ``save_faults``).

    ``named``: what the caller found wrong with some rows (by job id), beyond a row's own
    columns.
    """
    out = []
    cancelled: dict[str, str] = {}  # the jobs under a bad row saved FAULTED -> that row's job
    for row in rows:
        job, problems = store._record(row)
        if named and job.id in named:
            problems.append(named[job.id])
        if job.split_total > 0 and not problems:
            store._recorded_arrivals(job, problems)
        if problems:
            under = store._fault_bad_row(job, row, problems, save=save_faults)
            cancelled.update(dict.fromkeys(under, job.id))
        out.append(job)
    if cancelled:
        cancel_read(cancelled, out)
    return out


def recorded_arrivals(store: SqlStore, job: JobRecord, problems: list[str]) -> None:
    """Add to ``job.arrivals`` those recorded for its current split (``join_arrivals``)."""
    rows = store._read(ARRIVALS_OF, (job.id, job.gen), f"read the arrivals at job {job.id}")
    for index, text in rows:
        what = f"arrival of branch {index} at job {job.id}"
        try:
            job.arrivals.setdefault(int(index), store.codec.decode(text, what))
        except CodecError as exc:
            problems.append(str(exc))


def fault_bad_row(
    store: SqlStore, job: JobRecord, row: Sequence[Any], problems: list[str], *, save: bool = True
) -> set[str]:
    """Mark a job whose row cannot be read FAULTED, naming what is wrong; saved if ``save``.

    Only the state, error and lease are written: the unreadable columns stay as they
    are for someone to inspect. A worker reading the row keeps running. The unfinished
    jobs under it are cancelled in the same transaction (``cancel_under``): their ids.
    """
    why = UNREADABLE_ROW + "; ".join(problems)
    job.state, job.error = JobState.FAULTED, why
    if row[6] == FAULTED_VALUE or store.read_only or not save:
        return set()  # already FAULTED in the store, or only looked at: nothing to save
    about = {"job_id": job.id, "step": job.step, "attempt": job.attempt}
    logger.error("job %s: %s", job.id, why, extra=about)
    now = time.time()

    def mark(execute: Execute) -> set[str]:
        execute(
            "UPDATE jobs SET state = ?, error = ?, finished_at = ?, updated_at = ?, "
            "lease_expires = NULL WHERE id = ?",
            (FAULTED_VALUE, why, now, now, job.id),
        )
        if store.keep_history:
            execute(
                HISTORY,
                (
                    job.id,
                    store._seq(),
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
            # Of its own case only: a parent_id edited to name another case's job.
            execute(
                "UPDATE jobs SET branch_error = ? WHERE id = ? AND case_id = ? AND gen = ? "
                "AND branch_error IS NULL AND joined = ?",
                (branch_fault(job), job.parent_id, job.case_id, job.parent_gen, False),
            )
        # Left unfinished under a final row, its branches would wait for ever.
        return cancel_under(store, execute, job, now)

    try:
        return store._write(mark, f"mark unreadable job {job.id} FAULTED")
    except Exception:  # the caller still gets the FAULTED job; the store may be down
        logger.exception("could not save job %s as FAULTED", job.id, extra=about)
        return set()


def existing(store: SqlStore, job_ids: Sequence[str]) -> set[str]:
    """Which of ``job_ids`` the store holds (a few queries, however many ids)."""
    found: set[str] = set()
    for chunk, marks in in_lists(list(job_ids)):
        rows = store._read(f"SELECT id FROM jobs WHERE id IN ({marks})", chunk, "look up jobs")
        found.update(row[0] for row in rows)
    return found


def one(store: SqlStore, job_id: str) -> JobRecord | None:
    rows = store._read(f"SELECT {SELECT_LIST} FROM jobs WHERE id = ?", (job_id,), f"load {job_id}")
    return store._records(rows)[0] if rows else None


def load(store: SqlStore, job_id: str) -> JobRecord | None:
    """A fresh record of the job as last saved, or ``None``."""
    return store._one(job_id)


def get(store: SqlStore, job_id: str) -> Job | None:
    """A snapshot of the job as last saved, or ``None`` when the store has no such job.

    A row this process cannot read comes back FAULTED and is left as it is: a look
    changes nothing (a script that has not registered a dataclass the workers read well
    would otherwise end their live job). Workers fault it when they take it (``load``).
    """
    rows = store._read(f"SELECT {SELECT_LIST} FROM jobs WHERE id = ?", (job_id,), f"load {job_id}")
    return records(store, rows, save_faults=False)[0].snapshot() if rows else None


def unfinished(store: SqlStore) -> list[JobRecord]:
    """Every job not in a final state, oldest first.

    A row that cannot be read comes back FAULTED (and is saved so), so whoever
    resumes these jobs learns of it instead of failing.
    """
    marks = ", ".join("?" for _ in FINAL_VALUES)
    rows = store._read(
        f"SELECT {SELECT_LIST} FROM jobs WHERE state NOT IN ({marks}) ORDER BY {store._order}",
        FINAL_VALUES,
        "list unfinished jobs",
    )
    return store._records(rows)


def counts(store: SqlStore) -> dict[JobState, int]:
    """How many jobs the store holds in each state.

    A row whose state is no state (edited by hand) counts as FAULTED, as it reads.
    """
    rows = store._read("SELECT state, COUNT(*) FROM jobs GROUP BY state", (), "count jobs")
    out = dict.fromkeys(JobState, 0)
    for state, n in rows:
        out[STATE_VALUES.get(state, JobState.FAULTED)] += int(n)
    return out


def history(store: SqlStore, job_id: str) -> list[tuple[str | None, int, str, float]]:
    """The job's saves, oldest first: (step, attempt, state, wall-clock time).

    A takeover's row (``step_history`` notes who took the case over) is not a save.
    """
    rows = store._read(
        "SELECT job_id, seq, step, attempt, state, at, worker, error, action, started, more "
        "FROM step_history WHERE job_id = ? AND (action IS NULL OR action NOT LIKE ?) "
        "ORDER BY seq",
        (job_id, f"{TAKEOVER}%"),
        f"read the history of job {job_id}",
    )
    return [(e[2], int(e[3]), e[4], float(e[5])) for e in unpack(rows)]


def due_timers(store: SqlStore, now: float) -> list[str]:
    """Ids of WAITING jobs whose due time is at or before ``now``, earliest first."""
    rows = store._read(
        "SELECT id FROM jobs WHERE due <= ? AND state = ? ORDER BY due",
        (now, WAITING_VALUE),
        "list due timers",
    )
    return [row[0] for row in rows]
