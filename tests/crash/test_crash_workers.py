"""Crash tests with real processes: workers are SIGKILLed and restarted while they work.

Three worker processes share one store; 150 W workflows are enqueued in 14 parts, and
13 times a worker is killed with SIGKILL and restarted (its successor starts while the
next part is worked on, and is up before the next kill). The kills are spread over the
whole run from the first case on: kill k comes once a third of part k's work is done
(jobs finished, read from the store from outside), and part k + 1 is enqueued after it
(``kill_schedule``), so every kill lands while workers hold unfinished cases. The victim
is a worker with steps in flight at that moment (runs begun that no stored save shows
done; if none has any, the next part is enqueued first), and the test counts, from the
stores after each kill, and asserts that most kills hit such steps.
Afterwards every workflow is DONE, every join fired once, every step's effect is counted
once through its idempotency key, and each branch resumed from its last saved step: no
step whose save was stored ran again. With ``commit="step"`` that means no step before
the one in flight; with ``commit="group"`` the steps of the slices not yet stored may run
again, but none that a stored save shows done. Both modes run on both databases.

A kill waits while a job has a try alone open (``JobInfo.tries`` of 2 or more: taken over
after a death, counted, and not yet through its first save). Three kills landing in one
job's try alone in a row are what the engine's guard against a step that ends its
process faults a job for; random kills hit that by chance on a loaded machine (a worker
just started runs its suspects alone first, and the next kill often comes then). Waiting
leaves a job at most one death alone in a row, so the guard never fires here, and the
kills land everywhere else as before (``test_worker_deaths`` proves the guard).
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from bounds import TIMEOUT

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import crashflow  # noqa: E402
from kill_schedule import Hit, hits, parts, wait_for_work  # noqa: E402
from rerun_check import in_flight_at_claim, stored_step_reruns  # noqa: E402

from actors import JobState, enqueue_many  # noqa: E402
from actors.admin import Admin  # noqa: E402
from actors.stores import open_store  # noqa: E402

WORKFLOWS = 150
WORKERS = 3
# A fixed number of kills, not a time window: a loaded machine restarts workers more
# slowly, and the chaos must not shrink with it.
KILLS = int(os.environ.get("ACTORS_CRASH_KILLS", "13"))
SETTLE_SECONDS = 180


def spawn_worker(env: dict[str, str]) -> subprocess.Popen[str]:
    """A worker process, starting: ``await_ready`` says when it is up."""
    return subprocess.Popen(
        [sys.executable, str(HERE / "worker.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def await_ready(proc: subprocess.Popen[str]) -> None:
    """Block until ``proc`` says it is up (or fail if it died first); no-op once it has."""
    if proc.stdout is None or proc.stdout.closed:
        return
    line = proc.stdout.readline()  # blocks until the worker is up (or died)
    proc.stdout.close()  # it prints nothing more
    assert line.strip() == "ready", f"worker did not start: {line!r}"


def stop_workers(workers: list[subprocess.Popen[str]]) -> None:
    for proc in workers:
        proc.send_signal(signal.SIGTERM)
    for proc in workers:
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()  # a worker restarted after the last kill, never awaited


UNFINISHED = (JobState.READY, JobState.RUNNING, JobState.WAITING)


def wait_no_try_alone(admin: Admin) -> None:
    """Wait until no job has a try alone open: counted after a death, no save since.

    The guard against a step that ends its process faults a job after three deaths in a
    row while it ran alone; a kill now could be such a death (see the module docstring).
    """
    deadline = time.monotonic() + 2 * TIMEOUT
    while True:
        jobs = admin.jobs(state=UNFINISHED, limit=100_000).items
        if not any(job.tries >= 2 for job in jobs):
            return
        if time.monotonic() > deadline:
            open_tries = {job.id: job.tries for job in jobs if job.tries >= 2}
            pytest.fail(f"tries alone still open after {2 * TIMEOUT} s: {open_tries}")
        time.sleep(0.05)  # polling a database from outside; nothing to wait on


def wait_all_done(store_url: str, ids: list[str], deadline: float) -> dict[str, object]:
    store = open_store(store_url)
    try:
        while True:
            jobs = {i: store.get(i) for i in ids}
            if all(j is not None and j.state.is_final for j in jobs.values()):
                return jobs
            if time.monotonic() > deadline:
                left = [i for i, j in jobs.items() if j is None or not j.state.is_final]
                pytest.fail(f"{len(left)} workflows unfinished, e.g. {left[:3]}")
            time.sleep(0.2)  # polling a database from outside; nothing to wait on
    finally:
        store.close()


def path_order() -> dict[str, float]:
    order: dict[str, float] = {"A": 0, "split": 0.5, "join": 50, "B": 99}
    for b in range(crashflow.BRANCHES):
        for i, name in enumerate(crashflow.branch_steps(b)):
            order[name] = 1 + i
    return order


def assert_no_stored_step_ran_again(store_url: str, runs: list[tuple]) -> set[tuple]:
    """No step ran again once a stored save showed it done: jobs resumed from stored state.

    See ``rerun_check``: a run of a step that a stored save, saved before the run, shows
    done is a resume from before the last stored save, unless it is the step a worker
    was inside when its case was taken over (that step, the only one, runs there too).
    Returns the runs that may be such steps.
    """
    store = open_store(store_url)
    try:
        jobs = store.stored_jobs(sorted({row[0] for row in runs}))
        case_of = {job_id: job.record.case_id for job_id, job in jobs.items()}
        histories = store.step_histories(sorted(set(case_of) | set(case_of.values())))
    finally:
        store.close()
    found = stored_step_reruns(runs, histories, case_of, path_order())
    assert not found, found[:3]
    return in_flight_at_claim(runs, histories, case_of, path_order())


def writer_processes(db_path: str) -> list[int]:
    """Pids of SQLite writer processes (``writer="process"``) working on ``db_path``."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # not a process, or it has just ended
            continue
        if any(b"actors.stores._sqlite_process" in a for a in args) and db_path.encode() in args:
            pids.append(int(entry.name))
    return pids


def run_crash_test(
    store_url: str,
    effects_url: str,
    commit: str,
    record: Callable[[str, object], None],
    writer: str = "",
) -> int:
    """Run the chaos; return how many writer processes were seen at work during it.

    ``record`` (pytest's ``record_property``) is given how many kills hit steps in flight.
    """
    crashflow.setup(effects_url)
    env = {**os.environ, "ACTORS_STORE": store_url, "ACTORS_EFFECTS": effects_url}
    env["ACTORS_COMMIT"] = commit
    env["ACTORS_WRITER"] = writer
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    rng = random.Random(1234)
    open_store(store_url).close()  # the schema made once, before the workers start
    workers = [spawn_worker(env) for _ in range(WORKERS)]  # side by side
    kills = 0
    seen: set[int] = set()
    hit: list[Hit] = []
    ids = [f"case-{n:03}" for n in range(WORKFLOWS)]
    admin = Admin(store_url)
    runs_db = crashflow.connect(effects_url)
    order = path_order()
    per_case = 1 + crashflow.BRANCHES  # jobs: a case's root and its branches
    chunks = parts(ids, KILLS + 1)
    try:
        for proc in workers:
            await_ready(proc)
        enqueued = chosen_busy = 0
        while kills < KILLS:
            # Part k of the cases now, and kill k once a third of its jobs are done; if no
            # worker has a step in flight then (the part went by while a kill waited),
            # the next part comes first.
            part = enqueued <= kills  # part k, unless the parts ran ahead already
            while True:
                if part and enqueued < len(chunks):
                    chunk = chunks[enqueued]
                    enqueue_many(
                        store_url, crashflow.FLOW, [{"case": i} for i in chunk], job_ids=chunk
                    )
                    before = sum(len(c) for c in chunks[:enqueued])
                    enqueued += 1
                    wait_for_work(store_url, (before + len(chunk) // 3) * per_case)
                seen.update(writer_processes(store_url.removeprefix("sqlite:///")))
                for proc in workers:  # a worker restarted after the last kill is up
                    await_ready(proc)
                wait_no_try_alone(admin)  # just before the kill: a try counted since is rare
                # The victim: a worker with steps in flight now.
                runs = runs_db.execute("SELECT job, step, pid FROM runs ORDER BY at").fetchall()
                held = hits(admin, runs, order)
                pids = [proc.pid for proc in workers]
                busy_now = [i for i, p in enumerate(pids) if p in held and held[p].in_flight]
                if busy_now or enqueued == len(chunks):
                    break
                part = True
            victim = rng.choice(busy_now or list(range(WORKERS)))
            chosen_busy += bool(busy_now)
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait(TIMEOUT)
            kills += 1
            # What it hit, read before its lease (2 s) can run out: nobody has its cases yet.
            runs = runs_db.execute("SELECT job, step, pid FROM runs ORDER BY at").fetchall()
            hit.append(hits(admin, runs, order).get(pids[victim], Hit(0, 0, 0)))
            # Its successor starts while the next part is enqueued and worked on; it is
            # up before the next kill is chosen.
            workers[victim] = spawn_worker(env)
        for chunk in chunks[enqueued:]:
            enqueue_many(store_url, crashflow.FLOW, [{"case": i} for i in chunk], job_ids=chunk)
        jobs = wait_all_done(store_url, ids, time.monotonic() + SETTLE_SECONDS)
    finally:
        runs_db.close()
        admin.close()
        stop_workers(workers)
    # Most kills land on a worker busy with unfinished cases, inside steps of them.
    busy = sum(1 for one in hit if one.in_flight)
    record("kills_with_steps_in_flight", busy)
    record("kills", kills)
    sys.stdout.write(
        f"kills on a worker with steps in flight: {busy} of {kills} (chosen so: "
        f"{chosen_busy}); {hit}\n"
    )
    assert busy > kills // 2, hit
    # Every workflow DONE, and its join's effect is in the saved data exactly once.
    for job in jobs.values():
        assert job.state is JobState.DONE, (job.id, job.error)
        assert sorted(job.data["merged"]) == [f"b{b}" for b in range(crashflow.BRANCHES)]
        assert job.data["done"] == ["A", "B"]

    conn = crashflow.connect(effects_url)
    effects = {row[0] for row in conn.execute("SELECT key FROM effects").fetchall()}
    runs = conn.execute("SELECT job, step, attempt, at, pid FROM runs ORDER BY at").fetchall()
    conn.close()

    # Every step of every workflow took effect exactly once (by idempotency key): 14 per
    # workflow, one key each; repeats after a crash carried the same key.
    by_job: dict[str, list[str]] = defaultdict(list)
    for job_id, step, attempt, _, _ in runs:
        by_job[job_id].append(step)
        assert attempt == 1
    assert len(effects) == WORKFLOWS * (2 + crashflow.BRANCHES * crashflow.STEPS)
    assert {f"{j}:{s}:1" for j, steps in by_job.items() for s in steps} == effects

    # Each job resumed from its last saved step: a step may run again (it was in flight
    # when its worker died or lost its case, or its save was not stored yet) but never
    # one a stored save shows done. With a commit per step that is never one before a
    # step that had run, but for the step a worker was in when its case was taken over:
    # it may reach its effect after the new holder ran further.
    in_flight = assert_no_stored_step_ran_again(store_url, runs)
    resumed: dict[str, list[str]] = defaultdict(list)
    for run in runs:
        if tuple(run) not in in_flight:
            resumed[run[0]].append(run[1])
    repeats = 0
    for job_id, steps in resumed.items():
        ranks = [order[s] for s in steps]
        if commit == "step":
            assert ranks == sorted(ranks), (job_id, steps)
        repeats += len(steps) - len(set(steps))
    # At most the steps in flight on the killed worker: 4 runners' with a commit per step;
    # with group commit, also those of the slices it had not stored yet (3 steps each,
    # at most one slice per branch of its cases).
    slices = crashflow.CAPACITY * crashflow.BRANCHES * crashflow.STEPS
    per_kill = 4 * 2 if commit == "step" else slices
    assert repeats <= kills * per_kill, (repeats, kills)
    return len(seen)


@pytest.mark.slow
@pytest.mark.parametrize(("commit", "writer"), [("step", ""), ("group", ""), ("group", "process")])
def test_sqlite_workers_survive_sigkill(
    tmp_path: Path, commit: str, writer: str, record_property: Callable[[str, object], None]
) -> None:
    db = tmp_path / "jobs.db"
    seen = run_crash_test(
        f"sqlite:///{db}", str(tmp_path / "effects.db"), commit, record_property, writer
    )
    assert (seen > 0) == (writer == "process")
    # A killed worker's writer process saw its pipe close and ended with it; the stopped
    # workers' ended as they closed their stores.
    deadline = time.monotonic() + 10
    for pid in writer_processes(str(db)):  # not our children: wait on a pidfd for each
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue  # gone already
        try:
            select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        finally:
            os.close(fd)
    assert writer_processes(str(db)) == []


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("commit", ["step", "group"])
def test_postgres_workers_survive_sigkill(
    pg_database, commit: str, record_property: Callable[[str, object], None]
) -> None:
    urls = [pg_database(f"actors_crash_{commit}"), pg_database(f"actors_crash_effects_{commit}")]
    run_crash_test(urls[0], urls[1], commit, record_property)
