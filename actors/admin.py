"""Operate a store: list, inspect, retry, reset, cancel, answer and prune cases.

``Admin`` works on any store URL with no worker running, and beside live workers: an
action on a case no live worker holds is made in the store in one transaction that
takes the case (fencing out a worker whose lease has expired) and leaves it free for
the next worker to claim; an action on a case a live worker holds is handed to that
worker as a request it carries out itself, so the engine is never raced: the worker is
woken for it in its own process and, on PostgreSQL, by ``NOTIFY`` (on SQLite a worker of
another process takes it at its next poll). Every action is recorded in the job's
history with the operator's name. An action on an id the store holds no job by
(``retry``, ``cancel``, ``send_event`` for ``JOB/...``) raises ``JobNotFoundError``
naming it and the store: an operator's typo is an error here, where
``Mediator.receive_event`` answers ``unknown`` to a stray event.

    from actors.admin import Admin

    with Admin("sqlite:///jobs.db", operator="alice") as admin:
        for job in admin.jobs(state="faulted", workflow="order").items:
            print(job.id, job.step, job.error)
        admin.retry("order-17")

A ``memory://`` store is private to its process: give ``Admin`` the ``Mediator`` that
runs it (``Admin.for_mediator(mediator)``), and actions on its unfinished cases go
through the Mediator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from actors import _admin_reads as reads
from actors import _admin_views as views
from actors._admin_changes import cancel_change, event_change, retry_change, unchecked_problem
from actors._admin_delivery import ActionDelivery
from actors._admin_input import check_from_step as _check_from_step
from actors._admin_input import check_listing, operator_name, timeout_seconds
from actors._admin_input import correlation_id_problem as _correlation_id_problem
from actors._admin_input import cursor_position as _position
from actors._admin_input import job_states as _states
from actors._admin_input import workflows_by_key as _workflows_by_key
from actors._admin_model import (
    ActionRefusedError,
    ActionResult,
    CaseBusyError,
    CaseNode,
    CaseTree,
    HistoryEntry,
    JobInfo,
    JoinInfo,
    Page,
    PruneResult,
    WorkerInfo,
    Workers,
)
from actors._admin_prune import prune
from actors._due_text import server_now
from actors._job import FINAL_STATES, JobRecord, JobState
from actors.stores import Store, open_store
from actors.stores._admin_types import Held, JobQuery, StoredJob, refuse_unread

if TYPE_CHECKING:
    from actors._mediator import Mediator
    from actors._workflow import Workflow

__all__ = [
    "ActionRefusedError",
    "ActionResult",
    "Admin",
    "CaseBusyError",
    "CaseNode",
    "CaseTree",
    "HistoryEntry",
    "JobInfo",
    "JoinInfo",
    "Page",
    "PruneResult",
    "WorkerInfo",
    "Workers",
    "operator_name",
]


class Admin:
    """The operator's API over one store. Thread-safe; use it as a context manager.

    Args:
        store: a ``Store`` or a store URL. A URL is opened here and closed by ``close()``.
        operator: who acts, recorded with every action (see ``operator_name``).
        mediator: the ``Mediator`` running this store in this process, if any: actions
            on the cases it holds go straight to it (required for ``memory://``).
        workflows: the workflows the store's cases run, if known: ``case()`` and
            ``job()`` then name the correlation ids a waiting job expects, a reset
            checks its step exists, and an event for an id the job does not wait on
            (a reply to a job at a ``Wait``, say) is ``unknown``. Two different
            workflows of one name and version are refused (``ValueError``).
        timeout: seconds to wait for a live worker to carry out a request, and for a
            write of the case another transaction holds (a worker frozen in one): 0 up
            to a century (``ValueError`` otherwise); a database waits for a lock about
            24.8 days at most. A request no worker took within it is void: one this
            process could not withdraw (it was killed) is never carried out later.
    """

    def __init__(
        self,
        store: Store | str,
        *,
        operator: str | None = None,
        mediator: Mediator | None = None,
        workflows: Iterable[Workflow] = (),
        timeout: float = 10.0,
    ) -> None:
        # Every argument checked before a store is opened: a refusal leaves nothing open.
        timeout = timeout_seconds(timeout)
        by_key = _workflows_by_key(workflows)
        self.operator = operator_name(operator)
        self._owns_store = isinstance(store, str)
        self.store: Store = open_store(store) if isinstance(store, str) else store
        self.mediator = mediator
        self.timeout = timeout
        self._workflows = by_key
        # Given by the caller: an action they check refuses a job of another workflow.
        self._given = frozenset(self._workflows)
        if mediator is not None:
            engine = mediator._engine
            self._workflows.update(engine.workflows)
        self._delivery = ActionDelivery(self.store, self.operator, mediator, timeout)

    @classmethod
    def for_mediator(cls, mediator: Mediator, *, operator: str | None = None) -> Admin:
        """An ``Admin`` over ``mediator``'s store, handing it the actions on its cases."""
        return cls(mediator.store, operator=operator, mediator=mediator)

    def close(self) -> None:
        """Close the store if this ``Admin`` opened it."""
        self._delivery.close()
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------------

    def jobs(  # noqa: PLR0913 - one keyword per filter
        self,
        *,
        state: str | JobState | Iterable[str | JobState] | None = None,
        workflow: str | None = None,
        version: int | None = None,
        step: str | None = None,
        since: float | None = None,
        before: float | None = None,
        error: str | None = None,
        cases_only: bool = False,
        limit: int = 50,
        offset: int = 0,
        after: str | None = None,
    ) -> Page:
        """Jobs matching every filter given, newest first, one page at a time.

        ``state`` is one state or several (names or ``JobState``); ``since`` and
        ``before`` are ages in seconds (created at most ``since`` seconds ago, at least
        ``before`` seconds ago); ``error`` is text the job's error contains (any case: a
        fault's, or a live job's last failed attempt that it retries);
        ``cases_only`` lists roots only. Newest first is by creation time, then by id
        (both descending). ``after`` is a ``Page.next_cursor``: the page starts past the
        job it names (``offset`` then skips that many more). Pages by cursor stay in
        step while jobs are created and pruned, and each costs a page to read; an
        ``offset`` reads every job it skips. A filter no job can match as meant (text
        that is not Unicode, a version out of the store's range, an age that is NaN,
        negative or past a century) raises ``ValueError`` naming it.
        """
        texts = {"workflow": workflow, "step": step, "error": error}
        numbers = {"version": version, "since": since, "before": before}
        check_listing(texts, {**numbers, "limit": limit, "offset": offset}, self.store.max_version)
        position = None if after is None else _position(after)
        now = time.time()
        query = JobQuery(
            states=_states(state),
            workflow=workflow,
            version=version,
            step=step,
            created_after=None if since is None else now - since,
            created_before=None if before is None else now - before,
            error=error,
            roots=cases_only,
        )
        return reads.listing_page(self.store, query, limit, offset, position, self._infos)

    def job(self, job_id: str) -> JobInfo:
        """One job as last saved (``JobNotFoundError`` if the store has none by that id)."""
        return self._infos([reads.stored_job(self.store, job_id)])[0]

    def case(self, job_id: str) -> CaseTree:
        """The case ``job_id`` belongs to, as a tree from its root."""
        jobs = reads.case_jobs(self.store, reads.stored_job(self.store, job_id))
        arrived = views.arrived_of(jobs, self.store)
        now = self.store.lease_time(time.time())  # leases go by the database server's clock
        return views.tree(jobs, self._infos(jobs, arrived), now, arrived, self._workflows)

    def history(self, job_id: str) -> list[HistoryEntry]:
        """The job's history, oldest first: steps run, waits, and operators' actions."""
        reads.stored_job(self.store, job_id)
        return views.history(self.store.step_history(job_id))

    def job_infos(self, job_ids: Iterable[str]) -> dict[str, JobInfo]:
        """Several jobs as ``job()`` shows each, read together: by id, in the order asked.

        Ids the store holds no job of are left out.
        """
        return reads.infos_by_id(self.store, job_ids, self._infos)

    def histories(
        self, job_ids: Iterable[str], *, last: int | None = None
    ) -> dict[str, list[HistoryEntry]]:
        """Several jobs' histories as ``history()`` gives each, read together, by id.

        In the order asked; a job the store holds no history of (or no job by that id)
        has an empty list. ``last``: each job's most recent ``last`` entries only, and
        only those are read (a job that loops keeps an entry per save).
        """
        return reads.job_histories(self.store, job_ids, last)

    def workers(self, *, limit: int = 20) -> Workers:
        """The workers' leases: who is live, who stopped renewing, what each holds.

        At most ``limit`` (``ValueError`` if negative), the stopped first (see ``Workers``):
        one bounded query, by the store's clock. A worker that stopped renewing its lease
        is known until its cases are taken over; one that stopped cleanly released them,
        and is not listed.
        """
        return views.workers(self.store, limit)

    def _infos(
        self, jobs: Sequence[StoredJob], arrived: dict[str, frozenset[int]] | None = None
    ) -> list[JobInfo]:
        known = views.arrived_of(jobs, self.store) if arrived is None else arrived
        return views.infos(jobs, self._workflows, known)

    # -- actions -----------------------------------------------------------------------------

    def retry(self, job_id: str, *, from_step: str | None = None) -> ActionResult:
        """Run a FAULTED job again from the step it faulted at, or reset it to ``from_step``.

        A retry makes it READY there with the next attempt number (a new idempotency key);
        a job faulted by its split's branches gets those retried (at any depth) and waits
        for them, keeping the arrivals at its join. A reset makes a job in any final state
        READY at ``from_step``, data as last saved, abandoning a split it waited on. Either
        reopens a branch's ancestors up to the root. Every job of the case must have ended
        (``ActionRefusedError`` otherwise); the case is then free, and the next worker to
        poll the store runs it. A write of the case (SQLite: of the database) another
        transaction holds is waited for ``timeout`` seconds at most (``CaseBusyError``;
        nothing is changed).
        """
        _check_from_step(from_step)
        stored = reads.stored_job(self.store, job_id)
        refuse_unread(stored)  # its stand-in reads FAULTED: retried, whatever it is
        record = stored.record
        workflow = self._workflows.get((record.workflow, record.version))
        attempt = None
        if from_step is not None:
            self._check_given(record, f"--from / from_step={from_step!r}")
            attempt = reads.reset_attempt(self.store, job_id, record, from_step)
        change = retry_change(
            job_id, self.operator, from_step=from_step, workflow=workflow, next_attempt=attempt
        )
        delivery = self._delivery
        # The case's rows (SQLite: the write lock) are waited for ``timeout`` at most: a
        # worker frozen in a write would otherwise hold the retry to the store's own limit.
        deadline = time.monotonic() + self.timeout
        outcome = delivery.change_whole("retry", record.case_id, change, deadline)
        if isinstance(outcome, Held):
            msg = (
                f"case {record.case_id} is held by worker {outcome.owner!r}: it is still "
                "running; cancel it or wait for it to end before a retry"
            )
            raise ActionRefusedError(msg)
        delivery.wake(record.case_id)
        detail = f"from step {from_step!r}" if from_step is not None else f"step {record.step!r}"
        return delivery.result("retry", record.id, record.case_id, outcome, "store", detail)

    def cancel(self, job_id: str) -> ActionResult:
        """Cancel a job and every job below it (a case: give its root's id).

        A running step finishes first; nothing after it runs. Returns the outcome
        (``"cancelled"``, ``"already_finished"``).
        """
        stored = reads.stored_job(self.store, job_id)
        refuse_unread(stored)  # its stand-in reads FAULTED: "already_finished", whatever it is
        record = stored.record
        delivery = self._delivery
        if record.state in FINAL_STATES and not delivery.has_live(record.case_id, job_id):
            return delivery.result(
                "cancel", job_id, record.case_id, "already_finished", "store", ""
            )
        return delivery.act(
            "cancel",
            record.case_id,
            job_id,
            None,
            cancel_change(job_id, self.operator),
            lambda mediator: mediator._operator_action(
                "cancel", record.case_id, job_id, None, self.operator
            ),
        )

    def send_event(
        self, correlation_id: str, data: Any = None, *, fault: bool = False
    ) -> ActionResult:
        """Deliver an event to the job waiting on ``correlation_id`` (a reply, or a fault).

        ``correlation_id`` is ``JOB/STEP`` for a ``RequestReaction`` and
        ``JOB/STEP/EVENT`` for a ``DeferredChoice``. The outcome is an ``EventOutcome``
        value: ``"delivered"``, ``"duplicate"``, ``"late"``, ``"finished"``, ``"unknown"``
        (JOB waits on no such id). ``JobNotFoundError`` if the store holds no job JOB;
        ``CodecError`` for a payload no store can keep, naming where the bad value sits
        (``event payload for 'c1/which/paid'['at']``), before anything is changed.
        """
        if not isinstance(correlation_id, str):
            msg = f"a correlation id is a str, got {type(correlation_id).__name__}"
            raise TypeError(msg)
        problem = _correlation_id_problem(correlation_id)
        if problem is not None:
            raise ActionRefusedError(problem)
        # Checked as a worker checks it, naming the payload: the store encodes the job's
        # event as a whole, where the payload is only an index ("event of job c1[2]").
        self.store.codec.encode(data, f"event payload for {correlation_id!r}")
        job_id = correlation_id.partition("/")[0]
        record = reads.stored_job(self.store, job_id).record
        self._check_given(record, f"event {correlation_id!r}")
        return self._delivery.act(  # detail: the correlation id
            "event",
            record.case_id,
            job_id,
            [correlation_id, data, fault],
            event_change(
                correlation_id,
                data,
                self.operator,
                fault=fault,
                waits=partial(reads.waits, self._workflows),
                now=partial(server_now, self.store),  # timers go by the server's clock
            ),
            lambda mediator: mediator._operator_action(
                "event", record.case_id, job_id, [correlation_id, data, fault], self.operator
            ),
        )

    def _check_given(self, job: JobRecord, what: str) -> None:
        problem = unchecked_problem(job, self._given, what)
        if problem is not None:
            raise ActionRefusedError(problem)

    def prune(
        self,
        older_than: float,
        *,
        trim_history: bool = False,
        batch_done: Callable[[int, int], object] | None = None,
    ) -> PruneResult:
        """Delete the cases that ended more than ``older_than`` seconds ago, with their history.

        A case with any job not yet ended is kept, however old. With ``trim_history``,
        what such a case left more than ``older_than`` seconds ago goes too (a case that
        loops for ever adds rows at every turn on a SQL store): its unfinished jobs'
        history, except operators' actions and each job's latest row of each step and
        attempt, and the finished branches of splits it has since split again.

        The cases go a batch per transaction, each case whole. ``batch_done(cases,
        jobs)`` is told of each batch once it is stored; a true answer stops the prune
        there (the history is then not trimmed), and the result counts what is gone.
        ``older_than`` is 0 up to a century (``ValueError`` otherwise).
        """
        return prune(self.store, older_than, trim_history=trim_history, batch_done=batch_done)
