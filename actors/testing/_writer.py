"""Group commit under the harness: the store's writer thread, as a simulated actor.

A store opened with ``commit="group"`` hands each runner's slice to a writer thread,
which stores whatever is queued in one transaction and then calls each slice's
callback (where the runner's reports to the Scheduler are sent). Under the harness the
writer is a ``ScheduledWriter`` instead: a slice handed over waits in its queue, and
"the writer stores the group queued now" is one more action the chooser picks, at any
point. So the runner runs on before its slice is stored, as it does with the thread.

A crash inside a group (``Crash(point="in_group")``) marks the slice of the step it
hits: the group that gathers it is lost before it is stored. Each slice in that group
that saved something hears so, as from a transaction that died, and the Scheduler
resumes each of its jobs from its last stored save: every step those slices ran runs
again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors._job import JobRecord
from actors._redact import redacted_logger
from actors.stores._group import GroupWriter, Slice, holds_anything
from actors.testing._errors import InjectedCrash
from actors.testing._probe import message_jobs

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors.stores import Store
    from actors.stores._group import Done
    from actors.testing._faults import Crash
    from actors.testing._monitor import Monitor
    from actors.testing._runtime import ActorCell, DeterministicRuntime

__all__ = ["ScheduledWriter", "adopt_writer"]

logger = redacted_logger("actors.testing")


def adopt_writer(store: Store) -> GroupWriter | None:
    """The writer of ``store`` to put under the harness (``None``: it commits in place).

    Raises ``ValueError`` naming why for a store whose commits the harness cannot
    schedule.
    """
    if not store.background_commit:
        return None
    writer = getattr(store, "_writer", None)
    if not isinstance(writer, GroupWriter) or getattr(writer, "_send", None) is not None:
        why = (
            "hands each group to a writer process of its own"
            if getattr(store, "writer", "") == "process"
            else "stores on a writer of its own the harness does not know"
        )
        msg = (
            f"the harness cannot schedule the commits of {store.url}: it {why}; open it "
            "with writer='thread' (commit='group'), or commit='step' or 'slice'"
        )
        raise ValueError(msg)
    return writer


class ScheduledWriter(GroupWriter):
    """A ``GroupWriter`` without a thread: the harness says when it stores (module doc)."""

    def __init__(
        self,
        store: Any,
        runtime: DeterministicRuntime,
        monitor: Monitor,
        record: Callable[[str, str, str | None, str], None],
    ) -> None:
        old = store._writer
        old.close()  # a thread it may have started stores what it holds first
        super().__init__(store._store_group, name=old._name, max_group=old._max_group)
        self.groups, self.slices = old.groups, old.slices
        store._writer = self
        self._store = store
        self._runtime = runtime
        self._monitor = monitor
        self._record = record
        self.queued: list[tuple[Slice, Done]] = []
        """Slices handed over and not yet stored, oldest first."""
        self._doomed: dict[ActorCell, Crash] = {}
        self._lost: dict[int, Crash] = {}  # id(slice) -> the crash that loses its group
        self._writing = False

    # -- what a runner calls ----------------------------------------------------------------

    def submit(self, part: Slice, done: Done) -> None:
        """Queue ``part``; stored when the harness chooses the writer's action."""
        cells = self._runtime.delivering
        crash = self._doomed.pop(cells[-1], None) if cells else None
        if crash is not None:
            self._lost[id(part)] = crash
        self.queued.append((part, done))

    def store(self, part: Slice) -> None:
        """Store what is queued and then ``part``, now (the caller waits for it)."""
        outcome: list[BaseException | None] = []
        self.submit(part, outcome.append)
        self.write()
        if outcome[0] is not None:
            raise outcome[0]

    def is_current(self) -> bool:
        """Whether the simulated writer is storing a group (and calling its callbacks)."""
        return self._writing

    def close(self) -> None:
        """Store what is still queued (as the thread would when its store closes)."""
        self._closed = True
        if self.queued:
            self.write()

    # -- what the harness calls ------------------------------------------------------------

    def holds(self) -> set[str]:
        """Ids of the jobs whose slices wait here (their runners have moved on)."""
        return {job.id for job in _jobs(self.queued)}

    def doom(self, cell: ActorCell, crash: Crash) -> None:
        """The slice ``cell`` hands over next is in a group that is lost before it is stored."""
        self._doomed[cell] = crash

    def write(self) -> None:
        """Gather every queued slice into one group and store it (or lose it, if doomed)."""
        group, self.queued = self.queued, []
        crash = next((self._lost.pop(id(p)) for p, _ in group if id(p) in self._lost), None)
        for part, _ in group:
            self._lost.pop(id(part), None)
        if crash is not None and not holds_anything([part for part, _ in group]):
            crash = None  # the writer makes no transaction for callbacks alone: none lost
        self._writing = True
        try:
            if crash is None:
                self._record("writer", "store group", None, f"{len(group)} slice(s)")
                self._commit(group)
                return
            where = f"a group of {len(group)} slice(s) (step #{crash.at_step}'s among them)"
            self._record("writer", "crash", None, f"{where} gathered, lost before it is stored")
            for job in _jobs(group):
                self._monitor.group_lost(job)
            error = InjectedCrash(f"injected: the writer crashed storing {where}")
            # The test's own doing: one INFO line (as for an injected runner crash), not
            # the store's ERROR for a transaction that failed.
            logger.info("writer: %s", error)
            for part, done in group:
                # A slice that saved nothing lost nothing (GroupWriter._finish): a request's
                # park, stored at once and reported, stands.
                done(error if holds_anything([part]) else None)
        finally:
            self._writing = False


def _jobs(group: list[tuple[Slice, Done]]) -> list[JobRecord]:
    """The jobs a group's slices saved or report on (each once), in order."""
    seen: dict[str, JobRecord] = {}
    for part, done in group:
        for _, _, job in part.rows:
            seen.setdefault(job.id, job)
        # A runner's callback (a partial) carries its job and the reports it will send.
        args = getattr(done, "args", ())
        for value in args:
            for item in value if isinstance(value, list) else [value]:
                for job in (item, *message_jobs(item)):
                    if isinstance(job, JobRecord):
                        seen.setdefault(job.id, job)
    return list(seen.values())
