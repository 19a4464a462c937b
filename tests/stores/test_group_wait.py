"""The group writer's wait: more slices per group under load, no wait for a lone case.

While the engine's hint says work is under way that leads to a slice, the writer waits
(up to ``group_wait``) for that slice to join the group; with nothing under way, or a
caller blocked on the writer, it stores at once. The waits here are set far beyond the
suite's bound, so a writer that waited where it must not fails its test instead of
passing slowly; every wait of the test itself is on an event.
"""

import threading

import pytest
from bounds import TIMEOUT

from actors import FullMode, JobState, Mediator, ParallelSplit, Sequential, Synchronize, Workflow
from actors._admission import AdmissionGate
from actors._channel import WorkChannel
from actors._job import JobRecord
from actors.stores import open_store
from actors.stores._group import GroupWriter, Slice

FOREVER = 20 * TIMEOUT  # a wait no test may sit out


def part(name: str) -> Slice:
    # rows hold (params, history, job) in a store; here the history slot names the slice.
    return Slice(rows=[((), name, None)])  # type: ignore[list-item]


class Recorder:
    """A stand-in for the store's group transaction: records each group's slice names."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []

    def __call__(self, slices: list[Slice]) -> list[BaseException | None]:
        self.groups.append([s.rows[0][1] for s in slices])  # type: ignore[misc]
        return [None] * len(slices)


def test_while_work_is_under_way_the_next_slice_joins_the_group():
    store = Recorder()
    writer = GroupWriter(store, name="test-writer", wait=FOREVER)
    asked = threading.Event()
    b_queued = threading.Event()
    held: list[int] = []

    def busy(holding: int) -> bool:
        held.append(holding)
        asked.set()
        return not b_queued.is_set()  # a runner is still on "b" until it is queued

    writer.busy = busy
    stored = threading.Event()
    try:
        writer.submit(part("a"), lambda _: None)
        assert asked.wait(TIMEOUT)  # the writer holds "a" and waits for more
        writer.submit(part("b"), lambda _: stored.set())
        b_queued.set()
        assert stored.wait(TIMEOUT)
    finally:
        writer.close()
    assert store.groups == [["a", "b"]]
    assert held[0] == 1  # the slice it held was not counted as work still to come


def test_with_nothing_under_way_a_slice_is_stored_at_once():
    store = Recorder()
    writer = GroupWriter(store, name="test-writer", wait=FOREVER)
    writer.busy = lambda holding: False
    stored = threading.Event()
    try:
        writer.submit(part("a"), lambda _: stored.set())
        assert stored.wait(TIMEOUT)
    finally:
        writer.close()
    assert store.groups == [["a"]]


def test_a_caller_blocked_on_the_writer_is_never_kept_waiting():
    store = Recorder()
    writer = GroupWriter(store, name="test-writer", wait=FOREVER)
    writer.busy = lambda holding: True  # runners always busy
    returned = threading.Event()

    def admit() -> None:
        writer.store(part("admission"))  # e.g. a producer's save through the writer
        returned.set()

    caller = threading.Thread(target=admit, daemon=True)
    try:
        caller.start()
        assert returned.wait(TIMEOUT)
    finally:
        writer.close()
    assert store.groups == [["admission"]]


def test_the_channel_counts_as_work_what_leads_to_a_slice():
    gate = AdmissionGate(10, FullMode.BACKPRESSURE)
    channel = WorkChannel(gate, runners=1)
    assert not channel.busy()
    channel.sent[0] = 1  # one report counted for a slice handed to the writer
    assert channel.busy(0)
    assert not channel.busy(1)  # ... and it is the one the writer holds
    channel.handled = 1
    gate.reserve()  # a producer is admitting a case
    assert channel.busy()
    gate.release()
    job = JobRecord(id="j", case_id="j", workflow="w", version=1, step="s", data={})
    assert channel.put(job) == []  # ready, no runner idle
    assert channel.busy()
    assert channel.take(0) is job  # running
    assert channel.busy()
    channel.done(job, 0)
    assert not channel.busy()


def _flow() -> Workflow:
    def mark(name):
        def task(data):
            data[name] = True

        return task

    return Workflow(
        "fan",
        [
            Sequential("start", mark("start"), next="split"),
            ParallelSplit("split", branches=["b0", "b1", "b2"]),
            *(Sequential(f"b{i}", mark(f"b{i}"), next="join") for i in range(3)),
            Synchronize("join", next="end"),
            Sequential("end", mark("end")),
        ],
        start="start",
    )


def _waits_forever(mediator: Mediator) -> GroupWriter:
    writer = mediator.store._writer  # type: ignore[attr-defined]
    writer._wait = FOREVER
    return writer


@pytest.mark.parametrize(
    "kind", ["sqlite", "sqlite-process", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_lone_case_never_waits_and_a_batch_never_stalls(kind, tmp_path, request):
    if kind == "postgres":
        store = open_store(request.getfixturevalue("fresh_pg_url"))
    else:
        writer = "process" if kind == "sqlite-process" else "thread"
        store = open_store(f"sqlite:///{tmp_path / 'wait.db'}", writer=writer)
    with Mediator([_flow()], runners=2, store=store) as mediator:
        writer = _waits_forever(mediator)
        # One case, whose every next slice needs the commit before it: no wait at all.
        job = mediator.schedule("fan", {}).result(timeout=TIMEOUT)
        assert job.state is JobState.DONE
        assert job.data == {"start": True, "b0": True, "b1": True, "b2": True, "end": True}
        groups = writer.groups
        # A batch, with the same unbounded wait: the writer waits while the batch's work
        # is under way and stores as soon as none is left, so every case ends. (That a
        # wait makes groups bigger is the first test's; a batch shares commits anyway.)
        handles = mediator.schedule_many("fan", [{} for _ in range(20)])
        done = [h.result(timeout=TIMEOUT) for h in handles]
        assert {j.state for j in done} == {JobState.DONE}
        assert writer.groups - groups < 20 * 4  # fewer commits than the batch's slices


@pytest.mark.parametrize("bad", [-0.001, 1.5, "0.005", None])
def test_group_wait_is_checked(bad, tmp_path):
    with pytest.raises(ValueError, match="group_wait must be a number of seconds from 0 to 1"):
        open_store(f"sqlite:///{tmp_path / 'bad.db'}", group_wait=bad)
