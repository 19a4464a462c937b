"""The ``Store`` interface every job store implements."""

from __future__ import annotations

import abc
import contextlib
from typing import TYPE_CHECKING, Any

from actors._job import JobState
from actors.stores._codec import DEFAULT_CODEC, Codec
from actors.stores._operator_api import OperatorApi
from actors.stores._unfinished_facts import UnfinishedFacts, of_records
from actors.stores._wake import notify, requests_topic, topic_key, watch

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Sequence

    from actors._job import Job, JobRecord

__all__ = ["Store"]


class Store(OperatorApi, abc.ABC):
    """Where job state lives. The engine saves a job after every step.

    The Scheduler and Runners call these from their own threads, so implementations
    are thread-safe. A store never executes anything it reads: data is plain values.
    """

    url: str
    codec: Codec = DEFAULT_CODEC
    """What job data may hold (JSON values and registered dataclasses), on every store."""
    max_version: int = 2**63 - 1
    """The largest workflow version the store keeps (its column's integer type)."""

    @abc.abstractmethod
    def create(self, job: JobRecord) -> None:
        """Save a newly admitted job (state READY).

        Raises ``JobExistsError`` if the store holds a job with its id. The check is part
        of the write, so two admissions of one id (two threads, two processes) never
        both succeed, and the case stored first is left as it was.
        """

    def create_many(self, jobs: list[JobRecord]) -> None:
        """Save newly admitted jobs: all of them, or none (the SQL stores use one transaction).

        This default saves them one by one and, if one fails, deletes those it saved
        before raising; a store with transactions does better.
        """
        saved: list[JobRecord] = []
        try:
            for job in jobs:
                self.create(job)
                saved.append(job)
        except BaseException:
            for job in saved:
                with contextlib.suppress(Exception):  # the first error is the one to see
                    self.delete(job.id)
            raise

    def existing(self, job_ids: Sequence[str]) -> set[str]:
        """Which of ``job_ids`` the store holds."""
        return {job_id for job_id in job_ids if self.get(job_id) is not None}

    @abc.abstractmethod
    def save(self, job: JobRecord) -> None:
        """Save ``job`` after a step: its step, data, state, attempt, error, due time."""

    @abc.abstractmethod
    def save_split(self, parent: JobRecord, branches: list[JobRecord]) -> None:
        """Atomically save a parent that split (WAITING) together with its new branches."""

    @abc.abstractmethod
    def delete(self, job_id: str) -> None:
        """Forget a job whose admission was refused before anything ran."""

    @abc.abstractmethod
    def load(self, job_id: str) -> JobRecord | None:
        """A fresh record of the job as last saved (used to resume after a crash)."""

    @abc.abstractmethod
    def get(self, job_id: str) -> Job | None:
        """A snapshot of the job as last saved, or ``None`` when the store has no such job.

        A look only: a durable store's row this process cannot read comes back FAULTED
        and is left as it is (``load`` and ``unfinished``, which take jobs on, save it so).
        """

    @abc.abstractmethod
    def unfinished(self) -> list[JobRecord]:
        """Every job not in a final state, oldest first (resumed when a Mediator starts)."""

    @abc.abstractmethod
    def counts(self) -> dict[JobState, int]:
        """How many jobs the store holds in each state."""

    def unfinished_facts(self, limit: int) -> UnfinishedFacts:
        """The unfinished jobs summed up, with the oldest ``limit`` (at least one) of them."""
        return of_records(self.unfinished(), self.existing, limit)

    def close(self) -> None:
        """Release connections and files."""

    def finish_writes(self) -> None:
        """Store every save handed over and not yet stored, then take no more saves.

        A stopping worker calls it before ``release``: a case released while its last
        slice still waited in a writer would be free at the step before, and the worker
        that claimed it would run that step again. Stores that do not group store each
        save as it is made, and have nothing to finish.
        """

    def pace(self, busy: Callable[[int], bool] | None) -> None:
        """Take the engine's hint of work under way that will save (``None``: withdrawn).

        ``busy(held)`` says whether there is such work besides the ``held`` slices a
        writer holds unstored. A store that commits in groups may wait, while there is,
        for more saves to join a group; stores that do not group ignore the hint.
        """

    def begin_slice(self, *, alone: bool = False) -> None:
        """A runner starts running one job's steps (see ``end_slice``).

        ``alone``: the store refused this job's earlier slices; a store that stores
        several runners' slices in one transaction stores this one in a transaction of
        its own, so that a failure is certainly the job's.
        """

    def end_slice(self, then: Callable[[BaseException | None], None] | None = None) -> None:
        """The runner's slice is over: a store that groups commits commits them now.

        A runner calls this before it tells the Scheduler anything about the job, so no
        decision is ever taken on state that is not yet stored. A store with
        ``background_commit`` may return before the slice is stored when given ``then``:
        it calls ``then(None)`` from its writer thread once the slice is stored, or
        ``then(error)`` if it was not; the runner sends its reports from there. Other
        stores store the slice and then call ``then(None)`` before returning.
        """
        if then is not None:
            then(None)

    background_commit: bool = False
    """Whether ``end_slice(then)`` stores slices on a writer thread (``commit="group"``)."""

    # -- several workers on one store ---------------------------------------------------------
    #
    # A case (a root job and every branch below it) is run by one worker at a time,
    # which holds it while the worker's own lease runs: one lease per worker, renewed by
    # its heartbeats whatever it holds, and a mark on the root of each case held. Every
    # job of a case is stamped with the worker that holds it: a job created while
    # ``owner`` is set is stamped with that owner (and a new root is leased to it), and
    # a claim stamps every job of the case it takes. A save of a job stamped with
    # another worker is fenced (``LeaseLostError``, nothing written). A worker that dies
    # stops renewing; once its lease expires another worker claims the case and resumes
    # each of its jobs from its last saved step. Saves leave stamps and leases alone; a
    # case's final save ends its lease but keeps the stamps, and so does ``release``.
    # ``now`` is the engine clock's time, passed in so tests control expiry. Stores
    # without this support raise NotImplementedError.

    owner: str | None = None
    """The worker that leases the roots this store creates (set by the Mediator)."""
    lease_seconds: float = 30.0
    """How long a new lease lasts; heartbeats renew it well before it expires."""
    shared: bool = False
    """Whether other processes may work on this store (they do on the SQL stores)."""

    wake_key: str | None = None
    """Names this store's database for wake-ups within a process (``None``: no wake-ups)."""

    def announce(self) -> None:
        """Tell the workers of this database that new cases were written (``enqueue``).

        Watchers in this process poll at once; the PostgreSQL store also sends a
        ``NOTIFY`` that reaches workers in other processes.
        """
        self._wake("")

    def announce_requests(self, owner: str) -> None:
        """Tell worker ``owner`` that an operator's request waits for a case it holds.

        As ``announce``, within this process and by ``NOTIFY``; a worker of another
        process on SQLite is woken by its own store's watcher (see ``SqliteStore.watch``).
        """
        self._wake(requests_topic(owner))

    def _wake(self, topic: str) -> None:
        """Wake this process's watchers of ``topic`` (``""``: new cases), then send it on."""
        if self.wake_key is not None:
            notify(topic_key(self.wake_key, topic))
            self._send_wake(topic)

    def _send_wake(self, topic: str) -> None:
        """Carry a wake-up to the workers of other processes (PostgreSQL: ``NOTIFY``)."""

    def watch(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call ``wake()`` (which must return at once) when ``announce`` reports new cases.

        Returns the function that stops watching. Without a ``wake_key``, never calls.
        """
        return self._watch("", wake)

    def watch_requests(self, owner: str, wake: Callable[[], None]) -> Callable[[], None]:
        """Call ``wake()`` (which must return at once) at ``announce_requests(owner)``.

        Returns the function that stops watching. Without a ``wake_key``, never calls.
        """
        return self._watch(requests_topic(owner), wake)

    def _watch(self, topic: str, wake: Callable[[], None]) -> Callable[[], None]:
        if self.wake_key is None:
            return lambda: None
        stop = watch(topic_key(self.wake_key, topic), wake)
        self._listen()
        return stop

    def _listen(self) -> None:
        """Listen for the wake-ups of other processes (PostgreSQL: ``LISTEN``)."""

    def lease_time(self, now: float) -> float:
        """``now`` on the clock leases are measured by: the database server's, for PostgreSQL."""
        return now

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
        """Atomically take up to ``limit`` cases no live worker holds; return their jobs.

        A case is free when its root is unfinished and unleased (never claimed, or
        released), or its holder's lease expired before ``now``. Each claimed case is
        held by ``owner``, whose lease is extended to ``now + lease_seconds`` (never
        shortened; see ``heartbeat``), and every job of the case is stamped with
        ``owner`` (fencing out whoever held it before); every unfinished job of those
        cases is returned as last saved (oldest first), to this caller only.
        ``case_id`` claims that one case if free. ``reclaim`` first frees every case
        ``owner`` itself still holds, in the same transaction, then claims: a worker
        restarted under the same name takes back as many of its cases as ``limit``
        allows without waiting for their leases, and the rest are free for the next
        claim, its own or another worker's (kept leased, its heartbeats would renew them
        and nobody would run them). ``workflows``, the ``(name, version)`` pairs the
        caller serves, limits the claim to cases of those: a case of any other workflow
        is never taken, so it waits, untouched, for a worker that serves it.
        """
        raise self._unsupported("claim()")

    def unclaimed(self, now: float) -> dict[tuple[str, int], int]:
        """How many unfinished cases no live worker holds, by ``(workflow, version)``.

        These wait for a worker serving their workflow (or for the next poll of one).
        """
        raise self._unsupported("unclaimed()")

    def count_try(self, job: JobRecord) -> int:
        """Count a run of ``job`` (taken over) beginning at its saved point; how many in a row.

        Before a worker runs a job it took from a worker that stopped holding its case,
        it counts a try here, durably. The count goes on while the job's saved row is the
        one the last try saw (nothing saved since: the tries ended with their workers),
        and starts at 1 once a save came between. ``LeaseLostError`` if another worker
        holds the job's case now.
        """
        raise self._unsupported("count_try()")

    def mark_cancel(self, job_id: str, why: str) -> None:
        """Store at once that ``job_id``, which a runner of this worker runs, is cancelled.

        Its runner stops it before its next step and saves it so; should the worker die
        first, one that takes its case over then finds the mark and cancels the job
        instead of running it on. Written only while this worker holds the job's case.
        A store whose jobs die with their process needs no mark: the default does nothing.
        """

    def heartbeat(self, owner: str, now: float, lease_seconds: float) -> None:
        """Renew ``owner``'s lease to ``now + lease_seconds``: every case it holds is held on.

        One write, however many cases ``owner`` holds. Another worker can take its cases
        only once this lease expired, so a worker renewing in time loses none; one whose
        renewals stopped for longer (frozen, or the store out of reach) reads who holds
        its cases (``lease_owners``) after its next renewal.
        """
        raise self._unsupported("heartbeat()")

    def lease_owners(self, case_ids: list[str]) -> dict[str, str | None]:
        """Which worker each of these cases is stamped with (``None``: nobody yet).

        That is its holder, or its last holder once it has ended or been released.
        Unknown ids are left out.
        """
        raise self._unsupported("lease_owners()")

    def release(self, owner: str) -> int:
        """End every lease ``owner`` holds, so other workers may take those cases now.

        Returns how many cases were released. Their jobs stay stamped with ``owner``
        until the next claim, so whoever held them before stays fenced out.
        """
        raise self._unsupported("release()")

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
        """Record a branch's arrival at its join; return ``(arrived, total)``.

        Transactional: exactly one call per split returns ``arrived == total``. A call
        that counts nothing (a repeated arrival, a stale ``gen``, a parent already
        joined) returns ``arrived == 0``. With ``join_step`` the parent remembers its
        join, and the arrival that makes ``needed`` (``total`` unless given: 1 for a
        Discriminator) also releases the parent READY at the join, in the same
        transaction, so a join that fired survives a crash. A store that stores a
        runner's slice later (``background_commit``) records an arrival made inside a
        slice with the slice, and returns ``None`` for it.
        """
        raise self._unsupported("record_arrival()")

    def due_timers(self, now: float) -> list[str]:
        """Ids of WAITING jobs due at or before ``now``, earliest first."""
        raise self._unsupported("due_timers()")
