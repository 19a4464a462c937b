"""The work channel: ready jobs shared by the Scheduler (producer) and Runners (consumers).

The Scheduler decides *what* is ready; an idle Runner *pulls* its next job here as soon
as it finishes one, internal work (branches, joins, released timers, answered events)
before new external jobs from the admission gate. A runner that finds nothing parks
itself as idle, and the next job put in the channel is handed straight to it with one
message. So under load no runner waits on a round trip through the Scheduler, and no
job ever waits behind a slow job on a busy runner.

The Scheduler makes a wide split's branches ready one message each; it gathers them and
puts them in together (``gather``, ``flush``), so the lock the runners take their jobs
under is held once for up to ``GATHER`` branches instead of once for each.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

from actors._job import JobState
from actors._watched import Watched

if TYPE_CHECKING:
    from actors._admission import AdmissionGate
    from actors._job import JobRecord

__all__ = ["GATHER", "WorkChannel"]

GATHER = 64  # branches gathered at most before they go in (see WorkChannel.gather)


class WorkChannel:
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
        self._ready: deque[JobRecord] = deque()
        self._idle: list[int] = []
        self.running: dict[str, tuple[int, JobRecord]] = {}
        self.drain_requested = False  # runners report going idle while shutdown drains
        self._watch = Watched()
        # Jobs ``gather`` made ready that no runner may take before ``flush``: only the
        # Scheduler's thread changes the list, which no runner reads.
        self.gathered: list[JobRecord] = []

    def put(self, job: JobRecord) -> list[tuple[int, JobRecord]]:
        """Make ``job`` ready. Returns the ``(runner, job)`` pairs to tell: idle runners given work.

        That is ``job`` itself, handed to an idle runner, or (for a job taken over) the
        watched jobs whose turn came, which may be others than ``job`` (a solo job goes
        first; jobs held back while one ran alone go as soon as it has stored its try).
        The record is handed over: the caller writes nothing on it until it comes back,
        in its runner's report or from ``withdraw``. Jobs gathered go in first.
        """
        with self._lock:
            started = self._put_gathered() if self.gathered else []
            job.due = None
            if job.taken_over or job.solo:  # counts a try, or runs alone: see Watched
                job.state = JobState.READY
                self._watch.add(job)
                while (pair := self._watched_for_idle()) is not None:
                    started.append(pair)
                return started
            if self._idle and not self._watch.holding:
                runner = self._idle.pop()
                job.state = JobState.RUNNING  # _start, inlined
                self.running[job.id] = (runner, job)
                started.append((runner, job))
                return started
            job.state = JobState.READY
            self._ready.append(job)
            return started

    def gather(self, job: JobRecord) -> list[tuple[int, JobRecord]]:
        """Make ``job`` ready with the jobs that follow it: it goes in at the next ``flush``.

        The Scheduler's way with a split's branches (one message each): it flushes before
        it handles any other message, once its inbox is empty, and here once ``GATHER``
        jobs wait, so the runners find up to ``GATHER`` branches in the channel for one
        hold of its lock. ``job`` is READY from here on, and ``withdraw`` takes it back;
        only no runner takes it before the flush. A job taken over, or solo, goes in at
        once (``put``). Returns the pairs to tell, as ``put`` does.
        """
        if job.taken_over or job.solo:
            return self.put(job)
        job.due = None
        job.state = JobState.READY
        gathered = self.gathered
        gathered.append(job)
        return self.flush() if len(gathered) >= GATHER else []

    def flush(self) -> list[tuple[int, JobRecord]]:
        """Put the jobs gathered in, in order; the pairs to tell, as ``put`` returns."""
        with self._lock:
            return self._put_gathered()

    def _put_gathered(self) -> list[tuple[int, JobRecord]]:
        """Move the gathered jobs to the ready ones, idle runners given the first (lock held)."""
        self._take_gathered()
        return self._ready_for_idle() if self._idle else []

    def _take_gathered(self) -> None:
        """The gathered jobs join the ready ones, in order, bar any withdrawn (lock held)."""
        gathered, self.gathered = self.gathered, []
        self._ready.extend(job for job in gathered if job.state is JobState.READY)

    def _ready_for_idle(self) -> list[tuple[int, JobRecord]]:
        """Start ready jobs on idle runners, unless a solo job holds them back (lock held)."""
        started: list[tuple[int, JobRecord]] = []
        if self._watch.holding:
            return started
        while self._idle and self._ready:
            held = self._ready.popleft()
            if held.state is JobState.READY:  # a cancelled job stays behind, skipped
                runner = self._idle.pop()
                self._start(runner, held)
                started.append((runner, held))
        return started

    def take(self, runner: int, finished: JobRecord | None = None) -> JobRecord | None:
        """The next job for ``runner``; ``None`` parks the runner as idle.

        ``finished`` is the job whose slice the runner just ended (``done()`` folded in,
        so a runner takes the channel's lock once per job).
        """
        running = self.running
        watch = self._watch
        with self._lock:
            if finished is not None:  # _release, inlined: this runs once per job
                held = running.get(finished.id)
                if held is not None and held[0] == runner:
                    del running[finished.id]
                    if finished.id == watch.solo_running:
                        watch.ended()
            if watch.waiting:
                job = watch.next(bool(running))
                if job is not None:
                    self._start(runner, job)
                    return job
            if watch.holding:  # a solo job waits or runs: nothing else starts
                if runner not in self._idle:
                    self._idle.append(runner)
                return None
            ready = self._ready
            while ready:
                job = ready.popleft()
                if job.state is JobState.READY:  # a cancelled job stays behind, skipped
                    job.state = JobState.RUNNING  # _start, inlined
                    running[job.id] = (runner, job)
                    return job
            admitted = self._gate.pop() if self.backlog() < self.report_limit else None
            if admitted is not None:
                self._start(runner, admitted)
                return admitted
            if runner not in self._idle:
                self._idle.append(runner)
            return None

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
            bool(self.running or self._ready or self.gathered)
            or bool(self._watch.waiting or self._gate.used)
            or sum(self.sent) - self.handled > held
        )

    def wants_admission(self) -> bool:
        """A runner is idle while admitted, watched or held jobs wait (a hint, no lock)."""
        return bool(self._idle) and (
            len(self._gate) > 0
            or bool(self._watch.waiting)
            or bool(self._ready)
            or bool(self.gathered)
        )

    def assign_admitted(self) -> list[tuple[int, JobRecord]]:
        """Hand idle runners work: watched jobs whose turn came, jobs a solo one held back.

        And queued external jobs, after an admission woke the Scheduler.
        """
        out = []
        with self._lock:
            if self.gathered:
                self._take_gathered()
            while self._idle and self._watch.waiting:
                started = self._watched_for_idle()
                if started is None:
                    break
                out.append(started)
            if self._watch.holding:
                return out
            out += self._ready_for_idle()
            while self._idle and self.backlog() < self.report_limit:
                job = self._gate.pop()
                if job is None:
                    break
                runner = self._idle.pop()
                self._start(runner, job)
                out.append((runner, job))
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
        job.state = JobState.RUNNING
        self.running[job.id] = (runner, job)

    def done(self, job: JobRecord, runner: int) -> None:
        """``runner``'s slice of ``job`` is over (it parked, split, joined, ended or failed).

        A job that parked may already be running again elsewhere; that entry stays.
        """
        with self._lock:
            self._release(job, runner)

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

    def runner_of(self, job_id: str) -> int | None:
        """The runner that holds job ``job_id`` now, if one does."""
        with self._lock:
            held = self.running.get(job_id)
            return None if held is None else held[0]

    def withdraw(self, job: JobRecord) -> bool:
        """Take a READY job out of circulation (cancel); ``False`` if a runner has it already."""
        with self._lock:
            if job.state is JobState.READY:
                job.state = JobState.CANCELLED
                return True
            return False

    def withdraw_case(self, case_id: str) -> int:
        """Take every READY job of case ``case_id`` out of circulation (the case was lost)."""
        with self._lock:
            n = 0
            for job in (*self._ready, *self.gathered, *self._watch.waiting, *self._watch.counting):
                if job.case_id == case_id and job.state is JobState.READY:
                    job.state = JobState.CANCELLED  # skipped by take(), like a cancelled job
                    n += 1
            return n

    def forget_runner(self, runner: int) -> None:
        """A runner died: it is no longer idle."""
        with self._lock:
            if runner in self._idle:
                self._idle.remove(runner)

    @property
    def ready(self) -> int:
        """Ready internal jobs not yet taken."""
        with self._lock:
            waiting = (*self._ready, *self.gathered, *self._watch.waiting, *self._watch.counting)
            return sum(1 for j in waiting if j.state is JobState.READY)

    def quiet(self) -> bool:
        """No job ready, queued for admission or running, and no runner report unread.

        The reports matter: a runner hands back a split's branches in messages, and
        between its last report and the Scheduler reading it nothing else shows work.
        """
        with self._lock:
            return (
                not self.running
                and not len(self._gate)
                and self.backlog() == 0
                and not any(
                    j.state is JobState.READY
                    for j in (*self._ready, *self.gathered, *self._watch.waiting)
                )
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
            solo = self._watch.solo_running
            assert solo is None or list(self.running) == [solo], "a job runs beside a solo job"
