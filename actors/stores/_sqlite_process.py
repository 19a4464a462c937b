"""A child process that stores a SQLite store's group commits.

Python's ``sqlite3`` hands over the GIL around every statement it steps. A group of
hundreds of slices is thousands of small statements, and on a busy worker each handover
lets a runner in, so a writer thread spends much of a transaction waiting to get the GIL
back, and the whole worker is held to one core. With ``writer="process"`` the writer
thread sends each group to this child in one message and goes on to the next: the child
judges the group and writes it (``GroupTransaction``, as the writer thread would) in a
transaction of its own and answers with each slice's outcome. SQLite runs on a second
core, and the worker gathers and sends group N+1 while the child stores group N.

The child ignores SIGINT and SIGTERM, which a terminal or a service manager sends to the
whole process group: the worker's graceful stop still needs it. It exits when its stdin
closes, which also happens when the worker dies, however it dies.

Messages are ``marshal`` data framed by a 4-byte length. Only what the worker built (a
group's parameters, its arrivals' JSON text) and the child's answers (which slices were
left out, and why) cross the pipe: no pickle, and nothing a database holds can become
code on either side.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import queue
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any, NoReturn, cast

from actors._errors import CodecError, JobExistsError, JobNotFoundError, LeaseLostError
from actors._text import read_sqlite_text
from actors.stores._codec import Codec
from actors.stores._group import Arrival, Slice
from actors.stores._group_transaction import GroupTransaction, join_reads
from actors.stores._sqlite_saves import group_read, put_group
from actors.stores._statements import Execute, ExecuteMany, SaveRow
from actors.stores._writer_stall import awaited

if TYPE_CHECKING:
    from actors._job import JobRecord

try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["RemoteError", "WriterProcess", "decode_results", "encode_group"]

_HEADER = struct.Struct("!I")
_MARSHAL_VERSION = 4
_PIPE_SIZE = 1 << 20  # Linux's default limit for an unprivileged process
# A slice left out of a group, as the child names it: the exception and its arguments.
_LEFT_OUT: dict[str, type[Exception]] = {
    "LeaseLostError": LeaseLostError,
    "JobNotFoundError": JobNotFoundError,
    "CodecError": CodecError,
    "JobExistsError": JobExistsError,
}


class RemoteError(Exception):
    """A group was not stored: a SQLite error in the child (rolled back), or the child died."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind  # the child's exception class, as in SqliteStore._error


def _send(stream: IO[bytes], value: Any) -> None:
    payload = marshal.dumps(value, _MARSHAL_VERSION)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    """The next message, or ``EOFError`` when the other side has gone."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    (size,) = _HEADER.unpack(header)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError
    return _plain_message(marshal.loads(payload))


_PLAIN_ATOMS = frozenset({str, int, float, bool, type(None), bytes})
_PLAIN_CONTAINERS = frozenset({tuple, list, dict})


def _plain_message(message: Any) -> Any:
    """``message`` if it holds only plain values; ``ValueError`` otherwise.

    ``marshal`` can also build code objects and other types no message of ours holds:
    a message with one is refused whole, so nothing received can become code. The types
    of each container's members are checked together, in C, as the codec does.
    """
    pending = [message]
    while pending:
        value = pending.pop()
        kind = type(value)
        if kind is dict:
            members: Any = [*value.keys(), *value.values()]
        elif kind is tuple or kind is list:
            members = value
        elif kind in _PLAIN_ATOMS:
            continue
        else:
            msg = f"a writer-process message holds a {kind.__name__}: not plain data"
            raise ValueError(msg)
        kinds = set(map(type, members))
        if kinds <= _PLAIN_ATOMS:
            continue
        pending.extend(m for m in members if type(m) not in _PLAIN_ATOMS)
    return message


def _widen(stream: IO[bytes] | None) -> None:
    """Let a pipe hold a whole group, so that sending one is one system call.

    Each call that blocks on a full pipe gives up the GIL, and on a busy worker getting it
    back means waiting behind the runners. Linux only; elsewhere the default stays.
    """
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if stream is None or setsize is None:
        return
    with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size: keep the default
        fcntl.fcntl(stream.fileno(), setsize, _PIPE_SIZE)


# -- the worker's side ------------------------------------------------------------------------


def _pipe(stream: IO[bytes] | None) -> IO[bytes]:
    if stream is None:  # pragma: no cover - start() opens both
        raise ValueError("the writer process has no pipe")
    return stream


def encode_group(owner: str | None, slices: Sequence[Slice]) -> tuple[Any, ...]:
    """A group as it crosses the pipe: plain tuples of what the child needs of each slice."""
    return (
        owner,
        [
            (
                part.fence,
                [(params, history, job.id) for params, history, job in part.rows],
                [
                    (a.parent_id, a.gen, a.branch_index, a.data, a.join_step, a.needed)
                    for a in part.arrivals
                ],
            )
            for part in slices
        ],
    )


def decode_results(results: Sequence[Any]) -> list[BaseException | None]:
    """Each slice's outcome as the child sent it: ``None`` (stored) or why it was left out."""
    out: list[BaseException | None] = []
    for result in results:
        if result is None:
            out.append(None)
            continue
        kind, args = result
        cls = _LEFT_OUT.get(kind)
        out.append(cls(*args) if cls is not None else RemoteError(kind, repr(args)))
    return out


class WriterProcess:
    """Starts the child, sends it groups, reads its answers in order, and stops it.

    Used by the store's writer thread only. ``send`` returns the child's generation, which
    ``receive`` checks: a group sent to a child that has died since is not waited for from
    the next one. A reader thread takes the answers off the pipe as they come, so the
    child never waits to write one while the worker waits to write the next group (with
    two groups in flight, each would wait for the other once a pipe was full).
    """

    def __init__(self, path: str, busy_timeout: float, synchronous: str) -> None:
        self._args = [path, repr(float(busy_timeout)), synchronous]
        self._proc: subprocess.Popen[bytes] | None = None
        self._answers: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._generation = 0
        self._closed = False  # closed with its store: no new child is started

    def send(self, group: tuple[Any, ...]) -> int:
        """Send a group (see ``encode_group``); the generation of the child that has it."""
        if self._closed:
            raise RemoteError("WriterProcessClosed", "the store is closed")
        proc = self._proc or self.start()
        try:
            _send(_pipe(proc.stdin), group)
        except (OSError, ValueError) as exc:
            self._lost(exc)
        return self._generation

    def receive(self, generation: int) -> list[Any]:
        """The answer to the oldest group sent and not yet answered (see ``send``)."""
        if self._proc is None or generation != self._generation:
            raise RemoteError("WriterProcessExited", "the SQLite writer process exited")
        answer = awaited(self._answers, self._proc.pid, self._args[0])
        if isinstance(answer, BaseException):  # the reader met the end of the pipe
            self._lost(answer)
        ok, result = answer
        if not ok:
            kind, message = result
            raise RemoteError(kind, message)
        return list(result)

    def _lost(self, exc: BaseException) -> NoReturn:
        self.stop()  # what it was doing is rolled back when SQLite next opens the file
        why = f"the SQLite writer process exited ({type(exc).__name__}: {exc})"
        raise RemoteError("WriterProcessExited", why) from None

    def start(self) -> subprocess.Popen[bytes]:
        """Start the child (if it is not running); it is ready once it has imported."""
        if self._proc is not None:
            return self._proc
        # The child imports this package from where the worker did, and nothing from the
        # worker's current directory (-P).
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        entry = f"import sys; from {__name__} import main; main(sys.argv[1:])"
        self._proc = subprocess.Popen(
            [sys.executable, "-P", "-c", entry, *self._args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        _widen(self._proc.stdin)
        self._generation += 1
        self._answers = queue.SimpleQueue()  # a new child's answers only
        reader = threading.Thread(
            target=_read_answers,
            args=(_pipe(self._proc.stdout), self._answers),
            name="actors-writer-answers",
            daemon=True,
        )
        reader.start()
        return self._proc

    def close(self) -> None:
        """Stop the child for good: a later ``send`` fails instead of starting another."""
        self._closed = True
        self.stop()

    def stop(self) -> None:
        """Close the child's stdin (it exits once it has answered) and reap it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # Only now: the reader thread may be reading it, until the child's end ends that.
        if proc.stdout is not None:
            with contextlib.suppress(OSError):
                proc.stdout.close()


def _read_answers(stream: IO[bytes], into: queue.SimpleQueue[Any]) -> None:
    """Move the child's answers from ``stream`` to ``into``; last, why the stream ended."""
    while True:
        try:
            into.put(_receive(stream))
        except (OSError, EOFError, ValueError) as exc:
            into.put(exc)
            return


# -- the child --------------------------------------------------------------------------------


class _Job:
    """What a group transaction needs of a saved job here: its id."""

    __slots__ = ("id",)

    def __init__(self, job_id: str) -> None:
        self.id = job_id


class _ChildStore:
    """The part of a SQLite store a ``GroupTransaction`` uses, on the child's connection."""

    def __init__(self) -> None:
        # Only JSON trees pass through here (join arrivals), so no class is registered.
        self.codec = Codec()
        self.owner: str | None = None

    def _group_rows(self, execute: Execute, ids: list[str]) -> dict[str, Sequence[Any]]:
        return group_read(execute, ids)

    def _join_reads(
        self, execute: Execute, parents: list[str], keys: list[tuple[str, int, int]]
    ) -> tuple[dict[tuple[str, int], int], set[tuple[str, int, int]]]:
        return join_reads(execute, parents, keys)

    def _put_group(
        self,
        execute: Execute,
        executemany: ExecuteMany,
        rows: list[SaveRow],
        stored: dict[str, Sequence[Any]],
    ) -> None:
        put_group(executemany, rows, stored)


def _slices(encoded: list[Any]) -> list[Slice]:
    return [
        Slice(
            rows=[
                (tuple(params), history, cast("JobRecord", _Job(job_id)))
                for params, history, job_id in rows
            ],
            arrivals=[Arrival(*arrival) for arrival in arrivals],
            fence=fence,
        )
        for fence, rows, arrivals in encoded
    ]


def _left_out(exc: BaseException | None) -> Any:
    if exc is None:
        return None
    if isinstance(exc, LeaseLostError):
        return ("LeaseLostError", (exc.job_id, exc.case_id, exc.owner, exc.worker))
    return (type(exc).__name__, (str(exc),))


def _store(conn: sqlite3.Connection, store: _ChildStore, group: tuple[Any, ...]) -> Any:
    owner, encoded = group
    store.owner = owner
    transaction = GroupTransaction(store, _slices(encoded))
    conn.execute("BEGIN IMMEDIATE")
    transaction.write(conn.execute, conn.executemany)
    conn.execute("COMMIT")
    return [_left_out(exc) for exc in transaction.results]


def serve(path: str, busy_timeout: float, synchronous: str) -> None:
    """Store the groups that come on stdin, answering each on stdout, until stdin closes."""
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, cached_statements=256)
    conn.text_factory = read_sqlite_text  # as the worker's own connections read
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    store = _ChildStore()
    # The answers get a descriptor of their own, and file descriptor 1 goes to stderr: a
    # stray print in the child cannot corrupt the stream the worker reads.
    stdin = sys.stdin.buffer
    stdout = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _widen(stdout)
    while True:
        try:
            group = _receive(stdin)
        except EOFError:
            break
        try:
            reply: tuple[bool, Any] = (True, _store(conn, store, group))
        except Exception as exc:  # the group is rolled back; the worker hears why
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            reply = (False, (type(exc).__name__, str(exc)))
        try:
            _send(stdout, reply)
        except OSError:
            break  # the worker has gone
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def main(argv: Sequence[str]) -> None:
    """The child's entry point, given the database's path, busy timeout and synchronous."""
    # The worker stops it by closing stdin, after its own graceful stop has written all.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    serve(argv[0], float(argv[1]), argv[2])
