"""``actors jobs prune`` stopped by Ctrl-C or SIGTERM says how many cases it deleted.

It deletes a batch of cases per transaction. Stopped, it said only "interrupted" (and
SIGTERM killed it silently), though every batch before was gone for good. Now the first
signal lets the batch under way be stored, stops there and counts every case deleted; a
second one cuts the batch short, which is then stored whole or not at all (each case
deleted whole or kept whole), and the count says so.
"""

from __future__ import annotations

import itertools
import os
import signal
from typing import Any

import pytest
from click.testing import CliRunner
from records import record

from actors import JobState
from actors._cli import main
from actors.stores import _sql_prune, open_store

CASES = 10


def _case(store: Any, case_id: str) -> None:
    """A finished case: a root and two branches, each with history."""
    store.create(record(case_id, state=JobState.RUNNING))
    kids = [
        record(f"{case_id}.{i}", case_id=case_id, parent_id=case_id, branch_index=i)
        for i in range(2)
    ]
    store.create_many(kids)
    for job in kids:
        job.state = JobState.DONE
        store.save(job)
    done = record(case_id, state=JobState.DONE)
    done.attempt = store.get(case_id).attempt
    store.save(done)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'prune.db'}"
    else:
        url = str(request.getfixturevalue("pg_database")("actors_prune_stopped"))
    store = open_store(url)
    try:
        for n in range(CASES):
            _case(store, f"case-{n:02}")
    finally:
        store.close()
    return url


def _prune_signalled(
    runner: CliRunner, url: str, monkeypatch: pytest.MonkeyPatch, signum: int, copies: int
) -> Any:
    """Prune in batches of 3, sending ``copies`` signals inside the 2nd batch's transaction."""
    monkeypatch.setattr(_sql_prune, "PRUNE_BATCH", 3)
    import actors._cli_interrupt as interrupt

    clock = itertools.count(0.0, 5.0)  # each signal seconds after the last: a second request
    monkeypatch.setattr(interrupt, "_monotonic", lambda: next(clock))
    store = open_store(url)
    kind = type(store)
    store.close()
    write = kind._write
    batches: list[int] = []

    def signalled(self: Any, fn: Any, what: str) -> Any:
        if what != "prune finished cases":
            return write(self, fn, what)
        batches.append(1)

        def inside(execute: Any) -> Any:
            statements = itertools.count(1)

            def run(sql: str, params: Any) -> Any:
                done = execute(sql, params)
                if len(batches) == 2 and next(statements) == 3:  # its cases half deleted
                    # Left as it was, SIGTERM would end this test's own process.
                    assert signal.getsignal(signum) is not signal.SIG_DFL, "it would kill"
                    for _ in range(copies):
                        os.kill(os.getpid(), signum)
                return done

            return fn(run)

        return write(self, inside, what)

    monkeypatch.setattr(kind, "_write", signalled)
    result = runner.invoke(main, ["jobs", "prune", "--older-than", "0s", "--store", url])
    monkeypatch.undo()
    return result


def _left(url: str) -> dict[str, int]:
    """The cases left, each with how many of its rows are left (jobs and history)."""
    store = open_store(url)
    try:
        left = {}
        for n in range(CASES):
            case_id = f"case-{n:02}"
            ids = [case_id, f"{case_id}.0", f"{case_id}.1"]
            jobs = [job_id for job_id in ids if store.get(job_id) is not None]
            history = sum(len(store.step_history(job_id)) for job_id in ids)
            if jobs or history:
                left[case_id] = len(jobs) + history
        return left
    finally:
        store.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stopped_prune_stores_the_batch_under_way_and_says_what_it_deleted(
    runner: CliRunner, store_url: str, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    whole = _left(store_url)["case-00"]
    result = _prune_signalled(runner, store_url, monkeypatch, signum, copies=1)
    assert result.exit_code == 130, result.output
    line = "actors: interrupted: deleted 6 case(s), 18 job(s), before it stopped; the rest are kept"
    assert line in result.output
    left = _left(store_url)
    assert sorted(left) == [f"case-{n:02}" for n in range(6, CASES)]
    assert set(left.values()) == {whole}


def test_a_second_ctrl_c_inside_a_batch_rolls_it_back_whole(
    runner: CliRunner, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _left(store_url)["case-00"]
    result = _prune_signalled(runner, store_url, monkeypatch, signal.SIGINT, copies=2)
    assert result.exit_code == 130, result.output
    said = "deleted 3 case(s), 9 job(s), before it stopped, and maybe the cases of the batch"
    assert said in result.output
    left = _left(store_url)
    # The batch cut short was rolled back: none of its cases is half deleted.
    assert sorted(left) == [f"case-{n:02}" for n in range(3, CASES)]
    assert set(left.values()) == {whole}
    again = runner.invoke(main, ["jobs", "prune", "--older-than", "0s", "--store", store_url])
    assert again.exit_code == 0, again.output
    assert "deleted 7 case(s), 21 job(s)" in again.output
