"""``actors enqueue --file -`` from a pipe: each case is written soon after its line comes.

It waited for 500 lines (a batch) or the end of input, so the cases of a slow producer
stayed unwritten, and unseen by workers, for as long as 500 lines took.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from bounds import TIMEOUT
from cli_support import FLOWS, write_module
from hypothesis import given
from hypothesis import strategies as st

from actors import JobState
from actors._cli_enqueue_stream import Pipe, timed_batches
from actors.stores import open_store


def _ids(stream: IO[str]) -> queue.Queue[str]:
    """The lines of ``stream`` as they come, for waits with a bound."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put("")  # the end

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _enqueue(workdir: Path, url: str, *more: str) -> subprocess.Popen[str]:
    mod = write_module(workdir, FLOWS)
    command = [sys.executable, "-m", "actors", "enqueue", "first", "--store", url]
    return subprocess.Popen(
        [*command, "--workflows", mod, "--file", "-", *more],
        cwd=workdir,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_each_line_from_a_slow_producer_is_in_the_store_before_the_next_is_written(
    workdir: Path,
) -> None:
    url = f"sqlite:///{workdir / 'cases.db'}"
    proc = _enqueue(workdir, url, "--id-field", "n")
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    ids = _ids(proc.stdout)
    try:
        for n in range(3):
            proc.stdin.write(json.dumps({"n": n}) + "\n")
            proc.stdin.flush()
            assert ids.get(timeout=TIMEOUT) == str(n)  # its batch is written: its id printed
            store = open_store(url, read_only=True)
            try:
                job = store.get(str(n))
                assert job is not None and job.state is JobState.READY
                assert job.data == {"n": n}
                assert store.get(str(n + 1)) is None  # not written yet
            finally:
                store.close()
        proc.stdin.close()
        assert ids.get(timeout=TIMEOUT) == ""  # nothing more
        assert proc.wait(timeout=TIMEOUT) == 0, proc.stderr.read()
    finally:
        proc.kill()
        proc.wait(timeout=TIMEOUT)
        proc.stdout.close()
        proc.stderr.close()


def test_ctrl_c_while_a_pipe_is_quiet_says_what_was_written(workdir: Path) -> None:
    url = f"sqlite:///{workdir / 'cases.db'}"
    proc = _enqueue(workdir, url)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    ids = _ids(proc.stdout)
    try:
        proc.stdin.write('{"n": 1}\n\n')
        proc.stdin.flush()
        assert ids.get(timeout=TIMEOUT)  # written
        proc.send_signal(signal.SIGINT)  # waiting for more: no batch under way
        assert proc.wait(timeout=TIMEOUT) == 130
        assert proc.stderr.read() == (
            "actors: interrupted: 1 case(s) written, from lines 1 to 1; they have new ids: "
            "run only the lines after 1 again\n"
        )
    finally:
        proc.kill()
        proc.wait(timeout=TIMEOUT)
        proc.stdin.close()
        proc.stdout.close()
        proc.stderr.close()


def _parse(number: int, read: str) -> tuple[int, Any] | None:
    return (number, json.loads(read)) if read.strip() else None


@pytest.fixture
def pipe_ends() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    yield read, write
    for fd in (read, write):
        with contextlib.suppress(OSError):  # closed by the test
            os.close(fd)


def test_a_fast_producer_fills_whole_batches(pipe_ends: tuple[int, int]) -> None:
    read, write = pipe_ends
    os.write(write, "".join(f'{{"n": {n}}}\n' for n in range(1200)).encode())
    os.close(write)
    batches = list(timed_batches(Pipe(read, 1000), _parse, 500, linger=TIMEOUT))
    assert [len(batch) for batch in batches] == [500, 500, 200]
    assert [number for batch in batches for number, _ in batch] == list(range(1, 1201))


def test_a_batch_is_written_once_its_first_line_waited_with_the_pipe_still_open(
    pipe_ends: tuple[int, int],
) -> None:
    read, write = pipe_ends
    batches = timed_batches(Pipe(read, 1000), _parse, 500, linger=0.05)
    os.write(write, b'{"n": 1}\n\n{"n": 2}\n{"n": ')  # and half a line
    assert next(batches) == [(1, {"n": 1}), (3, {"n": 2})]
    os.write(write, b"3}\n")
    assert next(batches) == [(4, {"n": 3})]
    os.close(write)
    assert list(batches) == []


def test_a_reader_with_no_deadline_waits_in_bounded_slices(
    pipe_ends: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A blocking read was seen to miss a Ctrl-C now and then (the command then waited
    # for input for ever): each slice's end goes back to the interpreter.
    from actors import _cli_enqueue_stream as stream

    read, write = pipe_ends
    waits: list[float | None] = []
    real_select = select.select

    def select_(rlist: Any, wlist: Any, xlist: Any, timeout: float | None = None) -> Any:
        waits.append(timeout)
        if len(waits) == 3:
            os.write(write, b'{"n": 1}\n')  # input comes during the third slice
        return real_select(rlist, wlist, xlist, 0 if len(waits) < 3 else timeout)

    monkeypatch.setattr(stream.select, "select", select_)
    # A reader that blocks in one read would wait for ever: other input ends it.
    valve = threading.Timer(5.0, lambda: os.write(write, b'{"n": 0}\n'))
    valve.start()
    try:
        assert Pipe(read, 1000).line(None) == '{"n": 1}\n'
    finally:
        valve.cancel()
    assert waits == [stream.WAKE] * 3


def test_a_line_that_never_ends_is_given_once_past_the_limit(pipe_ends: tuple[int, int]) -> None:
    read, write = pipe_ends
    pipe = Pipe(read, 1000)
    os.write(write, b"x" * 1500)  # the pipe stays open: no end of line, no end of input
    assert len(pipe.line(None) or "") > 1000


@given(
    st.lists(
        st.binary(max_size=12)
        | st.sampled_from([b"\r", b"\n", b"\r\n", b"\xc3", b"\xa9", b"\xef\xbb\xbf", b"\xff"]),
        max_size=12,
    )
)
def test_lines_read_as_they_come_are_those_a_text_file_reads(pieces: list[bytes]) -> None:
    expected = io.TextIOWrapper(
        io.BytesIO(b"".join(pieces)), encoding="utf-8", errors="surrogateescape"
    ).readlines()
    pipe = Pipe(-1, 10_000)  # fed by hand, as reads would bring the bytes
    for piece in pieces:
        if piece:  # an empty read is the end of input
            pipe._take(piece)
    pipe._take(b"")
    assert list(pipe._lines) == expected
