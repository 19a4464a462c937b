"""Fixtures of the ``actors`` program's tests.

A click runner, a working directory to import modules from, and a store with something
in it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT
from click.testing import CliRunner
from flows import setter

import actors._cli as cli
from actors import (
    Mediator,
    ParallelSplit,
    RequestReaction,
    Sequential,
    Synchronize,
    Wait,
    Workflow,
)
from actors.stores import MemoryStore, Store
from actors.testing import VirtualClock


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory the CLI imports modules from; sys.path and modules restored."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("wfmod_"):
            del sys.modules[name]


class Latch:
    """A task that counts its calls; ``reached`` is set at the ``n``-th."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0
        self.lock = threading.Lock()
        self.reached = threading.Event()

    def __call__(self, data: Any) -> None:
        with self.lock:
            self.calls += 1
            if self.calls >= self.n:
                self.reached.set()


@pytest.fixture
def busy_store(clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A store holding finished and parked jobs; the CLI opens it for any URL."""
    store = MemoryStore()
    branches_started = Latch(2)
    flows = [
        Workflow("quick", [Sequential("a", setter("a"))], start="a"),
        Workflow("pause", [Wait("nap", 60, next="a"), Sequential("a", setter("a"))], "nap"),
        Workflow(
            "ask",
            [RequestReaction("ask", send=lambda d, ctx: None, next="a"), Sequential("a", noop)],
            start="ask",
        ),
        Workflow(
            "fan",
            [
                ParallelSplit("split", branches=["x", "y"]),
                Sequential("x", branches_started, next="wait_x"),
                Sequential("y", branches_started, next="wait_y"),
                Wait("wait_x", 30, next="join"),
                Wait("wait_y", 90, next="join"),
                Synchronize("join"),
            ],
            start="split",
        ),
    ]
    mediator = Mediator(flows, runners=2, store=store, clock=clock)
    assert mediator.schedule("quick", {"n": 1}, job_id="quick-1").result(TIMEOUT)
    for name in ("pause", "ask", "fan"):
        mediator.schedule(name, {"case": name, "note": "∑ unicode"}, job_id=f"{name}-1")
    assert branches_started.reached.wait(TIMEOUT)
    mediator.shutdown(drain=True)  # returns once no job is queued, ready or running
    monkeypatch.setattr(cli, "open_store", lambda url, **options: store)
    return store


def noop(data: Any) -> None:
    return None
