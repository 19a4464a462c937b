"""``actors enqueue --file`` from a pipe: a batch is written when full or soon after it began.

A producer that writes cases slowly (``tail -f``, a script reading a queue) filled a
batch of 500 lines before any case of it was written and seen by the workers: for as
long as 500 lines took. From a pipe, a terminal or a socket, lines are now read as
they come (``select``, then what one ``read`` brings), and a batch is written once its
first line has waited ``LINGER`` seconds, or once it is full, or at the end of input.
A fast producer fills batches long before then, so they are as large as from a file.
A regular file never makes a reader wait: it is read as before, line by line.
"""

from __future__ import annotations

import codecs
import io
import os
import select
import stat
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import IO, Any

__all__ = ["LINGER", "WAKE", "Pipe", "pipe_of", "timed_batches"]

LINGER = 0.2
"""Seconds the first line of a batch waits for the rest of it, read from a pipe."""

WAKE = 0.25
"""Seconds at most that a reader waits for input at once (see ``Pipe.line``)."""

_READ = 64 * 1024  # bytes asked of one read


def pipe_of(source: IO[str]) -> int | None:
    """The descriptor to read ``source`` from as it comes; None to read it by lines.

    None for a regular file (it never makes a reader wait), a stream with no descriptor
    (in memory), and where ``select`` cannot wait on a pipe (Windows).
    """
    if os.name != "posix":
        return None
    try:
        fd = source.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    return None if stat.S_ISREG(mode) else fd


class Pipe:
    r"""The lines of a descriptor, each with its line end, read as the bytes come.

    Decoded as ``--file`` is opened (UTF-8, bytes that are not kept as surrogates,
    ``\r\n`` and ``\r`` read as ``\n``), as a text file's ``readline`` would give
    them. A line is given whole, or once it holds more than ``limit`` characters, so a
    line that never ends is not read until memory runs out.
    """

    def __init__(self, fd: int, limit: int) -> None:
        self._fd = fd
        self._limit = limit
        decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self._decoder = io.IncrementalNewlineDecoder(decoder, translate=True)
        self._lines: deque[str] = deque()
        self._partial: list[str] = []  # the line under way, in pieces: joined once whole
        self._partial_size = 0
        self._ended = False

    def line(self, deadline: float | None) -> str | None:
        """The next line; ``""`` at the end of input; None once ``deadline`` passes first.

        ``deadline`` is on ``time.monotonic()``; None waits as long as input takes.
        """
        while not self._lines:
            if self._ended:
                return ""
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._fd], [], [], left)[0]:
                    return None
            else:
                # Never one wait without end: the interpreter can miss a Ctrl-C that
                # lands as it drops the GIL for a blocking read (its handler then never
                # ran, about once in 150 runs here). Each wait that ends takes the GIL
                # again, and so looks for signals.
                while not select.select([self._fd], [], [], WAKE)[0]:
                    pass
            self._take(os.read(self._fd, _READ))
        return self._lines.popleft()

    def _take(self, data: bytes) -> None:
        text = self._decoder.decode(data, final=not data)
        if not data:
            self._ended = True
        pieces = text.split("\n")
        if len(pieces) > 1:
            self._lines.append("".join([*self._partial, pieces[0], "\n"]))
            self._lines.extend(f"{piece}\n" for piece in pieces[1:-1])
            self._partial, self._partial_size = [], 0
        self._partial.append(pieces[-1])
        self._partial_size += len(pieces[-1])
        if self._partial_size > self._limit or (self._ended and self._partial_size):
            # too long to wait for its end (the reader refuses it), or the last line
            self._lines.append("".join(self._partial))
            self._partial, self._partial_size = [], 0


def timed_batches(
    pipe: Pipe,
    parse: Callable[[int, str], tuple[int, Any] | None],
    size: int,
    linger: float = LINGER,
) -> Iterator[list[tuple[int, Any]]]:
    """Batches of the parsed lines of ``pipe``: full, or once their first line waited ``linger``.

    ``parse(number, line)`` gives a line's (number, value), None for a blank line, or
    raises for a line that is wrong; ``number`` counts every line from 1.
    """
    chunk: list[tuple[int, Any]] = []
    deadline: float | None = None
    number = 0
    while True:
        read = pipe.line(deadline)
        if read is None:  # the batch's first line waited long enough: write what came
            yield chunk
            chunk, deadline = [], None
            continue
        if not read:
            break
        number += 1
        item = parse(number, read)
        if item is None:
            continue
        if not chunk:
            deadline = time.monotonic() + linger
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk, deadline = [], None
    if chunk:
        yield chunk
