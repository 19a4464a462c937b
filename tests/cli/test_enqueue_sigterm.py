"""``actors enqueue`` stopped by SIGTERM (``kill``, ``timeout``, a CI job cancelled).

SIGTERM killed the command at once: a batch whose transaction had committed could have
none of its ids printed, and nothing said what was written, so running "the lines after
the last id printed" again wrote those cases twice. It now stops as Ctrl-C does: the
batch under way is stored, printed and counted, then the command says what it wrote.
``timeout`` delivers its SIGTERM twice (to the command, then to its process group): the
copy is the same request, not a second Ctrl-C that would cut the batch short.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from cli_support import FLOWS, write_module
from click.testing import CliRunner

from actors._cli import main
from actors.stores import open_store


def enqueue_stopped(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch, *, copies: int
) -> Any:
    """Enqueue 9 lines in batches of 3; SIGTERM (``copies`` times) as the 2nd commit returns."""
    import actors._cli_enqueue as enqueue

    written = enqueue.enqueue_many
    calls = []

    def second_is_terminated_once_stored(*args: Any, **kwargs: Any) -> Any:
        made = written(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            # Left as it was, SIGTERM would end this test's own process: it must be held.
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "SIGTERM would kill"
            for _ in range(copies):
                os.kill(os.getpid(), signal.SIGTERM)
        return made

    monkeypatch.setattr(enqueue, "enqueue_many", second_is_terminated_once_stored)
    mod = write_module(workdir, FLOWS)
    url = f"sqlite:///{workdir / 'cases.db'}"
    (workdir / "cases.jsonl").write_text("".join(f'{{"order": {n}}}\n' for n in range(9)))
    args = ["enqueue", "first", "--store", url, "--workflows", mod, "--file", "cases.jsonl"]
    result = runner.invoke(main, [*args, "--batch", "3"])
    store = open_store(url)
    try:
        stored = sorted(job.id for job in store.unfinished())
    finally:
        store.close()
    return result, stored


@pytest.mark.parametrize("copies", [1, 2])  # 2: timeout, to the command and its group
def test_sigterm_once_a_batch_is_stored_waits_for_its_ids_and_counts_it(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch, copies: int
) -> None:
    result, stored = enqueue_stopped(runner, workdir, monkeypatch, copies=copies)
    assert result.exit_code == 130, result.output
    told = "they have new ids: run only the lines after 6 again"
    assert result.stderr == f"actors: interrupted: 6 case(s) written, from lines 1 to 6; {told}\n"
    assert sorted(result.stdout.split()) == stored
    assert len(stored) == 6
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_between_batches_stops_and_says_what_was_written(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import actors._cli_enqueue as enqueue

    batches = enqueue._batches_of

    def terminated_before_the_third(*args: Any, **kwargs: Any) -> Any:
        for n, chunk in enumerate(batches(*args, **kwargs)):
            if n == 2:
                assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "SIGTERM would kill"
                os.kill(os.getpid(), signal.SIGTERM)
                os.kill(os.getpid(), signal.SIGTERM)  # its copy, ignored while it unwinds
            yield chunk

    monkeypatch.setattr(enqueue, "_batches_of", terminated_before_the_third)
    mod = write_module(workdir, FLOWS)
    url = f"sqlite:///{workdir / 'cases.db'}"
    (workdir / "cases.jsonl").write_text("".join(f'{{"order": {n}}}\n' for n in range(9)))
    args = ["enqueue", "first", "--store", url, "--workflows", mod, "--file", "cases.jsonl"]
    result = runner.invoke(main, [*args, "--batch", "3"])
    assert result.exit_code == 130, result.output
    told = "they have new ids: run only the lines after 6 again"
    assert result.stderr == f"actors: interrupted: 6 case(s) written, from lines 1 to 6; {told}\n"
    assert len(result.stdout.split()) == 6
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sigterm_where_ctrl_c_is_ignored_still_waits_for_the_batch(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A shell's background job (`actors enqueue ... &` in a script) starts with SIGINT
    # ignored: SIGTERM then stopped the command in the middle of a batch whose
    # transaction had committed, and its ids were never printed nor counted.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        result, stored = enqueue_stopped(runner, workdir, monkeypatch, copies=2)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # left as it was
    finally:
        signal.signal(signal.SIGINT, previous)
    assert result.exit_code == 130, result.output
    assert "6 case(s) written, from lines 1 to 6" in result.stderr
    assert sorted(result.stdout.split()) == stored
    assert len(stored) == 6
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
