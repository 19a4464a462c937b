"""A workflow for the frozen-server tests, run by a worker process or in the test's own.

Each run of a step is appended to ``runs.log`` in ``$FREEZE_DIR`` (one ``write`` in append
mode, whole lines from any process). ``first`` marks that it has begun (``entered-*``)
and holds its runner until the test creates ``release``: the test freezes the server
while steps are in flight, so that their saves are statements waiting on it.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from actors import Sequential, Workflow

HOLD = 60.0  # seconds a step waits for ``release`` at most (then it fails)


def _ran(step: str, data: dict) -> Path:
    where = Path(os.environ["FREEZE_DIR"])
    with open(where / "runs.log", "a") as log:
        log.write(f"{step} {data['i']}\n")
    return where


def first(data: dict) -> dict:
    where = _ran("first", data)
    (where / f"entered-{data['i']}-{os.getpid()}").touch()
    pause, deadline = threading.Event(), time.monotonic() + HOLD
    while not (where / "release").exists():  # the test, in another process, lets it go
        if time.monotonic() > deadline:
            raise TimeoutError("never released")
        pause.wait(0.01)
    return data


def second(data: dict) -> dict:
    _ran("second", data)
    return {**data, "done": True}


FLOW = Workflow(
    "frozen",
    start="first",
    steps=[Sequential("first", first, next="second"), Sequential("second", second)],
)
