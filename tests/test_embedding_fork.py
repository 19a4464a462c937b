"""A Mediator used in a process forked from the one that made it refuses, naming the fork.

A fork copies only the thread that forked: the engine's Scheduler and runners do not run
in the child, and the store's connections are the parent's. A child's ``schedule()``
admitted a case nothing would run (its ``result()`` timed out), wrote it through the
parent's SQLite connection (which SQLite forbids: it can corrupt the file), and made the
parent's next id (the generator's state was copied too), so that the parent's next
``schedule()`` raised ``JobExistsError`` for a case it had never admitted.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT
from flows import setter

from actors import (
    EngineStoppedError,
    JobState,
    Mediator,
    RequestReaction,
    Sequential,
    Workflow,
)
from actors.stores import _wake, open_store

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs os.fork")

FLOW = Workflow("w", [Sequential("a", setter("a"))], "a")
PARKS = Workflow(
    "parks",
    [RequestReaction("ask", send=lambda data, ctx: None, on_reply=lambda data, reply: None)],
    "ask",
)


def _in_child(mediator: Mediator, parked: Any) -> dict[str, Any]:
    """What the child's calls did: each one's error, and what shutdown() answered."""
    said: dict[str, Any] = {}
    for call, run in [
        ("result", lambda: parked.result(timeout=TIMEOUT)),
        ("schedule", lambda: mediator.schedule("w", {})),
        ("schedule_many", lambda: mediator.schedule_many("w", [{}])),
        ("stats", mediator.stats),
        ("cancel", lambda: mediator.cancel("x")),
        ("get_job", lambda: mediator.get_job("x")),
        ("receive_event", lambda: mediator.receive_event("x/ask", "yes")),
        ("wait", lambda: asyncio.run(parked.wait(timeout=TIMEOUT))),
    ]:
        try:
            run()
            said[call] = "no error"
        except EngineStoppedError as exc:
            said[call] = str(exc)
        except Exception as exc:
            said[call] = f"{type(exc).__name__}: {exc}"
    said["shutdown"] = mediator.shutdown(timeout=1)
    return said


def test_a_mediator_used_in_a_forked_child_refuses_and_the_parent_s_goes_on(
    tmp_path: Path,
) -> None:
    with Mediator([FLOW, PARKS], store=f"sqlite:///{tmp_path / 'jobs.db'}") as m:
        assert m.schedule("w", {}).result(timeout=TIMEOUT).state is JobState.DONE
        parked = m.schedule("parks", {})  # waits for an event: unfinished in the child too
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report, and leave without running the parent's atexit
            try:
                os.write(write, json.dumps(_in_child(m, parked)).encode())
            finally:
                os._exit(0)
        os.close(write)
        try:
            ready, _, _ = select.select([read], [], [], TIMEOUT)
            assert ready, "the forked child did not answer"
            said = json.loads(os.read(read, 1 << 16).decode())
        finally:
            os.close(read)
            if not os.waitpid(pid, os.WNOHANG)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        for call in (
            "result", "schedule", "schedule_many", "stats", "cancel", "get_job", "receive_event",
            "wait",
        ):  # fmt: skip
            assert f"a child forked from process {os.getpid()}" in said[call], call
        assert said["shutdown"] is False
        handles = [m.schedule("w", {}) for _ in range(3)]  # no id the child made
        assert all(h.result(timeout=TIMEOUT).state is JobState.DONE for h in handles)
        assert m.stats().done == 4
        m.cancel(parked.job_id)


def _child_runs_a_case_of_its_own(url: str) -> str:
    """In the child: a Mediator of its own on the parent's file runs a case (or the error)."""
    try:
        child_store = open_store(url, busy_timeout=1)
        with Mediator([FLOW], store=child_store) as mediator:
            return mediator.schedule("w", {}).result(timeout=TIMEOUT).state.name
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def test_a_child_forked_during_a_write_of_the_parent_makes_a_mediator_on_the_same_file(
    tmp_path: Path,
) -> None:
    """A fork waits for the parent's write in progress: the child's own Mediator runs.

    SQLite's in-process lock records are copied by the fork: a write transaction of the
    parent's, half-way as another thread forked, held the file's write lock in the child
    for good, and the child's own Mediator waited out its busy_timeout and failed with
    ``database is locked`` (about one fork in three under load, in a post-fork hook).
    """
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    inside, finish = threading.Event(), threading.Event()

    def write_slowly(execute: Any) -> None:
        execute("UPDATE jobs SET step = step WHERE 0")
        inside.set()
        finish.wait(TIMEOUT)  # the fork comes while this transaction is open

    # Registered after the store's own hook, so run before it: the writer is told to
    # finish only once the fork is under way, and has the GIL only once a hook waits.
    os.register_at_fork(before=finish.set)
    with Mediator([FLOW], store=url) as parent:
        writer = threading.Thread(target=parent.store._write, args=(write_slowly, "a slow write"))
        writer.start()
        assert inside.wait(TIMEOUT)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.write(write, _child_runs_a_case_of_its_own(url).encode())
            finally:
                os._exit(0)
        os.close(write)
        try:
            ready, _, _ = select.select([read], [], [], TIMEOUT)
            assert ready, "the forked child did not answer"
            said = os.read(read, 1 << 16).decode()
        finally:
            os.close(read)
            if not os.waitpid(pid, os.WNOHANG)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        writer.join(TIMEOUT)
        assert said == "DONE"
        assert parent.schedule("w", {}).result(timeout=TIMEOUT).state is JobState.DONE


def test_a_child_forked_while_a_thread_held_the_wake_up_lock_makes_a_mediator(
    tmp_path: Path,
) -> None:
    """A fork waits for the process's wake-up lock: the child's own Mediator starts.

    A thread of the parent inside ``notify()`` (a SQLite watcher telling its Scheduler of
    a case written by another process) as another forked left the lock held in the
    child, and the child's Mediator waited for ever as its Scheduler began to watch.
    """
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    holding, finish = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with _wake._lock:
            holding.set()
            finish.wait(TIMEOUT)  # the fork comes while the lock is held

    os.register_at_fork(before=finish.set)  # runs before the hook that takes the lock
    with Mediator([FLOW], store=url) as parent:
        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        assert holding.wait(TIMEOUT)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.write(write, _child_runs_a_case_of_its_own(url).encode())
            finally:
                os._exit(0)
        os.close(write)
        try:
            ready, _, _ = select.select([read], [], [], TIMEOUT)
            assert ready, "the forked child did not answer"
            said = os.read(read, 1 << 16).decode()
        finally:
            os.close(read)
            if not os.waitpid(pid, os.WNOHANG)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        holder.join(TIMEOUT)
        assert said == "DONE"
        assert parent.schedule("w", {}).result(timeout=TIMEOUT).state is JobState.DONE
