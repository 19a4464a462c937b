"""A worker that stops cleanly releases its cases only once its last slices are stored.

With ``commit="group"`` a runner hands its slice to the writer thread (or process) and
does not wait for it. A shutdown stops the runners, then releases the worker's cases:
released before the writer had stored the last slice, a case was free while its row
still stood at the step before, another worker claimed it and ran that step a second
time, and the first worker's save was refused (fenced) as a takeover's. A rolling
restart (SIGTERM one worker at a time) ran steps twice so.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from bounds import TIMEOUT
from group_support import ON_GROUP_STORES

from actors import Mediator, Sequential, Workflow
from actors.stores import open_store

pytestmark = ON_GROUP_STORES


def _where_groups_are_stored(store: Any) -> tuple[Any, str]:
    """The object and method a group goes through: the writer thread's, or the process's."""
    if getattr(store, "writer", "thread") == "process":
        return store, "_send_group"
    return store._writer, "_store_group"


def test_a_clean_stop_stores_its_last_slice_before_it_releases_the_case(
    make_sql_store: Any,
) -> None:
    url = make_sql_store.url or f"sqlite:///{make_sql_store.path}"
    runs: list[str] = []
    running = threading.Event()  # "first" has begun on the first worker
    finish = threading.Event()  # the first worker's stop has begun: "first" may end
    second_ran = threading.Event()

    def first(data: dict[str, Any]) -> None:
        runs.append("first")
        running.set()
        finish.wait(TIMEOUT)

    def second(data: dict[str, Any]) -> None:
        runs.append("second")
        second_ran.set()

    flow = Workflow(
        "two",
        start="first",
        steps=[Sequential("first", first, next="second"), Sequential("second", second)],
    )
    store = open_store(url, **make_sql_store.group)
    target, name = _where_groups_are_stored(store)
    real_group = getattr(target, name)
    stores_groups = threading.Event()  # the writer may store groups from now on

    def held_back(slices: Any) -> Any:
        # The admission's own save goes first; the runner's slice waits until the stop
        # stores what is left, or (without the fix) until the release has been made.
        if running.is_set():
            stores_groups.wait(TIMEOUT)
        return real_group(slices)

    setattr(target, name, held_back)
    real_release, real_close_writer = store.release, store._close_writer
    taken_over: list[bool] = []

    def release(owner: str) -> int:
        released = real_release(owner)
        # Another worker polls now: it finds the case free, at whatever step is stored.
        with Mediator([flow], store=open_store(url), owner="b", poll_interval=0.05):
            taken_over.append(second_ran.wait(TIMEOUT))
        stores_groups.set()
        return released

    def close_writer() -> None:
        stores_groups.set()  # what the writer holds is stored now
        real_close_writer()

    store.release = release  # type: ignore[method-assign]
    store._close_writer = close_writer  # type: ignore[method-assign]
    mediator = Mediator([flow], store=store, owner="a", runners=1)
    mediator.schedule("two", {}, job_id="c1")
    assert running.wait(TIMEOUT)
    stopping = threading.Thread(target=mediator.shutdown, kwargs={"drain": False})
    stopping.start()
    deadline = time.monotonic() + TIMEOUT
    while not mediator._engine.stop.requested:  # the stop has begun: let the step end
        assert time.monotonic() < deadline
        stopping.join(0.01)
    finish.set()
    stopping.join(TIMEOUT)
    assert not stopping.is_alive()
    assert taken_over == [True]
    assert runs == ["first", "second"]  # "first" ran once: its save was stored first
    check = make_sql_store()
    assert check.get("c1").state.value == "done"
