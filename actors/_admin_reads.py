"""What ``Admin`` reads for an operator: a job by id, a listing's page, cases, histories.

A job is read as an operator reads it: a row that cannot be read is shown FAULTED, and
looking at it writes nothing (a worker's load would fault it in the store). An id the
store holds no job by is ``JobNotFoundError``, naming a twin stored before the id rule.
Several jobs are read together; what a job waits on, and the attempt a reset starts at,
are read here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from actors import _admin_views as views
from actors._admin_input import id_list as _id_list
from actors._admin_input import listing_cursor as _cursor
from actors._admin_model import HistoryEntry, JobInfo, Page
from actors._cases import missing_job, padded_twins
from actors._errors import JobNotFoundError
from actors._job import JobRecord
from actors._runner import correlations_for

if TYPE_CHECKING:
    from actors._workflow import Workflow
    from actors.stores import Store
    from actors.stores._admin_types import JobQuery, ListingPosition, StoredJob

__all__ = [
    "case_jobs",
    "infos_by_id",
    "job_histories",
    "listing_page",
    "reset_attempt",
    "stored_job",
    "waits",
]


def stored_job(store: Store, job_id: str) -> StoredJob:
    """Job ``job_id`` as last saved (``JobNotFoundError`` if ``store`` has none by that id)."""
    # Read as an operator reads: a row that cannot be read is shown FAULTED, and
    # looking at it writes nothing (a worker's load would fault it in the store).
    if not isinstance(job_id, str):
        msg = f"a job id is a str, got {type(job_id).__name__} {job_id!r:.80}"
        raise TypeError(msg)
    stored = store.stored_job(job_id)
    if stored is None:
        # An id stored before the id rule may break it: looked up all the same.
        held = store.stored_jobs(padded_twins(job_id))
        raise JobNotFoundError(missing_job(job_id, store.url, held))
    return stored


def listing_page(
    store: Store,
    query: JobQuery,
    limit: int,
    offset: int,
    after: ListingPosition | None,
    infos: Callable[[Sequence[StoredJob]], list[JobInfo]],
) -> Page:
    """The page of jobs matching ``query``: ``limit`` of them past ``after`` and ``offset``."""
    found = store.query_jobs(query, limit=limit + 1, offset=offset, after=after)
    items = infos(found[:limit])
    if len(found) <= limit:
        return Page(items, offset, limit, None, None)
    return Page(items, offset, limit, offset + limit, _cursor(found[limit - 1]))


def infos_by_id(
    store: Store,
    job_ids: Iterable[str],
    infos: Callable[[Sequence[StoredJob]], list[JobInfo]],
) -> dict[str, JobInfo]:
    """The jobs of ``job_ids`` the store holds, read together, shown by ``infos``, by id."""
    asked = list(dict.fromkeys(_id_list(job_ids)))
    found = store.stored_jobs(asked)
    jobs = [found[job_id] for job_id in asked if job_id in found]
    return {job.record.id: info for job, info in zip(jobs, infos(jobs), strict=True)}


def case_jobs(store: Store, stored: StoredJob) -> list[StoredJob]:
    """Every job of ``stored``'s case, ``stored`` among them."""
    jobs = store.case_jobs(stored.record.case_id)
    if not any(job.record.id == stored.record.id for job in jobs):
        # Its case id finds no row as read (bytes that are not UTF-8 in it, or the
        # case pruned meanwhile): the job is shown alone rather than failing the look.
        jobs = [stored, *jobs]
    return jobs


def job_histories(
    store: Store, job_ids: Iterable[str], last: int | None
) -> dict[str, list[HistoryEntry]]:
    """The histories of ``job_ids``, by id, each its ``last`` entries only (all: ``None``)."""
    if last is not None and last < 0:
        msg = f"last must be at least 0, got {last}"
        raise ValueError(msg)
    ids = _id_list(job_ids)
    # One row more: an entry's duration runs from the save before it.
    rows = store.step_histories(ids, **({} if last is None else {"last": last + 1}))
    shown = {job_id: views.history(job_rows) for job_id, job_rows in rows.items()}
    if last is None:
        return shown
    return {job_id: entries[-last:] if last else [] for job_id, entries in shown.items()}


def reset_attempt(store: Store, job_id: str, record: JobRecord, from_step: str) -> int:
    """The attempt a reset of ``job_id`` to ``from_step`` starts at: past every one made there."""
    tried = [h.attempt for h in store.step_history(job_id) if h.step == from_step]
    return max([*tried, record.attempt if record.step == from_step else 0]) + 1


def waits(workflows: Mapping[tuple[str, int], Workflow], job: JobRecord) -> set[str] | None:
    """The correlation ids ``job`` waits on at its step; ``None``: its workflow is unknown."""
    wf = workflows.get((job.workflow, job.version))
    step = wf.steps.get(job.step or "") if wf is not None else None
    return None if step is None else {cid for cid, _ in correlations_for(job, step)}
