"""The group-commit writer's queue is bounded: submitters wait for room, and are let go.

A runner that finds the queue full waits until the writer has taken it down to half its
bound; closing the store, or a group that failed as a whole (an outage), lets every
waiting runner hand its slice over at once. The writer thread itself never waits.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bounds import TIMEOUT

from actors import JobState, Mediator, ParallelSplit, Sequential, StoreError, Synchronize, Workflow
from actors.stores import open_store
from actors.stores._group import GroupWriter, Slice
from actors.stores._group_room import QUEUE_BOUND, Room

BOUND = 8


class _CheckedQueue:
    """The writer's queue, noting the most slices it ever held."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.get = self._queue.get
        self.get_nowait = self._queue.get_nowait
        self.qsize = self._queue.qsize
        self.most = 0

        self._grew = threading.Condition()

    def put(self, item: Any) -> None:
        self._queue.put(item)
        if item is not None:
            with self._grew:
                self.most = max(self.most, self._queue.qsize())
                self._grew.notify_all()

    def reached(self, n: int) -> None:
        """Block until the queue has held ``n`` slices."""
        with self._grew:
            assert self._grew.wait_for(lambda: self.most >= n, TIMEOUT), self.most


class _Waits:
    """Counts the submitters that found the queue full; ``wait_for(n)`` blocks until n did."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._changed = threading.Condition()
        original = Room._wait

        def counted(room: Room, ticket: int) -> None:
            with self._changed:
                self.count += 1
                self._changed.notify_all()
            original(room, ticket)

        monkeypatch.setattr(Room, "_wait", counted)

    def wait_for(self, n: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.count >= n, TIMEOUT), self.count


class _Blocking:
    """A ``store_group`` whose calls each wait for a gate of their own; the first may fail."""

    def __init__(self, *, fail_first: bool = False) -> None:
        self.entered = [threading.Event() for _ in range(64)]
        self.gates = [threading.Event() for _ in range(64)]
        self.sizes: list[int] = []
        self._fail_first = fail_first

    def __call__(self, slices: list[Slice]) -> list[BaseException | None]:
        n = len(self.sizes)
        self.sizes.append(len(slices))
        self.entered[n].set()
        assert self.gates[n].wait(TIMEOUT)
        if n == 0 and self._fail_first:
            raise StoreError("the server is gone")
        return [None] * len(slices)

    def open_all(self) -> None:
        for gate in self.gates:
            gate.set()


def _row() -> Slice:
    return Slice(rows=[("j", "x", None, None, None)])  # type: ignore[list-item]


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> _Waits:
    return _Waits(monkeypatch)


def _writer(store: _Blocking, *, max_group: int = 512) -> tuple[GroupWriter, _CheckedQueue]:
    writer = GroupWriter(store, name="test-writer", max_group=max_group)
    writer.limit(BOUND)
    checked = _CheckedQueue()
    writer._queue = checked  # type: ignore[assignment]
    return writer, checked


def _submitters(
    writer: GroupWriter, threads: int, each: int, done: Callable[[BaseException | None], None]
) -> list[threading.Thread]:
    def submit() -> None:
        for _ in range(each):
            writer.submit(_row(), done)

    started = [threading.Thread(target=submit) for _ in range(threads)]
    for thread in started:
        thread.start()
    return started


def _joined(threads: list[threading.Thread]) -> bool:
    for thread in threads:
        thread.join(TIMEOUT)
    return not any(thread.is_alive() for thread in threads)


@pytest.fixture
def outcomes() -> list[BaseException | None]:
    return []


def test_the_queue_never_holds_more_than_its_bound(
    waits: _Waits, outcomes: list[BaseException | None]
) -> None:
    store = _Blocking()
    writer, checked = _writer(store)
    writer.submit(_row(), outcomes.append)  # the writer takes it, and stays in its group
    assert store.entered[0].wait(TIMEOUT)
    threads = _submitters(writer, 3, 20, outcomes.append)
    waits.wait_for(3)  # every submitter found the queue full
    assert checked.qsize() == BOUND
    store.open_all()
    assert _joined(threads)
    writer.close()
    assert outcomes == [None] * 61
    assert checked.most == BOUND
    assert sum(store.sizes) == 61


def test_waiting_submitters_are_let_go_once_the_queue_is_down_to_half(
    waits: _Waits, outcomes: list[BaseException | None]
) -> None:
    store = _Blocking()
    writer, checked = _writer(store, max_group=2)
    writer.submit(_row(), outcomes.append)
    assert store.entered[0].wait(TIMEOUT)
    threads = _submitters(writer, 1, BOUND + 1, outcomes.append)
    waits.wait_for(1)
    store.gates[0].set()
    assert store.entered[1].wait(TIMEOUT)  # a group of 2 taken: 6 left
    assert threads[0].is_alive()
    assert checked.qsize() == BOUND - 2
    store.gates[1].set()
    assert store.entered[2].wait(TIMEOUT)  # another: 4 left, half the bound
    assert _joined(threads)  # while the writer is still in its third group
    assert checked.qsize() == BOUND // 2 + 1
    store.open_all()
    writer.close()
    assert outcomes == [None] * (BOUND + 2)


def test_closing_lets_a_waiting_submitter_go_and_stores_its_slice(
    waits: _Waits, outcomes: list[BaseException | None]
) -> None:
    store = _Blocking()
    writer, _ = _writer(store)
    writer.submit(_row(), outcomes.append)
    assert store.entered[0].wait(TIMEOUT)
    threads = _submitters(writer, 1, BOUND + 1, outcomes.append)
    waits.wait_for(1)
    closing = threading.Thread(target=writer.close)
    closing.start()
    assert _joined(threads)  # let go while the writer is still in its group
    assert not store.gates[0].is_set()
    store.open_all()
    assert _joined([closing])
    assert outcomes == [None] * (BOUND + 2)  # each slice stored, the last one too


def test_a_group_that_failed_lets_waiting_submitters_go(
    waits: _Waits, outcomes: list[BaseException | None]
) -> None:
    store = _Blocking(fail_first=True)
    writer, checked = _writer(store, max_group=1)
    writer.submit(_row(), outcomes.append)
    assert store.entered[0].wait(TIMEOUT)
    threads = _submitters(writer, 2, BOUND + 1, outcomes.append)
    waits.wait_for(2)  # 8 slices of 18 found room: each thread waits for one
    store.gates[0].set()  # the first group fails: the store cannot be reached
    assert store.entered[1].wait(TIMEOUT)
    # The writer took one slice since (the queue is far from half its bound), and is in
    # its next group: the submitters were let go by the failure.
    assert _joined(threads)
    assert checked.qsize() == 2 * BOUND + 1
    store.open_all()
    writer.close()
    assert isinstance(outcomes[0], StoreError)
    assert outcomes[1:] == [None] * (2 * BOUND + 2)


def test_a_caller_that_waits_for_its_slice_is_not_held_back(
    waits: _Waits, outcomes: list[BaseException | None]
) -> None:
    store = _Blocking()
    writer, checked = _writer(store)
    writer.submit(_row(), outcomes.append)
    assert store.entered[0].wait(TIMEOUT)
    threads = _submitters(writer, 1, BOUND + 1, outcomes.append)
    waits.wait_for(1)
    saving = threading.Thread(target=writer.store, args=(_row(),))  # a Scheduler's save
    saving.start()
    checked.reached(BOUND + 1)  # queued past the bound, at once
    assert waits.count == 1
    store.open_all()
    assert _joined([*threads, saving])
    writer.close()
    assert outcomes == [None] * (BOUND + 2)


def test_the_writer_thread_never_waits_for_room(outcomes: list[BaseException | None]) -> None:
    store = _Blocking()
    store.open_all()
    writer, checked = _writer(store)
    submitted = threading.Event()

    def more(error: BaseException | None) -> None:  # a callback: on the writer thread
        outcomes.append(error)
        for _ in range(3 * BOUND):
            writer.submit(_row(), outcomes.append)
        submitted.set()

    writer.submit(_row(), more)
    assert submitted.wait(TIMEOUT)
    writer.close()
    assert outcomes == [None] * (3 * BOUND + 1)
    assert checked.most == 3 * BOUND


@pytest.mark.postgres
def test_a_postgres_store_bounds_its_queue_at_four_of_the_largest_groups(pg_url: str) -> None:
    assert QUEUE_BOUND == 2048
    store = open_store(pg_url)
    try:
        assert store._writer._room.bound == QUEUE_BOUND  # type: ignore[attr-defined]
        assert store._writer._max_group * 4 == QUEUE_BOUND  # type: ignore[attr-defined]
    finally:
        store.close()
    with pytest.raises(ValueError, match="at least 1"):
        Room(0)


def test_a_sqlite_store_does_not_bound_its_queue(tmp_path: Path) -> None:
    for writer in ("thread", "process"):
        store = open_store(f"sqlite:///{tmp_path / writer}.db", writer=writer)
        try:
            assert store._writer._room.bound == sys.maxsize  # type: ignore[attr-defined]
        finally:
            store.close()


def _fan(n: int) -> Workflow:
    def merge(parent: dict[str, Any], branches: list[dict[str, Any]]) -> None:
        parent["joined"] = sum(b["i"] for b in branches)

    return Workflow(
        "fan",
        [
            ParallelSplit("fan", branches=lambda d: [{"i": i} for i in range(n)], each="b"),
            Sequential("b", lambda d: None, next="join"),
            Synchronize("join", merge=merge),
        ],
        start="fan",
    )


@pytest.mark.parametrize(
    "make_sql_store",
    ["sqlite", "sqlite-process", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
def test_a_wide_split_runs_to_done_within_a_small_bound(make_sql_store: Any) -> None:
    url = make_sql_store.url or f"sqlite:///{make_sql_store.path}"
    store = open_store(url, **make_sql_store.group)
    writer = store._writer  # type: ignore[attr-defined]
    writer.limit(BOUND)
    checked = _CheckedQueue()
    writer._queue = checked
    with Mediator([_fan(500)], runners=4, store=store) as mediator:
        job = mediator.schedule("fan", {}).result(timeout=TIMEOUT)
    assert job.state is JobState.DONE, job.error
    assert job.data["joined"] == sum(range(500))
    assert 0 < checked.most <= BOUND
