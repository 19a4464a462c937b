"""A worker process for the crash tests: runs FLOW on ACTORS_STORE until SIGTERM.

ACTORS_COMMIT names the store's commit mode (step, slice or group); ACTORS_WRITER, if set,
where a SQLite store's group transactions run (thread or process).
"""

from __future__ import annotations

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crashflow import CAPACITY, FLOW

from actors import Mediator
from actors._cli_worker import _on_stop_signals
from actors.stores import open_store


def main() -> None:
    stop = threading.Event()
    _on_stop_signals(stop)  # as `actors worker` does (a handler may not set it itself)
    writer = {"writer": os.environ["ACTORS_WRITER"]} if os.environ.get("ACTORS_WRITER") else {}
    mediator = Mediator(
        [FLOW],
        runners=4,
        capacity=CAPACITY,
        store=open_store(os.environ["ACTORS_STORE"], commit=os.environ["ACTORS_COMMIT"], **writer),
        lease_seconds=2.0,  # short, so takeovers happen within the test's time
        poll_interval=0.2,
    )
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    # A timed wait, as `actors worker` does: SIGTERM may be delivered to another thread,
    # and its Python handler runs only when this thread runs; an untimed wait never did.
    while not stop.wait(0.1):
        pass
    mediator.shutdown(drain=False)


if __name__ == "__main__":
    main()
