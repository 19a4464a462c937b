"""The workflow of the SIGSTOP test, and a worker process that runs it (``python stallflow.py``).

Every task appends ``<step> <worker>`` to ``runs.log`` in ``STALL_DIR``. Worker A's first
run of "slow" creates ``entered`` there and then waits for ``released``: the test freezes
the process inside that step with SIGSTOP, lets worker B take the case over, then lets A
go on with SIGCONT.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from actors import Mediator, ParallelSplit, Sequential, Synchronize, Workflow
from actors._cli_worker import _on_stop_signals
from actors.stores import open_store

LEASE = 1.0


def _dir() -> Path:
    return Path(os.environ["STALL_DIR"])


def _record(step: str) -> None:
    with open(_dir() / "runs.log", "a", encoding="utf-8") as log:
        log.write(f"{step} {os.environ.get('STALL_WORKER', '?')}\n")


def _slow(data: dict) -> None:
    _record("slow")
    if os.environ.get("STALL_WORKER") == "A":
        (_dir() / "entered").touch()
        while not (_dir() / "released").exists():  # frozen here by the test, then released
            time.sleep(0.01)


def _step(name: str):
    return lambda data: _record(name)


FLOW = Workflow(
    "stall",
    start="split",
    steps=[
        ParallelSplit("split", branches=["slow", "other"]),
        Sequential("slow", _slow, next="after"),
        Sequential("after", _step("after"), next="join"),
        Sequential("other", _step("other"), next="join"),
        Synchronize("join", next="end"),
        Sequential("end", _step("end")),
    ],
)


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    faulthandler.register(signal.SIGUSR1)  # the test asks where every thread is, if stuck
    stop = threading.Event()
    _on_stop_signals(stop)  # as `actors worker` does (a handler may not set it itself)
    store = open_store(os.environ["ACTORS_STORE"], commit=os.environ.get("ACTORS_COMMIT", "step"))
    mediator = Mediator(
        [FLOW], runners=1, store=store, owner=os.environ["STALL_WORKER"],
        lease_seconds=LEASE, poll_interval=0.1,
    )  # fmt: skip
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    # A timed wait, as `actors worker` does: SIGTERM may be delivered to another thread,
    # and its Python handler runs only when this thread runs; an untimed wait never did.
    while not stop.wait(0.1):
        pass
    mediator.shutdown(drain=False)


if __name__ == "__main__":
    main()
