"""GroupWriter.pipeline: groups handed to another process, two in flight, outcomes in order.

The two halves here are stand-ins that record what the writer thread does and hold it
where a test needs it held (on events, never on time).
"""

import threading

import pytest
from bounds import TIMEOUT

from actors.stores._group import GroupWriter, Slice


class Pipe:
    """Records hand-overs and outcomes; ``send`` of a group named in ``hold`` waits."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.hold: dict[str, threading.Event] = {}
        self.held: dict[str, threading.Event] = {}
        self.fail_send: set[str] = set()
        self.lock = threading.Lock()

    def note(self, entry: str) -> None:
        with self.lock:
            self.log.append(entry)

    def send(self, slices: list[Slice]) -> str:
        names = "+".join(part.rows[0][1] for part in slices)
        self.note(f"send {names}")
        if names in self.fail_send:
            raise OSError(f"pipe broke sending {names}")
        if names in self.hold:
            self.held[names].set()
            assert self.hold[names].wait(TIMEOUT)
        return names

    def receive(self, slices: list[Slice], ticket: str) -> list[BaseException | None]:
        self.note(f"receive {ticket}")
        return [None] * len(slices)


def part(name: str) -> Slice:
    # rows hold (params, history, job) in a store; here the history slot names the slice.
    return Slice(rows=[((), name, None)])  # type: ignore[list-item]


@pytest.fixture
def pipe():
    return Pipe()


@pytest.fixture
def writer(pipe):
    def no_store(slices):
        raise AssertionError("a pipelined writer never stores a group itself")

    writer = GroupWriter(no_store, name="test-writer")
    writer.pipeline(pipe.send, pipe.receive)
    yield writer
    writer.close()


def done_into(pipe: Pipe, name: str, finished: threading.Event | None = None):
    def done(error: BaseException | None) -> None:
        pipe.note(f"done {name}" + (f" ({error})" if error else ""))
        if finished is not None:
            finished.set()

    return done


def test_the_next_group_is_handed_over_before_the_first_ones_outcome(pipe, writer):
    pipe.hold["a"], pipe.held["a"] = threading.Event(), threading.Event()
    finished = threading.Event()
    writer.submit(part("a"), done_into(pipe, "a"))
    assert pipe.held["a"].wait(TIMEOUT)  # the writer is handing "a" over
    writer.submit(part("b"), done_into(pipe, "b"))
    writer.submit(part("c"), done_into(pipe, "c", finished))
    pipe.hold["a"].set()
    assert finished.wait(TIMEOUT)
    assert pipe.log == [
        "send a",
        "send b+c",  # gathered and handed over while "a" was in flight
        "receive a",
        "done a",
        "receive b+c",
        "done b",
        "done c",
    ]
    assert (writer.groups, writer.slices) == (2, 3)


def test_a_group_that_cannot_be_handed_over_hears_why_in_its_turn(pipe, writer):
    pipe.hold["a"], pipe.held["a"] = threading.Event(), threading.Event()
    pipe.fail_send.add("b")
    b_heard, finished = threading.Event(), threading.Event()
    writer.submit(part("a"), done_into(pipe, "a"))
    assert pipe.held["a"].wait(TIMEOUT)
    writer.submit(part("b"), done_into(pipe, "b", b_heard))
    pipe.hold["a"].set()
    assert b_heard.wait(TIMEOUT)
    writer.submit(part("c"), done_into(pipe, "c", finished))  # the writer goes on
    assert finished.wait(TIMEOUT)
    assert pipe.log.index("done a") < pipe.log.index("done b (pipe broke sending b)")
    assert "receive b" not in pipe.log
    assert pipe.log[-2:] == ["receive c", "done c"]
    assert (writer.groups, writer.slices) == (2, 2)


def test_close_takes_the_outcome_of_every_group_in_flight(pipe):
    writer = GroupWriter(lambda slices: [], name="test-writer")
    writer.pipeline(pipe.send, pipe.receive)
    pipe.hold["a"], pipe.held["a"] = threading.Event(), threading.Event()
    writer.submit(part("a"), done_into(pipe, "a"))
    assert pipe.held["a"].wait(TIMEOUT)
    writer.submit(part("b"), done_into(pipe, "b"))
    closing = threading.Thread(target=writer.close)
    closing.start()
    pipe.hold["a"].set()
    closing.join(TIMEOUT)
    assert not closing.is_alive()
    assert [e for e in pipe.log if e.startswith("done")] == ["done a", "done b"]


def test_a_group_with_nothing_to_store_is_answered_in_its_turn_without_the_other_side(pipe, writer):
    pipe.hold["a"], pipe.held["a"] = threading.Event(), threading.Event()
    finished = threading.Event()
    writer.submit(part("a"), done_into(pipe, "a"))
    assert pipe.held["a"].wait(TIMEOUT)
    writer.submit(Slice(), done_into(pipe, "empty", finished))  # a callback only
    pipe.hold["a"].set()
    assert finished.wait(TIMEOUT)
    assert pipe.log == ["send a", "receive a", "done a", "done empty"]
