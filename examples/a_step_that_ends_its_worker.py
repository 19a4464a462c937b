"""A step that ends its worker's process is faulted after a few tries; the worker lives on.

Run it with ``python examples/a_step_that_ends_its_worker.py``. An import step calls a
native library that crashes the process on one bad record (here ``os._exit``, which is
what a segmentation fault or the kernel's OOM killer look like from Python: no
exception, nothing saved). A supervisor (systemd, Kubernetes, or the loop in ``main``)
restarts the worker under the same name, and the restarted worker takes the case back.
Each worker counts a try in the store before it runs a job of a case taken over this
way, and runs the job alone once a try of it ended so: after three tries alone ended
so, the next ends the job FAULTED, naming the step, instead of crashing the worker for
ever. The good records beside it are imported.
"""

from __future__ import annotations

import os
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


def _import(data: dict[str, Any]) -> None:
    if data["record"] == "bad":
        os._exit(70)  # the native parser's crash: the process is gone, mid-step
    data["imported"] = True


IMPORT = Workflow("import", [Sequential("import", _import)], start="import")


def serve(url: str) -> None:
    """One worker process: run cases of ``IMPORT`` until SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=stop.set).start())
    with Mediator([IMPORT], store=url, runners=2, owner="importer", poll_interval=0.2):
        stop.wait()


# --8<-- [start:run]
def main(path: str | None = None) -> dict[str, Any]:
    url = f"sqlite:///{path or Path(tempfile.mkdtemp(prefix='crash-')) / 'jobs.db'}"
    store = open_store(url)
    cases = [enqueue(store, IMPORT, {"record": r}) for r in ("good-1", "bad", "good-2")]
    exits: list[int] = []
    worker = None
    deadline = time.monotonic() + 60
    try:
        while not all(_ended(store, case) for case in cases):
            if time.monotonic() > deadline:
                raise RuntimeError("the cases did not end within 60 s")
            if worker is None or worker.poll() is not None:  # the supervisor's restart
                if worker is not None:
                    exits.append(worker.returncode)
                    print(f"worker exited with status {worker.returncode}; restarting it")
                worker = subprocess.Popen([sys.executable, __file__, "serve", url])
            threading.Event().wait(0.05)
        jobs = {store.get(case).data["record"]: store.get(case) for case in cases}
        for record, job in jobs.items():
            print(f"{record}: {job.state.value} {job.error or ''}")
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)  # the worker that lived on stops cleanly
            worker.wait(30)
        store.close()
    return {"exits": exits, "jobs": jobs, "last_exit": worker.returncode if worker else None}


# --8<-- [end:run]


def _ended(store: Any, case: str) -> bool:
    job = store.get(case)
    return job is not None and job.state in (JobState.DONE, JobState.FAULTED)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2])
    else:
        main()
