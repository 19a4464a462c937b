"""A job taken over from a stopped worker: its counted try lasts until its first save.

Real SQLite stores in one process. The try (and a solo job's turn alone) ends at the
job's first save, which is stored at once even when the store groups a slice's saves,
so a death while the steps after it run is not counted against the job, and the
worker's other jobs start beside it from then on. Only tries alone count toward the
limit: the first try after a takeover runs beside other jobs (or waits for its turn,
counted in a batch), so the death that ends it may be any job's.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from bounds import TIMEOUT, wait_until

from actors import Job, JobState, Mediator, Sequential, StepContext, Workflow, enqueue
from actors._errors import StoreError
from actors._job import JobRecord
from actors._runner_failures import LIMIT
from actors.stores import Store, open_store
from actors.testing import VirtualClock


def _flows(gate: threading.Event) -> list[Workflow]:
    def first(data: dict) -> None:
        data["first"] = True

    def held(data: dict) -> None:
        assert gate.wait(2 * TIMEOUT), "the test never opened the gate"  # it fails first

    def other(data: dict) -> None:
        data["other"] = True

    return [
        Workflow(
            "slow",
            [
                Sequential("a", first, next="b"),
                Sequential("b", held, next="c"),
                Sequential("c", other),
            ],
            start="a",
        ),
        Workflow("other", [Sequential("x", other)], start="x"),
    ]


def _stopped_twice(url: str, case: str) -> None:
    """Two workers held ``case`` and stopped; the second counted a try of it first."""
    store = open_store(url)
    try:
        now = time.time()
        store.owner = "gone-1"
        assert store.claim("gone-1", now=now - 100, lease_seconds=1.0, limit=10)
        store.owner = "gone-2"
        [job] = store.claim("gone-2", now=now - 50, lease_seconds=1.0, limit=10)
        assert job.taken_over
        assert store.count_try(job) == 1
    finally:
        store.close()


@pytest.mark.parametrize("commit", ["slice", "group"])
def test_a_solo_jobs_try_ends_at_its_first_save_and_the_others_run_beside_it(
    tmp_path: Path, commit: str
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    gate = threading.Event()
    flows = _flows(gate)
    case = enqueue(url, flows[0], {}, job_id="slow-1")
    _stopped_twice(url, case)
    reader = open_store(url)
    try:
        with Mediator(
            flows,
            runners=2,
            store=open_store(url, commit=commit),
            owner="alive",
            lease_seconds=30.0,
            poll_interval=0.05,
        ) as mediator:
            # Step a's save is stored while step b runs: the count starts again there.
            wait_until(lambda: reader.get(case).step == "b", "step a's save to be stored")
            # The job ran alone until that save; the worker's own work runs beside it now.
            done = mediator.schedule("other", {}).result(timeout=TIMEOUT)
            assert done.state is JobState.DONE
            gate.set()
            wait_until(lambda: reader.get(case).state.is_final, "the case to end")
        assert reader.get(case).state is JobState.DONE
    finally:
        gate.set()
        reader.close()


def _tried(url: str, *, alone: int) -> None:
    """Workers held the one case and stopped, each with a try of its job counted.

    The first ran it from the start (no try counted), the next counted a try beside its
    other jobs (not a suspect yet), and ``alone`` more ran it alone, a suspect.
    """
    store = open_store(url)
    try:
        now = time.time() - 100
        store.owner = "gone-0"
        assert store.claim("gone-0", now=now, lease_seconds=1.0, limit=10)
        for i in range(1, alone + 2):
            store.owner = f"gone-{i}"
            [job] = store.claim(f"gone-{i}", now=now + 10 * i, lease_seconds=1.0, limit=10)
            assert job.taken_over
            assert job.solo is (i > 1)  # a try of it had ended with its worker
            assert store.count_try(job) == i
    finally:
        store.close()


ONE = Workflow("one", [Sequential("x", lambda data: None)], start="x")


def _run_taken_over(url: str) -> JobState:
    """A live worker takes the case over and runs its job: how the job ends."""
    with Mediator(
        [ONE],
        store=open_store(url),
        owner="alive",
        lease_seconds=30.0,
        poll_interval=0.05,
    ):
        reader = open_store(url)
        try:
            wait_until(lambda: reader.get("case").state.is_final, "the case to end")
            return reader.get("case").state
        finally:
            reader.close()


def test_a_death_beside_other_jobs_is_not_counted_toward_the_limit(tmp_path: Path) -> None:
    # Three workers died with a try of the job counted, but the first ran it beside its
    # other jobs: only two deaths are the job's own, one short of the limit. It was
    # faulted here, as if all three had been.
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    enqueue(url, ONE, {}, job_id="case")
    _tried(url, alone=LIMIT - 1)
    assert _run_taken_over(url) is JobState.DONE


def test_a_job_whose_tries_alone_all_ended_with_their_workers_faults(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    enqueue(url, ONE, {}, job_id="case")
    _tried(url, alone=LIMIT)
    assert _run_taken_over(url) is JobState.FAULTED
    store = open_store(url)
    try:
        error = store.get("case").error or ""
    finally:
        store.close()
    assert "the last 4 workers to run it from step 'x' (attempt 1) stopped before" in error
    assert "the last 3 while it ran alone" in error


def test_a_suspect_handed_back_unrun_runs_alone_when_it_runs_on(tmp_path: Path) -> None:
    # A suspect (a try of it already ended with its worker) counts its try, and then its
    # worker cannot vouch for its lease (frozen past it): the runner hands it back unrun.
    # When it runs on after the renewal, its try is still open (nothing saved since the
    # count), so it must run alone: it ran beside the worker's other jobs, where a death
    # would have been counted as one alone.
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    seen: list[tuple[str | None, bool]] = []
    clock = VirtualClock(start=time.time())
    store = open_store(url)
    real_count = store.count_try
    counted: list[int] = []
    started: list[Mediator] = []
    up = threading.Event()

    def count_try(job: JobRecord) -> int:
        counted.append(real_count(job))
        clock.advance(50 * 30.0)  # frozen past the lease, just after the count
        return counted[-1]

    store.count_try = count_try  # type: ignore[method-assign]

    def step(data: dict, ctx: StepContext) -> None:
        assert up.wait(TIMEOUT)
        watch = started[0]._engine.channel._watch
        seen.append((watch.solo_running, watch.holding))

    flow = Workflow("one", [Sequential("x", step)], start="x")
    enqueue(url, flow, {}, job_id="case")
    _stopped_twice(url, "case")
    reader = open_store(url)
    try:
        with Mediator(
            [flow],
            runners=2,
            store=store,
            owner="alive",
            clock=clock,
            lease_seconds=30.0,
            poll_interval=10.0,
        ) as mediator:
            started.append(mediator)
            up.set()
            wait_until(lambda: reader.get("case").state.is_final, "the case to end")
        assert reader.get("case").state is JobState.DONE
    finally:
        reader.close()
    assert counted == [2]  # counted once: the run after the renewal is that try
    assert seen == [("case", True)]  # it ran as the solo job, nothing beside it


def test_a_case_claimed_back_while_a_runner_counts_its_jobs_tries_runs_them_as_counted(
    tmp_path: Path,
) -> None:
    # Worker A takes two cases over from a worker that stopped while its one runner is
    # busy; that runner then counts its next job's try together with the other job's (a
    # batch). While that count waits for the store, A's lease lapses (frozen), B takes
    # the other case over and stops, and A drops the case and claims it back: the claim
    # reads no try of the job yet. Then the count of A's old copy lands. The claimed-back
    # copy must not run beside other jobs at try 2 as if it were its first: a death then
    # would count as one alone. (It did, counted again in a batch.)
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    clock = VirtualClock(start=time.time())
    start = clock.now()
    seen: list[tuple[str, str | None, int]] = []  # job, the solo job running, its tries
    gate, in_c0 = threading.Event(), threading.Event()

    def step(data: dict, ctx: StepContext) -> None:
        if ctx.job_id == "c0":  # keeps the runner busy while c1 and c2 are taken over
            in_c0.set()
            assert gate.wait(TIMEOUT), "the test never opened the gate"
        look = open_store(url)
        try:
            stored = look.stored_job(ctx.job_id)
        finally:
            look.close()
        assert stored is not None
        seen.append((ctx.job_id, started[0]._engine.channel._watch.solo_running, stored.tries))

    flow = Workflow("one", [Sequential("x", step)], start="x")
    for case in ("c1", "c2"):
        enqueue(url, flow, {}, job_id=case)
    gone = open_store(url)
    try:  # a worker holds c1 and c2 until start + 500, and stops (c0 it never held)
        gone.owner = "gone"
        assert len(gone.claim("gone", now=start + 450, lease_seconds=50.0, limit=2)) == 2
    finally:
        gone.close()
    enqueue(url, flow, {}, job_id="c0")
    store, other, reader = open_store(url), open_store(url), open_store(url)
    real_count = store.count_tries
    started: list[Mediator] = []
    up, counting = threading.Event(), threading.Event()
    lost: list[str] = []

    def count_tries(jobs: list[JobRecord]) -> dict[str, int]:
        if len(jobs) == 2 and not lost:  # its own job's try, and the other job's
            lost.append(jobs[1].case_id)
            now = clock.now()
            other.owner = "B"  # B finds A's lease expired, takes the case, and stops
            assert other.claim("B", now=now + 100, lease_seconds=1.0, limit=1, case_id=lost[0])
            # A wakes past its deadline (no alarm of its rings meanwhile) and is asked to
            # poll (a new case): it drops the case, B's lease ran out, and it claims it back.
            assert clock.advance(200.0) == 0
            enqueue(other, flow, {}, job_id="c3")
            wait_until(lambda: reader.lease_owners(lost)[lost[0]] == "A", "the claim back")
            started[0].stats()  # asked after that poll, answered once it is over
            counting.set()
        return real_count(jobs)

    store.count_tries = count_tries  # type: ignore[method-assign]
    try:
        with Mediator(
            [flow],
            runners=1,
            store=store,
            owner="A",
            clock=clock,
            lease_seconds=30.0,
            poll_interval=1000.0,  # no poll comes due unless the test moves the clock so far
        ) as mediator:
            started.append(mediator)
            up.set()
            assert in_c0.wait(TIMEOUT), "c0 never started"
            clock.advance(1000.0)  # its poll: gone's lease ran out, A takes c1 and c2 over
            mediator.stats()  # answered once that poll is over: both wait for the runner
            assert reader.lease_owners(["c1", "c2"]) == {"c1": "A", "c2": "A"}
            gate.set()
            assert counting.wait(TIMEOUT), "the runner never counted a batch"

            def ended() -> bool:
                clock.advance(1000.0)  # a poll each time (its timers are on this clock)
                return all(reader.get(c).state.is_final for c in ("c0", "c1", "c2", "c3"))

            wait_until(ended, "the cases to end")
    finally:
        gate.set()
        for each in (other, reader):
            each.close()
    assert [reader_state(url, c) for c in ("c1", "c2", "c3")] == [JobState.DONE] * 3
    again = [(solo, tries) for job, solo, tries in seen if job == lost[0]]
    assert again, seen
    # Its run at try 2 (the stale copy's count and its own) was alone, as a suspect's is.
    assert all(solo == lost[0] for solo, tries in again if tries >= 2), seen
    assert any(tries >= 2 for _, tries in again), seen


def reader_state(url: str, job_id: str) -> JobState:
    look = open_store(url)
    try:
        job = look.get(job_id)
        assert job is not None
        return job.state
    finally:
        look.close()


def test_a_suspect_whose_runner_died_before_its_first_save_runs_alone_again(
    tmp_path: Path,
) -> None:
    # A suspect's try is open until its first save. Its runner died there (a save that
    # raised what the engine did not expect): the job runs again from its last save,
    # that try still open, so alone again, or a death beside other jobs would count as one
    # alone.
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    seen: list[tuple[str, str | None, int]] = []  # step, the solo job running, tries
    store = open_store(url)
    real_save = store.save
    failed: list[str] = []
    started: list[Mediator] = []
    up = threading.Event()

    def save(job: JobRecord) -> None:
        if job.step == "y" and not failed:  # the save after step x, the try's first
            failed.append(job.id)
            raise RuntimeError("a save the engine did not expect to fail (test)")
        real_save(job)

    store.save = save  # type: ignore[method-assign]

    def step(data: dict, ctx: StepContext) -> None:
        look = open_store(url)
        try:
            stored = look.stored_job(ctx.job_id)
        finally:
            look.close()
        assert stored is not None
        assert up.wait(TIMEOUT)
        seen.append((ctx.step, started[0]._engine.channel._watch.solo_running, stored.tries))

    flow = Workflow("two", [Sequential("x", step, next="y"), Sequential("y", step)], start="x")
    enqueue(url, flow, {}, job_id="case")
    _stopped_twice(url, "case")
    reader = open_store(url)
    try:
        with Mediator(
            [flow], runners=2, store=store, owner="alive", lease_seconds=30.0, poll_interval=10.0
        ) as mediator:
            started.append(mediator)
            up.set()
            wait_until(lambda: reader.get("case").state.is_final, "the case to end")
        assert reader.get("case").state is JobState.DONE
    finally:
        reader.close()
    assert failed == ["case"]
    # Step x ran alone, and again, with the suspect's try still open (2, counted once),
    # alone again.
    assert [(solo, tries) for step, solo, tries in seen if step == "x"] == [("case", 2)] * 2, seen


@pytest.mark.parametrize("error", ["runner", "store"])
def test_a_try_whose_count_failed_is_counted_when_the_job_runs_again(
    tmp_path: Path, error: str
) -> None:
    # The job's tries alone all ended with their workers: the next try faults it instead
    # of running it. The count of that try fails (a runner that dies of it, or a store
    # that refuses the write for now): the job is taken back as last saved, and runs
    # again. It is still the try after a takeover, so it is counted first and faults the
    # job. (The takeover was forgotten at the reload: the step ran uncounted, a fifth
    # process ended by it in a row.)
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    ran: list[str] = []
    flow = Workflow("one", [Sequential("x", lambda data: ran.append("x"))], start="x")
    enqueue(url, flow, {}, job_id="case")
    _tried(url, alone=LIMIT)
    store = open_store(url)
    real_count = store.count_try
    failed: list[str] = []

    def count_try(job: JobRecord) -> int:
        if not failed:
            failed.append(job.id)
            if error == "runner":
                raise RuntimeError("a count the engine did not expect to fail (test)")
            down = StoreError("the store refused the write for now (test)")
            down.blames_job = False
            raise down
        return real_count(job)

    store.count_try = count_try  # type: ignore[method-assign]
    job = _run_to_its_end(url, store, flow)
    assert failed == ["case"]
    assert ran == []
    assert job.state is JobState.FAULTED
    assert "stopped before anything was saved" in (job.error or "")


def test_a_try_that_faults_the_job_stays_counted_when_its_fault_is_not_stored(
    tmp_path: Path,
) -> None:
    # The job's tries alone all ended with their workers: its try here faults it. The
    # store refuses that fault's save for a while, so the job is taken back as last
    # saved. Its try was counted, but the fault was not stored: it is still the try
    # after a takeover, counted again, and faults the job. (It ran the step instead,
    # taken back as if its counted try had gone on.)
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    ran: list[str] = []
    flow = Workflow("one", [Sequential("x", lambda data: ran.append("x"))], start="x")
    enqueue(url, flow, {}, job_id="case")
    _tried(url, alone=LIMIT)
    store = open_store(url)
    real_save = store.save
    refused: list[str] = []

    def save(job: JobRecord) -> None:
        if job.state is JobState.FAULTED and not refused:
            refused.append(job.id)
            down = StoreError("the store refused the write for now (test)")
            down.blames_job = False
            raise down
        real_save(job)

    store.save = save  # type: ignore[method-assign]
    job = _run_to_its_end(url, store, flow)
    assert refused == ["case"]
    assert ran == []
    assert job.state is JobState.FAULTED
    assert "stopped before anything was saved" in (job.error or "")


def _run_to_its_end(url: str, store: Store, flow: Workflow) -> Job:
    """Run case "case" on a Mediator over ``store`` until it ends; the job as stored."""
    reader = open_store(url)
    try:
        with Mediator([flow], store=store, owner="alive", lease_seconds=30.0, poll_interval=0.05):
            wait_until(lambda: reader.get("case").state.is_final, "the case to end")
        job = reader.get("case")
    finally:
        reader.close()
    return job
