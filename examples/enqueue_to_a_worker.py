"""A producer enqueues cases on SQLite; a worker in another process starts them at once.

Run it with ``python examples/enqueue_to_a_worker.py``. A worker process (a
``Mediator`` of its own, as an application embeds one; ``actors worker`` does the same)
serves the ``greet`` workflow from a SQLite file, polling the store only once an hour.
This process writes three cases with ``actors.enqueue``, one at a time, and waits for
each to end. SQLite has no signal between processes: the worker's store watches the
file (its ``data_version``, every 10 ms) and claims a free case as soon as another
process commits one, so each case starts within milliseconds, not at the next poll.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from actors import JobState, Mediator, Sequential, Workflow, enqueue
from actors.stores import open_store

HERE = Path(__file__).resolve().parent


def _greet(data: dict[str, Any]) -> None:
    data["started"] = time.time()
    data["greeting"] = f"hello, {data['name']}"


GREET = Workflow("greet", [Sequential("greet", _greet)], start="greet")
"""The workflow the worker serves (``actors worker --workflows enqueue_to_a_worker:GREET``)."""


def serve(url: str) -> None:
    """The worker process: run cases of ``GREET`` from ``url`` until SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=stop.set).start())
    # Polls an hour apart: only a wake-up can start a case within the example.
    with Mediator([GREET], store=url, runners=1, poll_interval=3600, lease_seconds=7200):
        print("ready", flush=True)
        stop.wait()


# --8<-- [start:run]
def main(path: str | None = None, names: tuple[str, ...] = ("ada", "grace", "edsger")) -> dict:
    url = f"sqlite:///{path or Path(tempfile.mkdtemp(prefix='enqueue-')) / 'jobs.db'}"
    store = open_store(url)  # creates the schema before the worker opens the file
    worker = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "serve", url],
        stdout=subprocess.PIPE,
        text=True,
    )
    waits: dict[str, float] = {}
    try:
        _wait_for_start(worker)
        for name in names:
            sent = time.time()
            case = enqueue(store, GREET, {"name": name})
            job = _wait_for_end(store, case)
            waits[name] = job.data["started"] - sent
            print(f"{job.data['greeting']}: started {waits[name] * 1000:.1f} ms after enqueue")
    finally:
        worker.send_signal(signal.SIGTERM)  # the worker stops; what is unfinished stays saved
        worker.wait(30)
        if worker.stdout is not None:
            worker.stdout.close()
        store.close()
    return {"waits": waits, "worker_exit": worker.returncode}


# --8<-- [end:run]


def _wait_for_start(worker: subprocess.Popen[str]) -> None:
    """Block until the worker says it is ready (its store open, watching the file)."""
    assert worker.stdout is not None
    if worker.stdout.readline().strip() != "ready":
        msg = f"the worker did not start (exit status {worker.wait(30)})"
        raise RuntimeError(msg)


def _wait_for_end(store: Any, case: str, timeout: float = 30.0) -> Any:
    """The case's job once it ended (a read of the store every few milliseconds)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        job = store.get(case)
        if job is not None and job.state is JobState.DONE:
            return job
        pause.wait(0.005)
    msg = f"case {case} did not end within {timeout} s"
    raise RuntimeError(msg)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2])
    else:
        main()
