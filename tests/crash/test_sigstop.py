"""A worker frozen with SIGSTOP past its lease starts no step of the case taken over meanwhile.

Worker A (a real process, one runner, on SQLite or PostgreSQL, saving per step or per
slice) freezes inside a branch's step; worker B takes the case over once A's lease has
expired and runs it to its end. When A is let go (SIGCONT), the step in flight finishes,
and nothing else of the case runs on A: every other step ran exactly once, on B.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from bounds import TIMEOUT, wait_until

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from stallflow import FLOW, LEASE  # noqa: E402

from actors import JobState, Mediator, enqueue  # noqa: E402
from actors.stores import open_store  # noqa: E402


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    name = f"actors_sigstop_{tmp_path.name[-20:]}".replace("-", "_").lower()
    return request.getfixturevalue("pg_database")(name)


@pytest.mark.slow
@pytest.mark.parametrize("commit", ["step", "slice"])
def test_a_worker_frozen_with_sigstop_runs_no_step_of_a_case_taken_over(
    tmp_path, store_url, commit
):
    url = store_url
    case = enqueue(url, FLOW, {}, job_id="case-1")
    env = {**os.environ, "ACTORS_STORE": url, "ACTORS_COMMIT": commit, "STALL_DIR": str(tmp_path)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    a = subprocess.Popen(
        [sys.executable, str(HERE / "stallflow.py")],
        env={**env, "STALL_WORKER": "A"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in a.stderr], daemon=True)
    try:
        assert a.stdout.readline().strip() == "ready"
        reader.start()
        wait_until((tmp_path / "entered").exists, "worker A to enter the step", every=0.02)
        a.send_signal(signal.SIGSTOP)  # frozen inside "slow"; "other" waits behind it
        os.environ["STALL_DIR"] = str(tmp_path)
        os.environ["STALL_WORKER"] = "B"
        try:
            b = Mediator([FLOW], runners=2, store=open_store(url, commit=commit), owner="B",
                         lease_seconds=LEASE, poll_interval=0.1)  # fmt: skip
            try:
                store = open_store(url, read_only=True)
                try:
                    wait_until(
                        lambda: store.get(case).state is JobState.DONE,
                        "B to end the case",
                        every=0.02,
                    )
                finally:
                    store.close()
            finally:
                b.shutdown()
        finally:
            del os.environ["STALL_WORKER"], os.environ["STALL_DIR"]
        (tmp_path / "released").touch()
        a.send_signal(signal.SIGCONT)
        seen: list[str] = []
        # A's renewal finds the case lost (a summary line), or its runner's save is fenced.
        while not any(("other workers' now" in x or "another worker's now" in x) for x in seen):
            seen.append(lines.get(timeout=TIMEOUT))
        a.send_signal(signal.SIGTERM)
        try:
            code = a.wait(TIMEOUT)
        except subprocess.TimeoutExpired:  # stuck: say where each of its threads is
            a.send_signal(signal.SIGUSR1)
            reader.join(1.0)
            tail = []
            while not lines.empty():
                tail.append(lines.get_nowait())
            pytest.fail("worker A did not stop on SIGTERM:\n" + "".join([*seen[-20:], *tail]))
        assert code == 0
    finally:
        if a.poll() is None:
            a.send_signal(signal.SIGCONT)
            a.kill()
            a.wait(TIMEOUT)
        reader.join(TIMEOUT)
        a.stdout.close()
        a.stderr.close()
    runs = sorted((tmp_path / "runs.log").read_text().split("\n")[:-1])
    # A's "slow" was in flight at the freeze; everything else ran once, on B.
    assert runs == ["after B", "end B", "other B", "slow A", "slow B"], runs
