"""LatchFuture: the threading runtime's one-shot future behaves like pykka's."""

from __future__ import annotations

import queue
import threading

import pykka
import pytest
from bounds import TIMEOUT

from actors._runtime import LatchFuture, ThreadingRuntime


def test_unset_future_times_out() -> None:
    future = LatchFuture()
    with pytest.raises(pykka.Timeout):
        future.get(timeout=0)
    with pytest.raises(pykka.Timeout):
        future.get(timeout=0.001)


def test_value_is_read_any_number_of_times_and_set_once() -> None:
    future = ThreadingRuntime().create_future()
    future.set(7)
    assert future.get() == 7
    assert future.get(timeout=0) == 7
    with pytest.raises(queue.Full):
        future.set(8)
    with pytest.raises(queue.Full):
        future.set_exception((ValueError, ValueError("late"), None))


def test_exception_is_raised_to_every_reader() -> None:
    future = LatchFuture()
    future.set_exception((ValueError, ValueError("boom"), None))
    for _ in range(2):
        with pytest.raises(ValueError, match="boom"):
            future.get(timeout=0)


def test_every_waiting_thread_is_released() -> None:
    future = LatchFuture()
    got: list[object] = []
    started = threading.Barrier(4)

    def wait() -> None:
        started.wait()
        got.append(future.get(timeout=TIMEOUT))

    threads = [threading.Thread(target=wait) for _ in range(3)]
    for t in threads:
        t.start()
    started.wait()
    future.set("done")
    for t in threads:
        t.join(timeout=TIMEOUT)
    assert got == ["done"] * 3


def test_pykka_combinators_work() -> None:
    future = LatchFuture()
    mapped = future.map(lambda x: x + 1)
    future.set(1)
    assert mapped.get(timeout=1) == 2
