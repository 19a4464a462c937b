"""What one Mediator's actors are given: a frozen configuration, and the log they write.

``EngineConfig`` holds what never changes while the engine runs (the workflows, the
store, the clock, the options) and the few objects actors share by design, each
thread-safe on its own: the admission gate and the work channel (locked, ADR 0001), the
handles of running cases (single dict operations), the ``StopSignal`` of a non-draining
shutdown and the roster of the runners started (locked). Whatever else an actor needs to
know of another it learns by message; the lease state runners read before each step is
a handle the Scheduler owns (``actors._leases.LeaseGuard``).
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from actors._cases import ID_RULE, refuse_version, valid_id
from actors._channel import WorkChannel
from actors._delivering import delivering
from actors._errors import JobExistsError, UnknownWorkflowError
from actors._handle import CaseHandles
from actors._id_claims import IdClaims
from actors._redact import redacted_logger
from actors._runner_roster import RunnerRoster
from actors._task_waits import TaskWaits

if TYPE_CHECKING:
    from actors._admission import AdmissionGate
    from actors._clock import Clock
    from actors._job import Job, JobRecord
    from actors._runtime import Runtime
    from actors._workflow import Workflow
    from actors.metrics import Metrics
    from actors.stores import Store
    from actors.tracing import Tracer

__all__ = ["EngineConfig", "StopSignal", "delivering", "job_log", "log_level", "logger"]

logger = redacted_logger("actors")


def job_log(job: JobRecord | None) -> dict[str, Any]:
    """``extra=`` for a log record about ``job``: its id, step and attempt as attributes.

    Every record the engine logs about a job carries ``job_id``, ``step`` and
    ``attempt`` (``None`` when no job is involved), so a formatter or a structured
    handler can use them.
    """
    if job is None:
        return {"job_id": None, "step": None, "attempt": None}
    return {"job_id": job.id, "step": job.step, "attempt": job.attempt}


# An engine's id ends with a random tag, read from blocks of the system's random bytes.
_TAG_BYTES, _TAGS_PER_BLOCK = 4, 4096


def _unique_ids() -> Callable[[], str]:
    """Ids unique across processes that no one can tell in advance.

    A random prefix per engine and a counter make each id unique; a random tag after
    them makes the next ids unknowable from the last. Branch ids are shown to operators
    and sent to outside services (in correlation ids): with a counter alone, anyone who
    could admit a case under an id of their choosing could take the id of a branch not
    yet made, and the split would write its branch over that case. Thread-safe: the
    counter's ``next`` is atomic, and two threads that both replace a used block of tags
    each take theirs from their own block.
    """
    # As long as ids were before the tag (16 characters and the counter), so listings
    # show them in full: 32 random bits tell engines apart (and the tag's 32 more, for
    # two that drew the same prefix), 32 make each next id a guess of one in four billion.
    prefix = uuid.uuid4().hex[:8]
    counter = itertools.count(1)
    size = _TAG_BYTES
    block = [(0, os.urandom(size * _TAGS_PER_BLOCK))]  # (block number, its tags)

    def new_id() -> str:
        n = next(counter)
        number, tags = block[0]
        if n // _TAGS_PER_BLOCK != number:
            tags = os.urandom(size * _TAGS_PER_BLOCK)
            block[0] = (n // _TAGS_PER_BLOCK, tags)
        at = n % _TAGS_PER_BLOCK * size
        return f"{prefix}{n:x}{tags[at : at + size].hex()}"

    return new_id


# How many of the ids a user's factory made lately are remembered: more than the engine
# can have made and not yet stored (a group of slices, a batch), and at most a few MB.
_RECENT_IDS = 65_536


class IdMadeAgainError(JobExistsError):
    """A user's ids factory made an id it had made lately: the id names another job."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"Mediator(ids=...) made {job_id!r:.80} again; that id is taken")


class _CheckedIds:
    """The user's ``ids`` factory, each id it makes held to the rule and new to this engine.

    An id made twice is refused even before either job is stored (a group commit stores
    a split's branches after the runner has gone on), where looking it up in the store
    would find nothing: two splits, or a split and an admission, would save one job over
    the other. The last ``_RECENT_IDS`` ids are remembered; the store is asked for older.
    """

    __slots__ = ("_ids", "_lock", "_order", "_recent")

    def __init__(self, ids: Callable[[], str]) -> None:
        self._ids = ids
        self._lock = threading.Lock()  # runners and producers make ids at once
        self._recent: set[str] = set()
        self._order: collections.deque[str] = collections.deque()

    def __call__(self) -> str:
        job_id = self._ids()
        if not valid_id(job_id):
            msg = f"Mediator(ids=...) made {job_id!r:.80}, which is no job id: one is {ID_RULE}"
            raise ValueError(msg)
        with self._lock:
            if job_id in self._recent:
                raise IdMadeAgainError(job_id)
            self._recent.add(job_id)
            self._order.append(job_id)
            if len(self._order) > _RECENT_IDS:
                self._recent.discard(self._order.popleft())
        return job_id


def _default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class StopSignal:
    """A non-draining shutdown has begun: runners stop before their next step.

    The Mediator sets it once and nothing clears it; runners read it before every step.
    A message cannot do this: a runner runs several jobs, step after step, in one
    delivery and reads its inbox only between deliveries. Thread-safe by construction:
    one bool attribute that goes from ``False`` to ``True`` once, read and written whole
    (a reader sees the change at its next step at the latest); cheaper to read per step
    than a ``threading.Event``.
    """

    __slots__ = ("failure", "keep_store", "requested")

    def __init__(self) -> None:
        self.requested = False
        self.keep_store = False  # set with it when this release must write the store no more
        # The error that stopped the Scheduler, if one did: a Mediator that could not
        # start names it (written once, on the Scheduler's thread, before it stops).
        self.failure: BaseException | None = None

    def set(self) -> None:
        """Ask the runners to stop before their next step."""
        self.requested = True

    def halt(self) -> None:
        """Stop as ``set`` does, and write nothing more: no job saved ready, no lease released.

        For a store a newer release migrated past what this one may write.
        """
        self.keep_store = True
        self.requested = True


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    """One Mediator's configuration, given to its Scheduler and Runners (no globals).

    Frozen: no actor changes it. ``gate``, ``channel``, ``handles``, ``id_claims`` and
    ``stop`` and ``roster`` are the thread-safe objects the actors share by design (see the module's
    docstring).
    """

    workflows: Mapping[tuple[str, int], Workflow]
    latest: Mapping[str, Workflow]  # the newest version of each workflow name
    store: Store
    clock: Clock
    gate: AdmissionGate
    channel: WorkChannel
    runtime: Runtime
    on_shed: Callable[[Job], Any] | None = None
    new_id: Callable[[], str] = field(default_factory=_unique_ids)
    # Jobs a runner may run back to back within one delivery before it yields to its
    # inbox: fewer messages under load; 1 makes every job its own delivery.
    runner_batch: int = 32
    metrics: Metrics | None = None
    tracer: Tracer | None = None
    # Who this process is to other workers on a shared store, and its lease rhythm.
    owner: str = field(default_factory=_default_owner)
    lease_seconds: float = 15.0
    poll_interval: float = 1.0
    # Futures of cases not yet ended, by case id (producers add, the Scheduler resolves).
    handles: CaseHandles = field(default_factory=CaseHandles)
    # Named ids being admitted now, by producers' threads and by the Scheduler for an
    # actor's Schedule alike: one set, so neither admits an id the other is deciding.
    id_claims: IdClaims = field(default_factory=IdClaims)
    # Set by the Mediator on a non-draining shutdown: runners stop between steps.
    stop: StopSignal = field(default_factory=StopSignal)
    # The runners the Scheduler started: a shutdown waits for them without asking it.
    roster: RunnerRoster = field(default_factory=RunnerRoster)
    # The cases its runners' tasks wait for: a wait no runner is left to end is refused.
    task_waits: TaskWaits = field(default_factory=TaskWaits)
    # The process it runs in: a child forked from it has none of its threads.
    pid: int = field(default_factory=os.getpid)

    @classmethod
    def build(
        cls,
        workflows: list[Workflow],
        store: Store,
        clock: Clock,
        gate: AdmissionGate,
        runtime: Runtime,
        *,
        runners: int = 1,
        ids: Callable[[], str] | None = None,
        owner: str | None = None,
        **options: Any,
    ) -> EngineConfig:
        """A configuration for ``workflows``.

        ``ValueError`` if one is registered twice, or its version is past what ``store``
        keeps.
        """
        by_key: dict[tuple[str, int], Workflow] = {}
        latest: dict[str, Workflow] = {}
        for wf in workflows:
            if wf.key in by_key:
                msg = f"workflow {wf.name!r} version {wf.version} is registered twice"
                raise ValueError(msg)
            refuse_version(store, wf.name, wf.version)
            by_key[wf.key] = wf
            if wf.name not in latest or latest[wf.name].version < wf.version:
                latest[wf.name] = wf
        return cls(
            workflows=MappingProxyType(by_key),
            latest=MappingProxyType(latest),
            store=store,
            clock=clock,
            gate=gate,
            channel=WorkChannel(gate, runners),
            runtime=runtime,
            new_id=_unique_ids() if ids is None else _CheckedIds(ids),
            owner=owner or _default_owner(),
            **options,
        )

    @property
    def ids_given(self) -> bool:
        """Whether ``new_id`` is the user's factory (a branch's id is looked up before use)."""
        return isinstance(self.new_id, _CheckedIds)

    @property
    def stopping(self) -> bool:
        """Whether a non-draining shutdown has begun (runners stop between steps)."""
        return self.stop.requested

    def workflow(self, name: str, version: int | None = None) -> Workflow:
        """The registered workflow ``name`` (newest version unless ``version`` is given)."""
        wf = self.latest.get(name) if version is None else self.workflows.get((name, version))
        if wf is None:
            known = ", ".join(f"{n} v{v}" for n, v in sorted(self.workflows)) or "none"
            what = repr(name) if version is None else f"{name!r} version {version}"
            msg = f"no workflow {what} is registered (known: {known})"
            raise UnknownWorkflowError(msg)
        return wf


def log_level(error: BaseException | None) -> int:
    """How loudly the engine logs a failure: ERROR, unless the exception says otherwise.

    An exception class may set ``log_level`` (a ``logging`` level): the test harness's
    injected crashes are the test's own doing and say INFO, so a property test with
    crashes does not log an ERROR for each (the engine recovers from them as from any).
    """
    level = getattr(error, "log_level", logging.ERROR)
    return level if isinstance(level, int) else logging.ERROR
