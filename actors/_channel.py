"""The work channel: ready jobs shared by the Scheduler (producer) and Runners (consumers).

The Scheduler decides *what* is ready; an idle Runner *pulls* its next job here as soon
as it finishes one, internal work (branches, joins, released timers, answered events)
before new external jobs from the admission gate. A runner that finds nothing parks
itself as idle, and the next job put in the channel is handed straight to it with one
message. So under load no runner waits on a round trip through the Scheduler, and no
job ever waits behind a slow job on a busy runner.

A ready job's hand-over takes no lock while runners are busy: the Scheduler appends to
a deque and runners pop from it, and a job goes to the one who takes it out of
``_pending`` (``dict.pop``, one atomic step), a runner or a cancel's ``withdraw``. Each
of these steps is one call into C, which no other thread interleaves with. A lock taken
per job by the Scheduler and four runners made a convoy: a thread preempted while it
held the lock queued the others behind it, each woken in turn without the interpreter,
for the rest of the run. The lock stays for the rare paths: parking a runner as idle and
handing it work, admission, the watched jobs (``actors._watched_jobs``), cancels.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

from actors._channel_withdraw import Withdrawals
from actors._job import JobState
from actors._watched_jobs import Watched

if TYPE_CHECKING:
    from actors._admission import AdmissionGate
    from actors._job import JobRecord

# Module globals: an enum member read from its class goes through its metaclass's hook.
_READY, _RUNNING = JobState.READY, JobState.RUNNING

__all__ = ["WorkChannel"]


class WorkChannel(Withdrawals):
    """Ready internal jobs, idle runners, and which runner runs which job."""

    def __init__(self, gate: AdmissionGate, runners: int = 1) -> None:
        self._gate = gate
        # Flow control between Runners and the Scheduler. Runners report every job's
        # outcome in messages the Scheduler must never refuse; if it falls behind, its
        # inbox would grow without bound. So a runner starts no *new* external job while
        # more than ``report_limit`` reports wait, and admission backs up into the
        # bounded gate instead. Each runner counts what it sent (one writer per slot) and
        # the Scheduler what it handled, so no lock is needed to keep the tally. The last
        # slot is a store writer thread's (``commit="group"``): a runner counts one report
        # for a slice it hands over, and the writer, sending the slice's reports once it
        # is stored, counts them less that one.
        self.sent = [0] * (runners + 1)
        self.handled = 0
        self.report_limit = max(256, 32 * runners)
        self._lock = threading.Lock()  # always taken before the gate's lock, never after
        self._ready: deque[JobRecord] = deque()  # plain ready jobs, first in first out
        # Every READY job not yet given to a runner (plain and watched), by identity: the
        # one that pops a job from here has it, a runner to run or a cancel to end.
        self._pending: dict[int, JobRecord] = {}
        self._idle: list[int] = []  # changed under the lock only
        self.idle = self._idle  # the runners parked idle: read as a hint, no lock
        # A runner enters its job here itself, before it pops the job from ``_pending``
        # and ends it here before it reports on the job: until then nobody else can
        # enter that job again, so no lock is needed for either.
        self.running: dict[str, tuple[int, JobRecord]] = {}
        # Slices runners handed to the store's writer thread (``commit="group"``) and left,
        # not stored yet: their jobs by a key of each slice. Its runner's copy is stale until then.
        self.storing: dict[object, JobRecord] = {}
        # Jobs whose runner took its last look for a stop before it ends their slice, by
        # id: a cancel then finds its ``StopJob`` read or too late, and waits for the
        # report. Set by the runner before it looks; taken out by the Scheduler as it
        # reads the report (``CancelDesk.reported``).
        self.last_look: dict[str, JobRecord] = {}
        self.drain_requested = False  # runners report going idle while shutdown drains
        self._watch = Watched()

    def put(self, job: JobRecord) -> list[tuple[int, JobRecord]]:
        """Make ``job`` ready. Returns the ``(runner, job)`` pairs to tell: idle runners given work.

        That is ``job`` itself (or a job put before it), handed to an idle runner, or (for
        a job taken over) the watched jobs whose turn came, which may be others than
        ``job`` (a solo job goes first; jobs held back while one ran alone go as soon as
        it has stored its try). The record is handed over: the caller writes nothing on it
        until it comes back, in its runner's report or from ``withdraw``.
        """
        job.due = None
        job.state = _READY
        if job.taken_over or job.solo:  # counts a try, or runs alone: see Watched
            with self._lock:
                self._pending[id(job)] = job
                self._watch.add(job)
                started = []
                while (pair := self._watched_for_idle()) is not None:
                    started.append(pair)
                return started
        self._pending[id(job)] = job
        self._ready.append(job)
        # After the append: a runner parks itself before it looks at ``_ready`` a last
        # time, so one of the two sees the other.
        if not self._idle:
            return []
        with self._lock:
            return self._ready_for_idle()

    def take(self, runner: int, finished: JobRecord | None = None) -> JobRecord | None:
        """The next job for ``runner``; ``None`` parks the runner as idle.

        ``finished``: the job whose slice the runner just ended, if it has not called
        ``done`` for it yet (only before anyone could make that job ready again).
        """
        if finished is not None:
            self.done(finished, runner)
        watch = self._watch
        if not watch.waiting and not watch.holding:  # the common case: no lock
            job = self._take_ready(runner)
            if job is None:
                job = self._take_admitted(runner)
            if job is not None:
                return job
        with self._lock:
            if watch.waiting:
                job = watch.next(bool(self.running))
                if job is not None:
                    self._start(runner, job)
                    return job
            if watch.holding:  # a solo job waits or runs: nothing else starts
                if runner not in self._idle:
                    self._idle.append(runner)
                return None
            while True:
                job = self._take_ready(runner)
                if job is not None:
                    return job
                job = self._take_admitted(runner)
                if job is not None:
                    return job
                if runner not in self._idle:
                    self._idle.append(runner)
                if not self._ready:  # a put appends first, then looks for idle runners
                    return None
                self._idle.remove(runner)

    def _take_ready(self, runner: int) -> JobRecord | None:
        """Pop the next plain ready job for ``runner``, with or without the lock.

        The job is entered in ``running`` before it leaves ``_pending``, so that it is
        always in one of them (``quiet``), and that a solo job about to start sees it.
        """
        ready, pending, running = self._ready, self._pending, self.running
        while True:
            try:
                job = ready.popleft()
            except IndexError:
                return None
            key = id(job)
            if pending.get(key) is not job:
                continue  # withdrawn (cancelled) while it waited: skipped
            running[job.id] = (runner, job)
            if self._watch.holding:  # a solo job came meanwhile: it goes first, alone
                del running[job.id]
                ready.appendleft(job)
                return None
            if pending.pop(key, None) is job:
                job.state = _RUNNING
                return job
            del running[job.id]  # withdrawn between the two looks

    def _take_admitted(self, runner: int) -> JobRecord | None:
        """Start the oldest admitted job on ``runner``; none while reports back up."""
        if self.backlog() >= self.report_limit:
            return None
        return self._gate.pop(self._enter_admitted, runner)

    def _enter_admitted(self, job: JobRecord, runner: int) -> bool:
        """Start admitted ``job`` on ``runner``, under the gate's lock (see ``AdmissionGate.pop``).

        With or without the channel's lock: entered in ``running`` before the solo rule
        is read, as ``_take_ready`` does, so that a solo job about to start sees it.
        """
        running = self.running
        running[job.id] = (runner, job)
        if self._watch.holding:  # a solo job came meanwhile: it goes first, alone
            del running[job.id]
            return False
        job.state = _RUNNING
        return True

    def _ready_for_idle(self) -> list[tuple[int, JobRecord]]:
        """Start plain ready jobs on idle runners (lock held)."""
        out: list[tuple[int, JobRecord]] = []
        if self._watch.holding:
            return out
        while self._idle:
            job = self._take_ready(self._idle[-1])
            if job is None:
                break
            out.append((self._idle.pop(), job))
        return out

    def backlog(self) -> int:
        """Reports sent by runners that the Scheduler has not handled yet."""
        return sum(self.sent) - self.handled

    def busy(self, held: int = 0) -> bool:
        """Whether work is under way that leads to a runner's slice (a hint, no lock).

        A job running or ready, a case being admitted or queued for admission, or a
        report the Scheduler has not handled, besides the one counted for each of the
        ``held`` slices a store's writer holds unstored.
        """
        return (
            bool(self._pending or self.running or self._gate.used)
            or sum(self.sent) - self.handled > held
        )

    def wants_admission(self) -> bool:
        """A runner is idle while admitted, watched or held jobs wait (a hint, no lock)."""
        return bool(self._idle) and (
            len(self._gate) > 0 or bool(self._watch.waiting) or bool(self._ready)
        )

    def assign_admitted(self) -> list[tuple[int, JobRecord]]:
        """Hand idle runners work: watched jobs whose turn came, jobs a solo one held back.

        And queued external jobs, after an admission woke the Scheduler.
        """
        out = []
        with self._lock:
            while self._idle and self._watch.waiting:
                started = self._watched_for_idle()
                if started is None:
                    break
                out.append(started)
            if self._watch.holding:
                return out
            out += self._ready_for_idle()
            while self._idle:
                job = self._take_admitted(self._idle[-1])
                if job is None:
                    break
                out.append((self._idle.pop(), job))
        return out

    def _watched_for_idle(self) -> tuple[int, JobRecord] | None:
        """Start the next watched job whose turn came on an idle runner (lock held)."""
        if not self._idle:
            return None
        job = self._watch.next(bool(self.running))
        if job is None:
            return None
        runner = self._idle.pop()
        self._start(runner, job)
        return runner, job

    def _start(self, runner: int, job: JobRecord) -> None:
        """Start a watched job on ``runner`` (lock held)."""
        self._pending.pop(id(job), None)
        job.state = _RUNNING
        self.running[job.id] = (runner, job)

    def done(self, job: JobRecord, runner: int) -> None:
        """``runner``'s slice of ``job`` is over (it parked, split, joined, ended or failed).

        Called before the runner reports on the job (or by the Scheduler for a runner that
        died): so nobody runs ``job`` again meanwhile, and no lock is needed. A job that
        parked may already be running again elsewhere; that entry stays.
        """
        if job.id == self._watch.solo_running:  # its end lets the held-back jobs go
            with self._lock:
                self._release(job, runner)
            return
        held = self.running.get(job.id)
        if held is not None and held[0] == runner:
            del self.running[job.id]

    def handed_over(self, job: JobRecord, runner: int) -> object:
        """``runner`` handed its slice of ``job`` to the store's writer thread: ``done``.

        The slice is in ``storing`` until the writer calls back with the key returned,
        which the runner then takes out: a stale copy of a case lost here is not gone
        while its last save may still land (``StaleCopies``).
        """
        key = object()
        self.storing[key] = job
        self.done(job, runner)
        return key

    def _release(self, job: JobRecord, runner: int) -> None:
        held = self.running.get(job.id)
        if held is not None and held[0] == runner:
            del self.running[job.id]
            if job.id == self._watch.solo_running:
                self._watch.ended()

    def tried(self, job_id: str) -> bool:
        """Watched job ``job_id`` stored a save in its counted try: it runs on unwatched.

        A solo job no longer needs to run alone: a death from here on is not its try.
        Returns whether idle runners may now be given the jobs it held back.
        """
        with self._lock:
            watch = self._watch
            if job_id != watch.solo_running:
                return False  # it held nothing back
            watch.ended()
            return not watch.holding and bool(self._idle)

    def batch_of(self, most: int) -> list[JobRecord]:
        """Up to ``most`` jobs taken over whose tries to count now, out of line meanwhile.

        Waiting jobs with no counted try from their saved point (not ``solo``), first in
        line, for a runner about to count its own job's try to count theirs with it (one
        transaction for all). None while a solo job waits or runs: jobs then start one
        at a time, and each counts its own. They are back in line, first, with
        ``counted``: until then no runner starts them (their tries not stored yet).
        """
        with self._lock:
            return self._watch.batch(most)

    def counted(self, batch: list[JobRecord], tries: dict[str, int]) -> bool:
        """``batch`` (from ``batch_of``) is back in line, first; ``tries`` counted by job id.

        A job not in ``tries`` was not counted: its runner counts it. Returns whether
        idle runners may now be given them.
        """
        with self._lock:
            self._watch.back(batch, tries)
            return bool(self._idle) and bool(self._watch.waiting) and not self._watch.holding

    def counted_try(self, job_id: str) -> int | None:
        """The tries counted for job ``job_id`` in another job's batch, if they were."""
        with self._lock:
            return self._watch.counts.pop(job_id, None)

    @property
    def ready(self) -> int:
        """Ready jobs not yet taken."""
        return len(self._pending)

    def quiet(self) -> bool:
        """No job ready, queued for admission or running, and no runner report unread.

        The reports matter: a runner hands back a split's branches in messages, and
        between its last report and the Scheduler reading it nothing else shows work.
        Read in this order, as a job goes from one to the next: a runner takes a job
        into ``running`` before it leaves the gate or ``_pending``, and counts its
        reports in ``sent`` before it leaves ``running``.
        """
        with self._lock:
            return (
                not len(self._gate)
                and not self._pending
                and not self.running
                and self.backlog() == 0
            )

    def _check_invariants(self) -> None:
        with self._lock:
            # One pass, no temporary sets: the test harness runs this after every action.
            seen: set[int] = set()
            for job_id, (runner, job) in self.running.items():
                assert runner not in seen, "a runner holds two jobs"
                assert runner not in self._idle, "a runner is both idle and running"
                seen.add(runner)
                assert job.id == job_id
                assert job.state is JobState.RUNNING, f"running job {job_id} is {job.state}"
            for job in self._pending.values():
                assert job.state is JobState.READY, f"ready job {job.id} is {job.state}"
            solo = self._watch.solo_running
            assert solo is None or list(self.running) == [solo], "a job runs beside a solo job"
