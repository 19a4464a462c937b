"""No stored state a worker could die in has a finished job over an unfinished branch.

Workers claim cases by their roots, and only unfinished ones: a case whose root row is
final while branches of it are unfinished is claimed by no worker and ends never. The
engine ends a root (and any parent) with live branches in more than one save: a branch
faults and the split ends with its others, a Discriminator's losers are cancelled while
the job that won runs on, a cancel walks down a case. A worker killed (SIGKILL) between
two of those saves leaves the store as the last commit left it, so every commit is
checked here, on SQLite and PostgreSQL in each commit mode: the parent is saved WAITING
(``saved_open``) until its last branch is saved final, never the other way round.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from bounds import TIMEOUT, wait_until

from actors import (
    Discriminator,
    ExclusiveChoice,
    JobState,
    Mediator,
    ParallelSplit,
    Sequential,
    Spec,
    Synchronize,
    Wait,
    Workflow,
)
from actors._job import FINAL_STATES

_FINALS = ", ".join(f"'{state.value}'" for state in FINAL_STATES)
# Unfinished jobs whose parent or case root row is final: no claim finds their case.
_UNDER_A_FINAL = (
    "SELECT j.id, j.state, p.id, p.state FROM jobs j JOIN jobs p "
    "ON p.id <> j.id AND (p.id = j.parent_id OR p.id = j.case_id) "
    f"WHERE j.state NOT IN ({_FINALS}) AND p.state IN ({_FINALS})"
)


def _watched(store: Any, url: str | None) -> list[tuple[str, list[Any]]]:
    """Each commit of ``store`` that left a final job over an unfinished one, and those rows.

    SQLite: read under the store's write lock, right after each commit, so no other
    commit comes in between. PostgreSQL (``url``): read on a connection of its own right
    after each transaction, a state the database held then (one another commit may have
    made good in between is missed).
    """
    seen: list[tuple[str, list[Any]]] = []

    def after(commit: Callable[..., Any], read: Callable[[], list[Any]]) -> Callable[..., Any]:
        def checked(*args: Any) -> Any:
            result = commit(*args)
            rows = read()
            if rows:
                seen.append((args[-1], rows))
            return result

        return checked

    if url is None:
        read = lambda: store._conn().execute(_UNDER_A_FINAL).fetchall()  # noqa: E731
        store._write_locked = after(store._write_locked, read)
        return seen
    conn = psycopg.connect(url, autocommit=True)
    lock = threading.Lock()

    def read_pg() -> list[Any]:
        with lock:
            return conn.execute(_UNDER_A_FINAL).fetchall()

    store._write = after(store._write, read_pg)
    store._write_group = after(store._write_group, read_pg)
    closing = store.close

    def close() -> None:
        closing()
        conn.close()

    store.close = close
    return seen


@pytest.fixture(params=["step", "slice", "group"])
def watched(request, make_sql_store) -> tuple[Any, list[tuple[str, list[Any]]]]:
    store = make_sql_store(commit=request.param)  # closed by its Mediator, or the factory
    return store, _watched(store, make_sql_store.url)


def _states(store: Any, case: str) -> dict[str, JobState]:
    return {job.record.id: job.record.state for job in store.case_jobs(case)}


def _ended(store: Any, case: str) -> bool:
    return all(state in FINAL_STATES for state in _states(store, case).values())


def _after(event: threading.Event) -> Callable[[dict], None]:
    """A task that returns once ``event`` is set (its data unchanged)."""

    def task(data: dict) -> None:
        event.wait(TIMEOUT)

    return task


def _fault(data: dict) -> None:
    raise RuntimeError("down")


def test_a_split_whose_branch_faults_ends_after_its_other_branches(watched) -> None:
    store, seen = watched
    go = threading.Event()
    flow = Workflow("w", start="fan", steps=[
        ParallelSplit("fan", branches=["bad", "slow", "parked"]),
        Sequential("bad", _fault, next="j"),
        Sequential("slow", _after(go), next="j"),
        Wait("parked", duration=60.0, next="j"),
        Synchronize("j"),
    ])  # fmt: skip
    with Mediator([flow], store=store, runners=3, runner_batch=1) as mediator:
        case = mediator.schedule("w", {}).job_id
        wait_until(lambda: JobState.FAULTED in _states(store, case).values(), "the fault")
        go.set()
        wait_until(lambda: len(_states(store, case)) == 4, "the branches")
        mediator.cancel(case)  # the parked branch would wait a minute
        wait_until(lambda: _ended(store, case), "the case to end")
        ends = _states(store, case)
    assert seen == []
    assert ends[case] in (JobState.FAULTED, JobState.CANCELLED)


def test_a_discriminator_whose_losers_still_run_ends_after_them(watched) -> None:
    store, seen = watched
    inside = threading.Semaphore(0)
    start, go = threading.Event(), threading.Event()

    def busy(data: dict) -> None:
        inside.release()
        go.wait(TIMEOUT)

    flow = Workflow("w", start="fan", steps=[
        ParallelSplit("fan", branches=["win", "busy", "parked", "nested"]),
        Sequential("win", _after(start), next="first"),
        Sequential("busy", busy, next="first"),
        Wait("parked", duration=60.0, next="first"),
        ParallelSplit("nested", branches=["n0", "n1"]),
        Wait("n0", duration=60.0, next="inner"),
        Sequential("n1", busy, next="inner"),
        Synchronize("inner", next="first"),
        Discriminator("first", next="after"),
        Sequential("after", _fault),  # the winner's job ends (FAULTED) before its losers
    ])  # fmt: skip
    with Mediator([flow], store=store, runners=4, runner_batch=1) as mediator:
        case = mediator.schedule("w", {}).job_id
        assert inside.acquire(timeout=TIMEOUT) and inside.acquire(timeout=TIMEOUT)
        start.set()
        wait_until(lambda: mediator.get_job(case).error is not None, "the case's own end")
        assert not _ended(store, case)  # the busy losers still run
        go.set()
        wait_until(lambda: _ended(store, case), "the case to end")
        ends = _states(store, case)
    assert seen == []
    assert ends[case] is JobState.FAULTED


def test_a_cancelled_case_ends_its_branches_before_its_root(watched) -> None:
    store, seen = watched
    inside, go = threading.Event(), threading.Event()

    def busy(data: dict) -> None:
        inside.set()
        go.wait(TIMEOUT)

    flow = Workflow("w", start="fan", steps=[
        ParallelSplit("fan", branches=["busy", "parked", "nested"]),
        Sequential("busy", busy, next="j"),
        Wait("parked", duration=60.0, next="j"),
        ParallelSplit("nested", branches=["n0", "n1"]),
        Wait("n0", duration=60.0, next="inner"),
        Wait("n1", duration=60.0, next="inner"),
        Synchronize("inner", next="j"),
        Synchronize("j"),
    ])  # fmt: skip
    with Mediator([flow], store=store, runners=2, runner_batch=1) as mediator:
        case = mediator.schedule("w", {}).job_id
        assert inside.wait(TIMEOUT)
        wait_until(lambda: len(_states(store, case)) == 6, "every branch")
        mediator.cancel(case)
        go.set()
        wait_until(lambda: _ended(store, case), "the case to end")
        ends = _states(store, case)
    assert seen == []
    assert set(ends.values()) == {JobState.CANCELLED}


def test_a_looping_discriminator_whose_first_loser_still_runs_ends_after_it(watched) -> None:
    """A loser of an earlier split (an older ``gen``) holds the job's end as its own do."""
    store, seen = watched
    inside, go = threading.Event(), threading.Event()

    def busy(data: dict) -> None:
        inside.set()
        go.wait(TIMEOUT)

    flow = Workflow("w", start="fan", steps=[
        ParallelSplit("fan", branches=["win", "round?"]),
        Sequential("win", _after(inside), next="first"),
        # The first round's loser runs on inside its task; a later round's parks, and is
        # cancelled as that round's join fires, long before the job's end.
        ExclusiveChoice("round?", Spec(lambda d: d.get("rounds", 0) > 0, "a later round"),
                        if_true="nap", if_false="busy"),
        Wait("nap", duration=60.0, next="first"),
        Sequential("busy", busy, next="first"),
        Discriminator("first", next="count"),
        Sequential("count", lambda d: d.update(rounds=d.get("rounds", 0) + 1), next="again?"),
        ExclusiveChoice("again?", Spec(lambda d: d["rounds"] < 2, "rounds < 2"),
                        if_true="fan", if_false="done"),
        Sequential("done", lambda d: None),
    ])  # fmt: skip
    with Mediator([flow], store=store, runners=4, runner_batch=1) as mediator:
        case = mediator.schedule("w", {}).job_id
        wait_until(lambda: mediator.get_job(case).data.get("rounds") == 2, "the second round")
        wait_until(lambda: mediator.get_job(case).step == "done", "the case's own end")
        go.set()
        wait_until(lambda: _ended(store, case), "the case to end")
        ends = _states(store, case)
    assert seen == []
    assert ends[case] is JobState.DONE


def test_a_branch_whose_own_losers_still_run_arrives_and_ends_after_them(watched) -> None:
    """A branch past its own Discriminator reaches its parent's join: its losers run on."""
    store, seen = watched
    inside, go = threading.Event(), threading.Event()

    def busy(data: dict) -> None:
        inside.set()
        go.wait(TIMEOUT)

    flow = Workflow("w", start="fan", steps=[
        ParallelSplit("fan", branches=["plain", "inner"]),
        Sequential("plain", lambda d: None, next="j"),
        ParallelSplit("inner", branches=["win", "busy"]),
        Sequential("win", _after(inside), next="first"),
        Sequential("busy", busy, next="first"),
        Discriminator("first", next="j"),
        Synchronize("j", next="done"),
        Sequential("done", lambda d: None),
    ])  # fmt: skip
    with Mediator([flow], store=store, runners=4, runner_batch=1) as mediator:
        case = mediator.schedule("w", {}).job_id
        wait_until(lambda: mediator.get_job(case).step == "done", "the case's own end")
        go.set()
        wait_until(lambda: _ended(store, case), "the case to end")
        ends = _states(store, case)
    assert seen == []
    assert ends[case] is JobState.DONE
