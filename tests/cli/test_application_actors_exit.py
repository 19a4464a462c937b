"""A workflows module that starts pykka actors of its own does not keep the program alive.

The embedding guide starts an application's actor where the workflow is defined; a
module written so, given to ``--workflows`` or ``graph``, left the program hanging once
its command was done, since the actor's thread is no daemon.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from bounds import TIMEOUT
from cli_support import write_module

WITH_AN_ACTOR = """
    import pykka

    from actors import Sequential, Workflow

    class PriceList(pykka.ThreadingActor):
        def on_receive(self, sku):
            return 4

    prices = PriceList.start()

    def price(order):
        order["total"] = prices.ask(order["sku"], timeout=5)

    PRICED = Workflow("priced", start="price", steps=[Sequential("price", price)])
"""

PROGRAMS = {
    "actors": [sys.executable, "-c", "import _actors_cli; _actors_cli.main()"],
    "python -m actors": [sys.executable, "-m", "actors"],
}


def _environment(where: Path) -> dict[str, str]:
    # The module is imported from the current directory, the package as the tests import it.
    paths = [str(where), *sys.path]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


@pytest.mark.parametrize("program", PROGRAMS.values(), ids=list(PROGRAMS))
def test_a_command_ends_once_done(tmp_path: Path, program: list[str]) -> None:
    name = write_module(tmp_path, WITH_AN_ACTOR)
    done = subprocess.run(
        [*program, "graph", f"{name}:PRICED"],
        cwd=tmp_path,
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("flowchart TD\n")


def test_a_worker_ends_on_sigterm(tmp_path: Path) -> None:
    name = write_module(tmp_path, WITH_AN_ACTOR)
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    worker = subprocess.Popen(
        [*PROGRAMS["actors"], "worker", "--store", store, "--workflows", name],
        cwd=tmp_path,
        env=_environment(tmp_path),
        stderr=subprocess.PIPE,
        text=True,
    )
    hung = threading.Timer(3 * TIMEOUT, worker.kill)  # a worker that never starts or ends
    hung.start()
    try:
        assert worker.stderr is not None
        log = []
        for line in worker.stderr:
            log.append(line)
            if "worker started" in line:
                worker.send_signal(signal.SIGTERM)
                break
        _, rest = worker.communicate(timeout=TIMEOUT)
        assert worker.returncode == 0, "".join(log) + rest
        assert "worker stopped" in rest
    finally:
        hung.cancel()
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
