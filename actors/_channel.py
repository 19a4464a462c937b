"""The work channel: ready jobs shared by the Scheduler (producer) and Runners (consumers).

The Scheduler decides *what* is ready; an idle Runner *pulls* its next job here as soon
as it finishes one, internal work (branches, joins, released timers, answered events)
before new external jobs from the admission gate. A runner that finds nothing parks
itself as idle, and the next job put in the channel is handed straight to it with one
message. So under load no runner waits on a round trip through the Scheduler, and no
job ever waits behind a slow job on a busy runner.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

from actors._job import JobState

if TYPE_CHECKING:
    from actors._admission import AdmissionGate
    from actors._job import JobRecord

__all__ = ["WorkChannel"]


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
        self._watch = _Watched()

    def put(self, job: JobRecord) -> list[tuple[int, JobRecord]]:
        """Make ``job`` ready. Returns the ``(runner, job)`` pairs to tell: idle runners given work.

        That is ``job`` itself, handed to an idle runner, or (for a job taken over) the
        watched jobs whose turn came, which may be others than ``job`` (a solo job goes
        first; jobs held back while one ran alone go as soon as it has stored its try).
        The record is handed over: the caller writes nothing on it until it comes back,
        in its runner's report or from ``withdraw``.
        """
        with self._lock:
            job.due = None
            if job.taken_over or job.solo:  # counts a try, or runs alone: see _Watched
                job.state = JobState.READY
                self._watch.add(job)
                started = []
                while (pair := self._watched_for_idle()) is not None:
                    started.append(pair)
                return started
            if self._idle and not self._watch.holding:
                runner = self._idle.pop()
                job.state = JobState.RUNNING  # _start, inlined
                self.running[job.id] = (runner, job)
                return [(runner, job)]
            job.state = JobState.READY
            self._ready.append(job)
            return []

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
            bool(self.running or self._ready or self._watch.waiting or self._gate.used)
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
            while self._idle and self._ready:
                held = self._ready.popleft()
                if held.state is JobState.READY:  # a cancelled job stays behind, skipped
                    runner = self._idle.pop()
                    self._start(runner, held)
                    out.append((runner, held))
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
            for job in (*self._ready, *self._watch.waiting, *self._watch.counting):
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
            waiting = (*self._ready, *self._watch.waiting, *self._watch.counting)
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
                and not any(j.state is JobState.READY for j in (*self._ready, *self._watch.waiting))
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


class _Watched:
    """Jobs taken over from a worker that stopped, which count a try before they run.

    Not locked: the channel's lock guards it. A ``solo`` job (a counted try of it, from
    the point it is at, already ended with its worker) runs alone in the worker, so that
    if it ends this process too, the death is its own: it starts only once no job of the
    worker runs, and nothing starts beside it. While a solo job waits or runs
    (``holding``), the other jobs taken over run one at a time as well, and the worker's
    own jobs wait: they count no tries, but one that ended the process would end the
    solo job's try with it, and three such deaths would fault an innocent job. A solo
    job's try ends at its first save, which its runner stores at once (``tried``: from
    there it runs on unwatched), or with its slice, stored before the slice ends. The
    others run side by side, their tries counted in batches (``_try_batch``). A job
    whose slices the store refused runs alone the same way (``solo`` without a takeover:
    see ``actors._unsaved_slices``), for its whole slice, which its runner stores in a
    transaction of its own before it ends.
    """

    __slots__ = ("_solos", "counting", "counts", "holding", "solo_running", "waiting")

    def __init__(self) -> None:
        self.waiting: deque[JobRecord] = deque()  # ready, in the order they came
        # Jobs out of line while a runner counts their tries with its own job's (batch),
        # and the tries counted so for jobs not started yet, by id (see WorkChannel.batch_of).
        self.counting: list[JobRecord] = []
        self.counts: dict[str, int] = {}
        self._solos = 0  # solo jobs in ``waiting`` (cancelled ones too, until skipped)
        self.solo_running: str | None = None  # the id of the solo job running now
        # A solo job waits or runs: jobs start one at a time, with nothing beside them.
        # An attribute, not a property: the channel reads it on every put and take.
        self.holding = False

    def _hold(self) -> None:
        self.holding = self._solos > 0 or self.solo_running is not None

    def add(self, job: JobRecord) -> None:
        """``job`` (taken over) is ready to run."""
        if job.solo:
            if not self.holding:
                self.waiting.appendleft(job)  # it goes first, alone: the rest wait their turn
            else:
                self.waiting.append(job)
            self._solos += 1
            self.holding = True
        else:
            self.waiting.append(job)

    def next(self, busy: bool) -> JobRecord | None:
        """The next ready job to start, if it may start now (``_start`` it).

        ``busy``: a job of the worker runs now (any job, its own cases' too).
        """
        if busy and self.holding:
            return None  # one runs alone, or waits for the others to end
        while self.waiting:
            job = self.waiting.popleft()
            if job.solo:
                self._solos -= 1
            if job.state is not JobState.READY:  # cancelled while it waited
                self.counts.pop(job.id, None)
                continue
            if job.solo:
                self.solo_running = job.id
            self._hold()
            return job
        self._hold()
        return None

    def ended(self) -> None:
        """The solo job running left its runner, or stored its try's first save."""
        self.solo_running = None
        self._hold()

    def batch(self, most: int) -> list[JobRecord]:
        """Up to ``most`` waiting jobs with no try counted yet, taken out of line (see batch_of)."""
        if self.holding:
            return []
        out: list[JobRecord] = []
        kept: list[JobRecord] = []  # counted ones, put back first; cancelled ones dropped
        waiting, counts = self.waiting, self.counts
        while waiting and len(out) < most:
            job = waiting.popleft()
            if job.state is not JobState.READY:
                counts.pop(job.id, None)
            elif job.id in counts or not job.taken_over:
                kept.append(job)
            else:
                out.append(job)
        waiting.extendleft(reversed(kept))
        self.counting.extend(out)
        return out

    def back(self, batch: list[JobRecord], tries: dict[str, int]) -> None:
        """``batch`` is back in line, first; the tries counted for it noted by job id."""
        gone = {job.id for job in batch}
        self.counting = [job for job in self.counting if job.id not in gone]
        self.waiting.extendleft(reversed(batch))
        ready = [j for j in batch if j.id in tries and j.state is JobState.READY]  # not withdrawn
        self.counts.update((j.id, tries[j.id]) for j in ready)
