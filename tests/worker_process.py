"""An ``actors worker`` process serving a module of workflows the test wrote beside it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def start_worker(where: Path, url: str, module: str = "raceflow") -> subprocess.Popen[bytes]:
    """Worker ``w1`` on ``url``, polling every 0.2 s, run in ``where``; its log in worker.log."""
    with (where / "worker.log").open("ab") as log:  # read when an assertion fails
        return subprocess.Popen(
            [sys.executable, "-m", "actors", "worker", "--store", url, "--workflows",
             module, "--name", "w1", "--poll-interval", "0.2"],
            cwd=where,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )  # fmt: skip
