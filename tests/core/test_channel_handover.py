"""The work channel hands a ready job over without its lock while runners are busy.

The Scheduler appends a ready job and a runner pops it, each without the lock, so that
neither waits behind a thread preempted while it holds it (a convoy). Each test holds
the channel at one point of a hand-over, the lock taken or not, and makes the other side
act there: it must not wait for the lock, and the job must go exactly once. On a channel
that took its lock for every hand-over, the other side waits: each test gives it a
second (an event's timeout) and fails.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from records import record

from actors._admission import AdmissionGate, FullMode
from actors._channel import WorkChannel
from actors._job import JobState

PATIENCE = 1.0  # seconds an act may take before it counts as waiting for the lock


def at_once(act: Any) -> tuple[bool, Any]:
    """Run ``act`` on another thread: whether it returned within PATIENCE, and what."""
    done = threading.Event()
    out: list[Any] = []

    def run() -> None:
        out.append(act())
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    returned = done.wait(PATIENCE)
    if not returned:
        thread.join(10)  # the lock is free once the caller goes on; let it finish
    return returned, out[0] if out else None


class _Gate(AdmissionGate):
    """A gate that runs ``hook`` when a runner, finding no ready job, asks it for one.

    Only when it asks holding the channel's lock (``locked``), about to park: it first
    asks without the lock.
    """

    hook: Any = None
    locked: Any = None

    def pop(self, *args: Any) -> Any:
        if self.hook is not None and self.locked():
            hook, self.hook = self.hook, None
            hook()
        return super().pop(*args)


class _Running(dict):  # type: ignore[type-arg]
    """The channel's ``running``, running ``hook`` as a runner enters a job in it."""

    hook: Any = None

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        if self.hook is not None:
            hook, self.hook = self.hook, None
            hook()


def test_a_ready_job_put_while_a_runner_holds_the_lock_is_not_left_behind():
    """The put does not wait, and the runner, about to park, takes the job itself."""
    gate = _Gate(4, FullMode.BACKPRESSURE)
    channel = WorkChannel(gate, runners=1)
    job = record("branch")
    put: list[Any] = []
    # The runner found nothing ready and holds the lock, asking the gate: a put now.
    gate.locked = channel._lock.locked
    gate.hook = lambda: put.append(at_once(lambda: channel.put(job)))
    taken = channel.take(0)
    [(returned, told)] = put
    assert returned, "the put waited for the runner's lock"
    assert told == []  # no runner was idle when it looked
    assert taken is job  # the runner looked once more after parking: not stranded
    assert job.state is JobState.RUNNING
    assert channel.running == {"branch": (0, job)}
    assert channel.runner_of("branch") == 0
    channel._check_invariants()


def test_a_runner_takes_a_ready_job_while_another_thread_holds_the_lock():
    channel = WorkChannel(AdmissionGate(4, FullMode.BACKPRESSURE), runners=2)
    job = record("branch")
    assert channel.put(job) == []
    with channel._lock:  # a thread preempted inside it (a cancel, a parking runner)
        returned, taken = at_once(lambda: channel.take(1))
    assert returned, "the take waited for the lock"
    assert taken is job
    assert channel.running == {"branch": (1, job)}


def test_a_cancel_between_a_runners_look_and_its_claim_wins_the_job():
    """The runner has popped the job and entered it as running; the cancel claims it first."""
    channel = WorkChannel(AdmissionGate(4, FullMode.BACKPRESSURE), runners=2)
    running = channel.running = _Running()
    job, other = record("cancelled"), record("next")
    assert channel.put(job) == []
    assert channel.put(other) == []
    withdrawn: list[Any] = []
    running.hook = lambda: withdrawn.append(at_once(lambda: channel.withdraw(job)))
    taken = channel.take(0)
    [(returned, won)] = withdrawn
    assert returned, "the cancel waited for the lock"
    assert won  # the cancel has the job: it ends cancelled, and no runner runs it
    assert job.state is JobState.CANCELLED
    assert taken is other  # the runner skipped it and took the next
    assert channel.running == {"next": (0, other)}
    assert not channel.withdraw(other)  # taken: a cancel now stops it on its runner
    assert channel.runner_of("next") == 0
    channel._check_invariants()


def test_a_cancel_after_a_runners_claim_finds_the_job_on_that_runner():
    channel = WorkChannel(AdmissionGate(4, FullMode.BACKPRESSURE), runners=2)
    job = record("job")
    assert channel.put(job) == []
    assert channel.take(1) is job
    assert not channel.withdraw(job)
    assert channel.runner_of("job") == 1
    assert job.state is JobState.RUNNING


def test_a_solo_job_that_comes_as_a_runner_takes_a_plain_one_runs_alone_first():
    """The runner has entered a plain job as running when a solo job arrives: it steps back."""
    channel = WorkChannel(AdmissionGate(4, FullMode.BACKPRESSURE), runners=2)
    running = channel.running = _Running()
    plain = record("plain")
    solo = record("solo", taken_over=True, solo=True)
    assert channel.put(plain) == []
    put: list[Any] = []
    running.hook = lambda: put.append(at_once(lambda: channel.put(solo)))
    taken = channel.take(0)
    [(returned, told)] = put
    assert returned, "the solo job's put waited for the lock"
    assert told == []  # no runner idle: it waits for the next to look
    assert taken is solo  # nothing ran: its turn, alone
    assert plain.state is JobState.READY  # back in line, first, not taken
    assert list(channel._ready) == [plain]
    assert channel.running == {"solo": (0, solo)}
    channel._check_invariants()
    assert channel.take(1) is None  # nothing starts beside the solo job
    channel.done(solo, 0)  # its slice ends: it runs alone no more
    assert channel.take(0) is plain


@pytest.mark.parametrize("waits", ["ready", "admitted"])
def test_a_job_being_taken_is_always_seen_as_work(waits: str):
    """Between a runner's look and its claim the job is running already: never quiet.

    A ready job (internal work) or a new case's job taken from the admission gate.
    """
    gate = AdmissionGate(4, FullMode.BACKPRESSURE)
    channel = WorkChannel(gate, runners=1)
    running = channel.running = _Running()
    if waits == "ready":
        job = record("job")
        assert channel.put(job) == []
    else:
        job = _admitted(gate, "job")
    seen: list[Any] = []
    running.hook = lambda: seen.append(at_once(lambda: (channel.quiet(), channel.busy())))
    assert channel.take(0) is job
    assert seen == [(True, (False, True))]
    channel.sent[0] += 1  # its report, counted before the job leaves ``running``
    channel.done(job, 0)
    assert not channel.quiet()
    channel.handled += 1
    assert channel.quiet()


def _admitted(gate: AdmissionGate, job_id: str) -> Any:
    """Admit a new case's job to ``gate`` as a producer does: reserve, then commit."""
    job = record(job_id)
    gate.reserve()
    gate.commit(job)
    return job


def test_a_runner_starts_an_admitted_job_while_another_thread_holds_the_lock():
    """A new case's job goes from the gate to a busy runner without the channel's lock."""
    gate = AdmissionGate(4, FullMode.BACKPRESSURE)
    channel = WorkChannel(gate, runners=2)
    job = _admitted(gate, "new")
    with channel._lock:  # a thread preempted inside it (a cancel, a parking runner)
        returned, taken = at_once(lambda: channel.take(1))
    assert returned, "the take waited for the lock"
    assert taken is job
    assert job.state is JobState.RUNNING
    assert channel.running == {"new": (1, job)}
    assert len(gate) == 0
    assert gate.used == 0  # its slot is free for the next producer
    channel._check_invariants()


def test_a_solo_job_that_comes_as_a_runner_starts_an_admitted_one_runs_alone_first():
    """An admitted job entered as running when a solo job arrives stays queued: solo first."""
    gate = AdmissionGate(4, FullMode.BACKPRESSURE)
    channel = WorkChannel(gate, runners=2)
    running = channel.running = _Running()
    admitted = _admitted(gate, "admitted")
    solo = record("solo", taken_over=True, solo=True)
    put: list[Any] = []
    running.hook = lambda: put.append(at_once(lambda: channel.put(solo)))
    taken = channel.take(0)
    [(returned, told)] = put
    assert returned, "the solo job's put waited for the lock"
    assert told == []  # no runner idle: it waits for the next to look
    assert taken is solo  # nothing ran: its turn, alone
    assert admitted.state is JobState.READY
    assert gate.ids() == ["admitted"]  # still first in line, its slot still taken
    assert gate.used == 1
    assert channel.running == {"solo": (0, solo)}
    channel._check_invariants()
    assert channel.take(1) is None  # nothing starts beside the solo job
    channel.done(solo, 0)
    assert channel.take(0) is admitted
