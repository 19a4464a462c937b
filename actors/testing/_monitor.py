"""The DESIGN invariants, checked independently of the engine's own bookkeeping.

The harness tells the monitor what it delivered and what each runner is about to run;
the monitor keeps its own record (arrivals per split, joins fired, unstarted cases,
saved states at each crash) and compares the engine against it. Checks that run inside
an actor (the step hook) never raise there, where the engine would take the error for a
crash: they are queued in ``violations`` and raised after the delivery.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from actors import messages as m
from actors._job import FINAL_STATES, JobRecord, JobState
from actors._steps import Discriminator, Synchronize
from actors.testing._monitor_accounting import Accounting
from actors.testing._probe import branch_gen

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors._job import Job
    from actors.testing._probe import Probe

__all__ = ["Monitor"]

_SplitKey = tuple[str, int]  # (parent job id, split generation)
_JOINS = (Synchronize, Discriminator)


class Monitor(Accounting):
    """Independent records of one run, and the six DESIGN invariants over them."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self._running = probe.running()  # the channel's own dict: live, never replaced
        self.violations: list[str] = []
        """Violations seen inside actor code, raised by the harness after the delivery."""
        self.totals: dict[_SplitKey, int] = {}
        self.arrivals: dict[_SplitKey, set[int]] = {}
        self.fires: dict[_SplitKey, int] = {}
        self.met: dict[_SplitKey, set[str]] = {}
        """The join steps each split's branches arrived at (more than one faults the split)."""
        self.releases: set[_SplitKey] = set()
        """Splits whose join the Scheduler has released (checked at the moment it does)."""
        self.crashes: list[tuple[int, str, str | None]] = []
        """(runner, job id, step it was about to run) for every injected crash."""
        self.resumes: list[tuple[str, str | None]] = []
        """(job id, step) of every job seen resuming after a crash, checked against its save."""
        self._expected: dict[str, tuple[str | None, Any]] = {}
        self.unstarted: set[str] = set()
        self.steps_checked = 0
        """Steps whose runner was checked to be the job's only owner (invariant 2)."""
        self.peak_unstarted = 0
        self.writer: Any = None
        self._commits_later = getattr(probe.store, "commit", "step") != "step"
        # Joins each job fired that a later crash may find were never stored.
        self._unstored: dict[str, list[tuple[_SplitKey, str]]] = {}
        """With ``commit="group"``: the store's writer, which holds slices handed over."""
        self._adopt_splits()

    def _adopt_splits(self) -> None:
        """Splits an earlier run left in the store: the branches that arrived there count.

        A harness on a store another engine stopped (or crashed) resumes its cases; a
        parent already split saw some branches arrive before this run began, and its join
        is released once the rest arrive here.
        """
        for job in self.probe.live().values():
            if job.split_total:
                key = (job.id, job.gen)
                self.totals[key] = job.split_total
                self.arrivals[key] = set(job.arrivals)
                if job.join_step is not None:
                    self.met[key] = {job.join_step}

    # -- events the harness reports ----------------------------------------------------------

    def admitted(self, job_id: str) -> None:
        """A new case entered the admission gate."""
        self.unstarted.add(job_id)

    def delivered(self, message: Any) -> None:
        """A message was delivered to the Scheduler (or a runner)."""
        if isinstance(message, m.SpawnBranch) and message.parent is not None:
            parent = message.parent
            self.totals[(parent.id, parent.gen)] = parent.split_total
        elif isinstance(message, m.BranchArrived):
            child = message.job
            if child.parent_id is not None and child.branch_index is not None:
                key = (child.parent_id, branch_gen(child))
                self.arrivals.setdefault(key, set()).add(child.branch_index)
                self.met.setdefault(key, set()).add(message.join_step)
                self._released(key, message.join_step)

    def _released(self, key: _SplitKey, join_step: str) -> None:
        """After an arrival: if it released the parent, were all its branches there?"""
        parent = self.probe.jobs().get(key[0])
        if (
            parent is None
            or key in self.releases
            or parent.gen != key[1]
            or not parent.joined
            or parent.event is None
            or parent.event[0] != "join"
        ):
            return
        self.releases.add(key)
        got = self.arrivals.get(key, set())
        total = self.totals.get(key, parent.split_total)
        step = self.probe.engine.workflow(parent.workflow, parent.version).step(join_step)
        if isinstance(step, Synchronize) and got != set(range(total)):
            self.violations.append(
                f"invariant 3: Synchronize {join_step!r} released job {parent.id} after branches "
                f"{sorted(got)} of {total} had arrived"
            )

    def step(self, runner: int, job: JobRecord, step: Any, *, crashing: bool) -> None:
        """``runner`` is about to run ``step`` of ``job`` (it crashes there if ``crashing``)."""
        if self.unstarted:  # a batch may take, run and park a job in one delivery
            self.unstarted.discard(job.id)
        self.steps_checked += 1
        held = self._running.get(job.id)
        if held is None or held[0] != runner or held[1] is not job:
            owner = "nobody" if held is None else f"runner {held[0]}"
            self.violations.append(
                f"invariant 2: runner {runner} runs job {job.id} step {step.name!r} "
                f"but the work channel says {owner} holds it"
            )
        expected = self._expected.pop(job.id, None) if self._expected else None
        if expected is not None:
            self.resumes.append((job.id, job.step))
            if (job.step, job.data) != expected:
                self.violations.append(
                    f"invariant 5: job {job.id} resumed at step {job.step!r} with data "
                    f"{job.data!r}; its last save was step {expected[0]!r} with {expected[1]!r}"
                )
        if crashing:
            return
        if isinstance(step, _JOINS) and job.event is not None and job.event[0] == "join":
            self._fired(job, step)

    def _fired(self, job: JobRecord, step: Synchronize | Discriminator) -> None:
        key = (job.id, job.gen)
        self.fires[key] = self.fires.get(key, 0) + 1
        if self._commits_later:  # stored at the end of the slice, or with its group
            self._unstored.setdefault(job.id, []).append((key, step.name))
        got = self.arrivals.get(key, set())
        total = self.totals.get(key, job.split_total)
        if self.fires[key] > 1:
            self.violations.append(
                f"invariant 3: join {step.name!r} of job {job.id} fired {self.fires[key]} "
                f"times for one split (generation {job.gen})"
            )
        elif isinstance(step, Synchronize) and got != set(range(total)):
            self.violations.append(
                f"invariant 3: Synchronize {step.name!r} of job {job.id} fired after branches "
                f"{sorted(got)} of {total} had arrived"
            )
        elif isinstance(step, Discriminator) and not got:
            self.violations.append(
                f"invariant 3: Discriminator {step.name!r} of job {job.id} fired before any branch"
            )

    def crashed(self, runner: int, job: JobRecord, step: str | None) -> None:
        """An injected crash hits ``runner`` while it holds ``job``: note its last save.

        With a store that commits every save, the crash point comes right after a save (or
        a release the Scheduler saved), so the runner's own record *is* the last save;
        taking it from here rather than from the store means a store that hands back a
        stale state is caught too. A store that commits a slice at its end has stored
        only what it held when the slice began.
        """
        self.crashes.append((runner, job.id, step))
        if getattr(self.probe.store, "commit", "step") == "step":
            self._expected[job.id] = (job.step, copy.deepcopy(job.data))
            return
        # The runner's saves since its slice began were never stored (commit="slice"):
        # the job resumes from what the store holds, which reruns those steps.
        self._from_store(job.id)

    def crashed_unsaved(self, runner: int, job_id: str, saved: tuple[str | None, Any]) -> None:
        """An injected crash hit ``runner`` after a step's task ran, before its save.

        ``saved`` is the job's record right before that step (its last save, with a store
        that commits every save); a store committing slices holds what it held before.
        """
        self.crashes.append((runner, job_id, saved[0]))
        if getattr(self.probe.store, "commit", "step") == "step":
            self._expected[job_id] = saved
            return
        self._from_store(job_id)

    def group_lost(self, job: JobRecord) -> None:
        """A group holding a slice that saved ``job`` was lost before it was stored.

        The Scheduler resumes the job from what the store holds (a job the group would
        have created first is not in the store, and never runs).
        """
        stored = self._from_store(job.id)
        if stored is not None and stored.state not in FINAL_STATES:
            self.crashes.append((-1, job.id, stored.step))

    def _from_store(self, job_id: str) -> JobRecord | None:
        """What was saved since ``job_id``'s last stored save is lost: it resumes from that.

        A join it fired in those lost steps did not fire, as far as anything stored
        knows: it fires again when the job reruns the join step, and that is its one
        firing. Returns the stored record.
        """
        stored = self.probe.store.load(job_id)
        if stored is None or stored.state in FINAL_STATES:
            self._unstored.pop(job_id, None)
            return stored
        self._expected[job_id] = (stored.step, stored.data)
        for key, name in self._unstored.pop(job_id, ()):
            if key[1] == stored.gen and name == stored.step and self.fires.get(key, 0) > 0:
                self.fires[key] -= 1
        return stored

    # -- checks after every delivery ---------------------------------------------------------

    def check(self, capacity: int, *, scheduler_ran: bool = True) -> None:
        """Raise ``AssertionError`` if a component or any invariant fails right now.

        ``scheduler_ran=False``: nothing was delivered to the Scheduler since the last
        check (its private collaborators are left out: only it changes them).
        """
        if self.violations:
            raise AssertionError(self.violations[0])
        if self.probe.stopped():
            return  # what it left stays in the store (which shutdown() has closed)
        self.probe.check_components(scheduler_ran=scheduler_ran)
        self.check_accounted()
        self.check_claimable()
        self._check_runner_inboxes()  # no violation reported: check_reported(2) has nothing
        if self.unstarted:
            self.check_capacity(capacity)

    def check_reported(self, invariant: int) -> None:
        """Raise the first violation of ``invariant`` seen inside actor code, if any."""
        if not self.violations:
            return
        for violation in self.violations:
            if violation.startswith(f"invariant {invariant}:"):
                raise AssertionError(violation)

    def check_one_runner(self) -> None:
        """Invariant 2: a RunJob waits only at the runner the channel assigned the job to."""
        self.check_reported(2)
        self._check_runner_inboxes()

    def _check_runner_inboxes(self) -> None:
        running = self.probe.running()
        for cell in self.probe.runtime.cells:
            # Most inboxes are empty after an action: look at the queue before the class.
            if not cell.inbox.queue or not self.probe.is_runner(cell):
                continue
            index = self.probe.runner_index(cell)
            runs = [e.message.job for e in cell.pending if isinstance(e.message, m.RunJob)]
            assert len(runs) <= 1, f"invariant 2: runner {index} has {len(runs)} RunJob queued"
            for job in runs:
                owner = running.get(job.id)
                if owner is None or owner[0] != index:
                    where = f"invariant 2: RunJob({job.id}) waits at runner {index}"
                    assigned = "nobody" if owner is None else owner[0]
                    raise AssertionError(f"{where} but the work channel assigns it to {assigned}")

    def check_capacity(self, capacity: int) -> None:
        """Invariant 6: cases admitted and not yet started stay within capacity."""
        if not self.unstarted:
            return
        running = self.probe.running()
        view = self.probe.view()
        # A job the Scheduler has let go of (ended before its first step, a cancel) is out
        # of the gate, though its final save may still wait in a store's group.
        held = None if view is None else set(view.jobs)
        if held is not None:
            held.update(job.id for job in self.probe.queued())
        unstarted = {
            jid
            for jid in self.unstarted
            if jid not in running and (held is None or jid in held) and not self.probe.is_final(jid)
        }
        if unstarted:
            shedding = {  # evicted under DROP_OLDEST: out of the gate, to be reported SHED
                envelope.message.job.id
                for cell in self.probe.runtime.cells
                for envelope in cell.pending
                if isinstance(envelope.message, m.JobShed)
            }
            unstarted -= shedding
        self.unstarted = unstarted
        self.peak_unstarted = max(self.peak_unstarted, len(self.unstarted))
        assert len(self.unstarted) <= capacity, (
            f"invariant 6: {len(self.unstarted)} admitted jobs not yet started, capacity "
            f"{capacity}: {sorted(self.unstarted)}"
        )

    # -- checks at the end of a run ------------------------------------------------------------

    def _check_first(self) -> None:
        self.check_accounted()
        self.check_claimable()

    def check_one(self, number: int, capacity: int) -> None:
        """Check DESIGN invariant ``number`` (1-3, 5, 6; 4 needs the harness) now."""
        checks: dict[int, Callable[[], None]] = {
            1: self._check_first,
            2: self.check_one_runner,
            3: lambda: self.check_reported(3),
            5: lambda: self.check_reported(5),
            6: lambda: self.check_capacity(capacity),
        }
        checks[number]()

    def check_end(self, results: list[Job]) -> None:
        """At the end of a run: every case ended, and every complete split joined once."""
        for job in results:
            assert job.state in FINAL_STATES, f"invariant 1: case {job.id} ended {job.state}"
        if self.probe.stopped():
            return  # its joins are read from the store, which shutdown() has closed
        for key, got in self.arrivals.items():
            parent = self.probe.store.get(key[0])
            if parent is None or parent.state is JobState.CANCELLED:
                continue  # forgotten (retention), or cancelled before its join
            total = self.totals.get(key)
            fires = self.fires.get(key, 0)
            assert fires <= 1, f"invariant 3: the join of job {key[0]} fired {fires} times"
            met = self.met.get(key, set())
            if fires == 0 and len(met) > 1:
                # Branches that met at different joins: the split faults, by design
                # ("all branches of a split must meet at one join"); no join can fire.
                assert parent.state is JobState.FAULTED, (
                    f"invariant 3: the branches of job {key[0]} arrived at joins "
                    f"{sorted(met)}, which no join can fire for, but it ended "
                    f"{parent.state.value}, not faulted"
                )
                continue
            if total is not None and got == set(range(total)) and fires == 0:
                msg = (
                    f"invariant 3: every branch of job {key[0]} arrived at its join but the "
                    f"join never fired (the job ended {parent.state.value})"
                )
                raise AssertionError(msg)
