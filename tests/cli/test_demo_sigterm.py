"""``actors demo`` stopped by SIGTERM (``kill``, ``timeout``) stops as on Ctrl-C.

SIGTERM killed it outright: no line said what became of the orders. It now shuts its
Mediator down, says the unfinished orders stay saved, and exits 130; the next run on
the store finishes them.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import actors._demo as demo_module
from actors import JobState
from actors._cli import main
from actors._demo import case_id
from actors.stores import open_store

ORDERS = 4


def test_sigterm_stops_the_demo_as_ctrl_c_does_and_the_next_run_finishes(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = demo_module.run_demo

    def terminated_after_the_first_order(mediator: Any, orders: int, **kwargs: Any) -> Any:
        shown = kwargs["on_finished"]

        def finished(job: Any) -> None:
            shown(job)
            # Left as it was, SIGTERM would end this test's own process: it must be held.
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "SIGTERM would kill"
            os.kill(os.getpid(), signal.SIGTERM)

        return real(mediator, orders, **{**kwargs, "on_finished": finished})

    # Longer than a line of 80 columns: folded in two, it could not be copied.
    url = f"sqlite:///{tmp_path / ('a-long-file-name-' * 5 + 'demo.db')}"
    with monkeypatch.context() as patch:
        patch.setattr(demo_module, "run_demo", terminated_after_the_first_order)
        stopped = runner.invoke(main, ["demo", "--store", url, "--orders", str(ORDERS)])
    assert stopped.exit_code == 130, stopped.output
    assert f"Running {ORDERS} demo order(s) on {url} with" in stopped.output
    assert f"Interrupted. Unfinished orders stay saved in {url}; run" in stopped.output
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back
    again = runner.invoke(main, ["demo", "--store", url, "--orders", str(ORDERS)])
    assert again.exit_code == 0, again.output
    store = open_store(url, read_only=True)
    try:
        for n in range(1, ORDERS + 1):
            job = store.get(case_id(n))
            assert job is not None and job.state is JobState.DONE
    finally:
        store.close()
