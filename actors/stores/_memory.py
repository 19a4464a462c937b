"""``memory://``: the in-process store, and the reference model for the other stores."""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from actors._errors import CodecError, JobExistsError, LeaseLostError
from actors._job import FINAL_STATES, JobRecord, JobState
from actors.stores._base import Store
from actors.stores._memory_admin import MemoryAdmin
from actors.stores._memory_joins import MemoryJoins, arrivals_of
from actors.stores._memory_leases import MemoryLeases
from actors.stores._memory_reads import MemoryReads
from actors.stores._memory_saved import DUE, STATE, Saved
from actors.stores._plain_data import KEY_TYPES as _KEYS
from actors.stores._plain_data import PLAIN_SCALARS as _SCALARS
from actors.stores._plain_data import SHORT_SCALARS as _SHORT
from actors.stores._plain_data import short_ints
from actors.stores._statements import HELD

if TYPE_CHECKING:
    from actors.stores._codec import Codec

__all__ = ["MemoryStore"]

DEFAULT_RETAIN = 10_000
DEFAULT_HISTORY_ROWS = 1_000  # step-history rows a job keeps at the least

_now = time.time
_FAULTED = JobState.FAULTED  # read from the enum class: dearer
_ROW = 9  # items of one history row in a job's flat list


class MemoryStore(MemoryAdmin, MemoryLeases, MemoryReads, MemoryJoins, Store):
    """Keeps live jobs, and the most recent ``retain`` finished ones, in a dict.

    Retention rule: a job that reaches a final state is kept among the last ``retain``
    finished jobs and then forgotten, so a long run's memory stays bounded (a handle
    holds its own result). A job's step history is bounded too: past ``history_rows``
    rows it keeps at least its most recent ``history_rows`` and fewer than twice as many,
    so a job that loops for ever does not grow without bound either.

    A save keeps what a durable store's row holds: the record's fields as they were at
    the save, and copies of its data, arrivals and event payload, never the engine's
    record or its objects (which the engine goes on changing). So a job resumes from
    exactly its last save, as on the durable stores: a runner that dies inside a step
    leaves none of that step's in-place changes behind. Every load or read builds a new
    record, with data of the caller's own (a flat dict's copies are one C-level copy).

    Job data follows the rule of the durable stores (``codec``: ``DEFAULT_CODEC`` unless
    given): JSON values and registered dataclasses; a save of anything else raises
    ``CodecError`` naming the bad value's path. ``copy_data=True`` makes every copy
    through the codec (flat data too); it changes nothing a caller sees.
    """

    def __init__(
        self,
        *,
        retain: int = DEFAULT_RETAIN,
        copy_data: bool = False,
        codec: Codec | None = None,
        history: bool = True,
        history_rows: int = DEFAULT_HISTORY_ROWS,
    ) -> None:
        if type(history_rows) is not int or history_rows < 1:
            msg = f"history_rows must be a whole number of at least 1, got {history_rows!r}"
            raise ValueError(msg)
        self.url = "memory://"
        # Read by every save: an instance attribute, as a class attribute's lookup (Store's
        # default) is not specialised by the interpreter and costs several times more.
        self.owner: str | None = None
        if codec is not None:
            self.codec = codec
        self.retain = retain
        self.copy_data = copy_data
        self.keep_history = history
        self.history_rows = history_rows
        self._history_items = history_rows * _ROW  # what a trim leaves of a job's list
        self._history_cap = 2 * self._history_items  # the length that makes a trim
        # Per job: when it was first saved (its last save's time is in its saved tuple),
        # and its history rows (seq, step, attempt, state, at, worker, error, action,
        # started; one after another in one flat list), both dropped with the job. Rows
        # are numbered by one counter, whose next() is atomic, so runners saving side by
        # side never share a number.
        self._created: dict[str, float] = {}
        self._history: dict[str, list[Any]] = {}
        self._seq = itertools.count(1)
        self._slices = threading.local()  # per runner thread: when its slice or last step began
        self._live: dict[str, Saved] = {}
        self._finished: OrderedDict[str, Saved] = OrderedDict()
        self._arrivals: dict[str, dict[int, Any]] = {}  # join bookkeeping: see MemoryJoins
        # Leases as the SQL stores keep them: every job of a case is stamped with the
        # worker that holds the case (job id -> owner), the case's root is marked while
        # the case is held (root id -> HELD), and each worker's lease ends at a time.
        self._stamps: dict[str, str] = {}
        self._expires: dict[str, float] = {}
        self._workers: dict[str, float] = {}
        self._worker_row: str | None = None
        self._tries: dict[str, tuple[float, int]] = {}  # see count_try
        self._marks: dict[str, str] = {}  # job id -> why: mark_cancel's, until the job ends
        self._lock = threading.Lock()

    def _put(self, job: JobRecord, *, note: bool = True) -> None:  # noqa: PLR0912, PLR0915 - every save: no call
        # No lock: each dict operation below is atomic, and runners saving side by side
        # (every step!) must not queue behind one another. A final job is added to the
        # finished map before it leaves the live one, so a reader always finds it.
        # The data rule is the durable stores' (their codec's): data they would refuse
        # is refused here too, naming its path, so a flow that runs in memory also runs
        # on SQLite and PostgreSQL.
        # The store keeps the record's values as saved and a copy of its data (see
        # _memory_saved), never the record or its data: the runner goes on changing both.
        job_id = job.id
        state = job.state
        data = job.data
        if self.copy_data:
            shown = self.codec.copy(data, f"data of job {job_id}")
        elif (  # a flat dict of scalars, no int (most saves): two type scans in C, no call
            type(data) is dict
            and _SHORT.issuperset(map(type, data.values()))
            and _SHORT.issuperset(map(type, data))
        ):
            shown = data.copy()  # scalars are immutable: a deep copy, in C
        else:  # ints among them too: their size is checked
            shown = self._shown(data, state, job_id)
        event = job.event
        if event is not None and event[2] is not None:  # a reply's payload: the store's own
            event = (event[0], event[1], self._own(event[2], f"event of job {job_id}"))
        arrivals = job.arrivals
        kept = self.codec.copy(arrivals, f"arrivals of job {job_id}") if arrivals else None
        now = _now()
        # In _memory_saved's order; one tuple of attribute reads, no call.
        saved = (
            job_id,
            job.step,
            state,
            job.attempt,
            job.error,
            job.due,
            event,
            shown,
            now,
            job.case_id,
            job.workflow,
            job.version,
            job.parent_id,
            job.branch_index,
            job.split_step,
            job.split_total,
            job.split_live,
            job.join_step,
            job.joined,
            job.branch_error,
            job.branch_cancelled,
            job.gen,
            job.parent_gen,
            kept,
        )
        if note and self.keep_history:
            # A job's rows lie flat in one list, _ROW items each: no object per row, and
            # every item an atom (the state's name, not the enum), so a long
            # run's retained history costs the collector and the allocator little.
            # The runner thread's cell (set by begin_slice): the step this save ends began
            # when the slice did, or at the previous save; a list item, as writing the
            # thread-local itself on every save costs more.
            cell = getattr(self._slices, "cell", None)
            if cell is None:
                began = None
            else:
                began = cell[0]
                cell[0] = now
            rows = self._history.get(job_id)
            if rows is None:  # the job's first save: when it was created, too
                rows = self._history[job_id] = []
                self._created.setdefault(job_id, now)
            # One extend of a tuple: atomic, so a reader copying the list sees whole rows.
            rows += (
                next(self._seq),
                job.step,
                job.attempt,
                state._value_,  # the name, read as a plain attribute (.value is a descriptor)
                now,
                self.owner,
                job.error,
                None,
                began,
            )
            if len(rows) >= self._history_cap:
                # The oldest half goes in one cut: amortised, a constant per save.
                del rows[: len(rows) - self._history_items]
        else:
            self._created.setdefault(job_id, now)
        if state in FINAL_STATES:  # inline, not a call: about 5 saves a W workflow
            self._finished[job_id] = saved
            self._live.pop(job_id, None)
            self._arrivals.pop(job_id, None)
            if self._marks:
                self._marks.pop(job_id, None)
            while len(self._finished) > self.retain:
                try:
                    gone, _ = self._finished.popitem(last=False)
                except KeyError:  # another thread trimmed it first
                    break
                self._stamps.pop(gone, None)
                self._tries.pop(gone, None)
                self._created.pop(gone, None)
                self._history.pop(gone, None)
        else:
            if job.split_total:
                self._arrivals[job_id] = arrivals_of(job, kept or {})
            self._live[job_id] = saved

    def _shown(self, data: Any, state: JobState, job_id: str) -> Any:
        """The store's copy of ``data``, checked as the durable stores would."""
        if (  # a flat dict holding ints: one that is too long to write as text is refused
            type(data) is dict
            and _SCALARS.issuperset(map(type, data.values()))
            and short_ints(data.values())
            and (
                _SHORT.issuperset(map(type, data))  # str keys, mostly: no int to look at
                or (_KEYS.issuperset(map(type, data)) and short_ints(data))
            )
        ):
            return data.copy()
        if state is not _FAULTED:
            return self.codec.copy(data, f"data of job {job_id}")
        try:
            return self.codec.copy(data)
        except CodecError:  # faulted for its data, kept as it is: it runs no further
            return data

    def begin_slice(self, *, alone: bool = False) -> None:
        """A runner starts a slice: note when, for the step history (each save is alone)."""
        if self.keep_history:
            self._slices.cell = [time.time()]

    def end_slice(self, then: Callable[[BaseException | None], None] | None = None) -> None:
        """The runner's slice is over (its saves were stored as they came)."""
        self._slices.cell = None
        if then is not None:
            then(None)

    def create(self, job: JobRecord) -> None:
        """Save a newly admitted job; ``JobExistsError`` if the store holds its id."""
        job_id = job.id
        if self.owner is None:
            # No lock: one shared with the runners' arrivals made a convoy (a producer
            # preempted while holding it queued every arriving runner behind it, and
            # each hand-off woke a thread: W ran at half its rate). Every stored job's
            # id is in ``_created``, so one atomic setdefault claims the id.
            mine = _now()
            if self._created.setdefault(job_id, mine) is not mine:
                raise JobExistsError(self._exists(job_id))
            try:
                self._put(job)
            except BaseException:
                if self._created.get(job_id) is mine:  # nothing of it was stored
                    del self._created[job_id]
                raise
            return
        with self._lock:  # the check and the write are one step: one id, one case
            if job_id in self._live or job_id in self._finished:
                raise JobExistsError(self._exists(job_id))
            owner = self.owner
            if owner is not None:  # a job created by a worker is stamped with it (as in SQL)
                self._stamps.setdefault(job_id, owner)
                if job.parent_id is None and job.state not in FINAL_STATES:
                    self._expires[job_id] = HELD
                    if self._worker_row != owner:  # as SqlStore._new_lease
                        expires = time.time() + self.lease_seconds
                        self._workers[owner] = max(self._workers.get(owner, expires), expires)
                        self._worker_row = owner
            self._put(job)

    def _exists(self, job_id: str) -> str:
        return f"a job with id {job_id!r} already exists in {self.url}"

    def save(self, job: JobRecord) -> None:
        if self.owner is None:
            self._put(job)  # the hot path: no lock
            return
        with self._lock:  # the fence and the write are atomic with claims
            self._fence(job.id, job.case_id)
            self._put(job)
            if job.parent_id is None and job.state in FINAL_STATES:
                self._expires.pop(job.id, None)  # a case's final save ends its lease (as in SQL)

    def save_split(self, parent: JobRecord, branches: list[JobRecord]) -> None:
        if self.owner is None:
            self._put_split(parent, branches)
            return
        with self._lock:
            self._fence(parent.id, parent.case_id)
            for branch in branches:
                self._fence(branch.id, branch.case_id)
            self._put_split(parent, branches)

    def _put_split(self, parent: JobRecord, branches: list[JobRecord]) -> None:
        # Branches first: once the parent reads as split, its branches exist.
        for branch in branches:
            self._put(branch)
        self._put(parent)

    def _fence(self, job_id: str, case_id: str) -> None:
        """Raise ``LeaseLostError`` if another worker's stamp is on job ``job_id``.

        A new job is stamped with ``owner`` (as in SQL). Called with the lock held.
        """
        owner = self.owner
        assert owner is not None
        holder = self._stamps.get(job_id)
        if holder is None:
            if self._find(job_id) is None:
                self._stamps[job_id] = owner
        elif holder != owner:
            raise LeaseLostError(job_id, case_id, holder, owner)

    def delete(self, job_id: str) -> None:
        self._marks.pop(job_id, None)
        self._created.pop(job_id, None)
        self._history.pop(job_id, None)
        self._stamps.pop(job_id, None)
        self._expires.pop(job_id, None)
        self._tries.pop(job_id, None)
        self._live.pop(job_id, None)
        self._finished.pop(job_id, None)
        self._arrivals.pop(job_id, None)

    def mark_cancel(self, job_id: str, why: str) -> None:
        """``Store.mark_cancel``: noted apart, the engine's record left alone."""
        with self._lock:
            held = self.owner is None or self._stamps.get(job_id) in (None, self.owner)
            if held and job_id in self._live:
                self._marks[job_id] = why

    # -- multi-worker groundwork ------------------------------------------------------------
    #
    # A trivial, single-process model of the SQL stores' due timers (their claims and
    # leases are MemoryLeases', their join counting MemoryJoins').

    def due_timers(self, now: float) -> list[str]:
        """Ids of WAITING jobs due at or before ``now``, earliest first (see Store)."""
        with self._lock:
            due = [
                (saved[DUE], job_id)
                for job_id, saved in self._live.items()
                if saved[STATE] is JobState.WAITING and saved[DUE] is not None and saved[DUE] <= now
            ]
        return [job_id for _, job_id in sorted(due)]

    def _check_invariants(self) -> None:
        assert self._live.keys().isdisjoint(self._finished)
        for saved in self._live.values():  # a plain loop: the harness runs this after every action
            assert saved[STATE] not in FINAL_STATES
        assert len(self._finished) <= self.retain
