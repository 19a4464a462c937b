"""A freeze of the worker's own process is not an outage of the PostgreSQL server.

The store's watching thread cuts a connection whose statement has had no answer within
its bound. A worker frozen (SIGSTOP, a suspended VM) while a connection was out wakes
with every deadline passed: cut then, the answer the server gave at once, waiting in the
socket, was thrown away, the worker logged "the store ... cannot be reached (... no
answer within 3.0s)" for a server that was fine, and a group of saves it had stored was
taken for lost. The watcher knows it overslept: it gives each connection out its whole
wait again from the wake-up, and still cuts one whose server does not answer within it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import psycopg
import pytest

from actors.stores import open_store
from actors.stores._pg_deadlines import STALL, STALL_NOTED, TICK, Deadlines


class _Conn:
    """What ``Deadlines`` reads of a psycopg connection: its socket's descriptor."""

    def __init__(self, sock: socket.socket) -> None:
        self.pgconn: Any = type("PgConn", (), {"socket": sock.fileno()})()


def _watched(seconds: float) -> tuple[Deadlines, _Conn, float, list[socket.socket]]:
    """A watcher with no thread of its own (the test ticks it) and one connection armed."""
    deadlines = Deadlines()
    deadlines.close()  # no thread: each tick is the test's, at the time it names
    ours, server = socket.socketpair()
    conn = _Conn(ours)
    deadlines.arm(conn, seconds)
    due, _ = deadlines._due[conn]
    return deadlines, conn, due, [ours, server]


def _tick(deadlines: Deadlines, now: float) -> None:
    with deadlines._cond:
        deadlines.tick(now)


def test_a_connection_out_while_the_process_was_frozen_gets_its_wait_again():
    deadlines, conn, due, socks = _watched(3.0)
    try:
        _tick(deadlines, due - 1.0)  # the thread's last look before the freeze
        _tick(deadlines, due + 10.0)  # its next, eleven seconds on: the process was frozen
        assert not deadlines.was_cut(conn)
        # The statement reads its answer and gives the connection back: nothing was cut.
        assert deadlines.disarm(conn) is False
        assert deadlines.expired() is None
    finally:
        for sock in socks:
            sock.close()


def test_a_server_that_still_does_not_answer_after_that_wait_is_cut():
    deadlines, conn, due, socks = _watched(3.0)
    try:
        _tick(deadlines, due - 1.0)
        _tick(deadlines, due + 10.0)
        looks = [due + 10.0 + n * TICK for n in range(1, int(3.0 / TICK))]
        for now in looks:  # the process runs on: the thread looks every TICK
            _tick(deadlines, now)
        assert looks[-1] < due + 10.0 + 3.0
        assert not deadlines.was_cut(conn)
        _tick(deadlines, due + 10.0 + 3.0)
        assert deadlines.was_cut(conn)
        assert socks[1].recv(1) == b""  # the statement's wait ends: the stream is shut
        assert deadlines.disarm(conn) is True
        assert deadlines.expired() == 3.0  # "no answer within 3.0s", as before
    finally:
        for sock in socks:
            sock.close()


def test_a_server_that_does_not_answer_is_cut_at_its_deadline_when_nothing_froze():
    deadlines, conn, due, socks = _watched(3.0)
    try:
        _tick(deadlines, due - TICK)
        _tick(deadlines, due + STALL / 2)  # looks about on time: no freeze to allow for
        assert deadlines.was_cut(conn)
    finally:
        for sock in socks:
            sock.close()


def test_an_error_just_after_a_stall_says_the_process_itself_did_not_run():
    """A freeze past the server's idle timeout ends the transaction the worker left open.

    The server closes the connection, which read "server closed the connection
    unexpectedly ... the server terminated abnormally", as if the database had crashed.
    """
    deadlines, conn, due, socks = _watched(3.0)
    try:
        assert deadlines.stall_note(due) == ""
        _tick(deadlines, due - 1.0)
        _tick(deadlines, due + 11.0)
        note = deadlines.stall_note(due + 12.0)
        assert note == (
            " (this process itself did not run for about 12.0s just before, frozen or"
            " suspended: the server ends a transaction left idle for 10s)"
        )
        deadlines.disarm(conn)  # the statement fails; nothing is out any more
        _tick(deadlines, due + 11.1)
        assert deadlines.stall_note(due + 11.0 + STALL_NOTED + 1) == ""  # long past
    finally:
        for sock in socks:
            sock.close()


def test_an_error_met_before_the_watcher_looks_again_has_the_note_too():
    """On SIGCONT the statement's thread may fail before the watcher's next look."""
    deadlines, _conn, due, socks = _watched(3.0)
    try:
        _tick(deadlines, due - 1.0)  # the last look before the freeze
        assert "did not run for about 12.0s" in deadlines.stall_note(due + 11.0)
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.postgres
def test_the_stores_error_carries_the_note(fresh_pg_url):
    store = open_store(fresh_pg_url)
    try:
        deadlines = store._deadlines
        now = time.monotonic()
        with deadlines._cond:
            deadlines._ticked = now - 11.0  # its last look was 11 s ago: frozen since
            deadlines.tick(now)
        closed = psycopg.OperationalError("server closed the connection unexpectedly")
        error = store._error("renew the leases of 'w1'", closed)
        assert "server closed the connection unexpectedly" in str(error)
        assert "this process itself did not run for about 11.0s just before" in str(error)
    finally:
        store.close()


_FROZEN_BETWEEN_STATEMENTS = """
import os, signal, sys, time
from actors.stores import open_store

store = open_store(sys.argv[1])
store.lease_seconds = 6.0  # each statement's wait: 2 s, cut at 3 s
with store._pool.connection() as conn:
    conn.execute("SELECT 1")
    os.kill(os.getpid(), signal.SIGSTOP)  # frozen between two statements, 4 s
    time.sleep(0.5)  # the watcher runs first on waking, as it may
    try:
        conn.execute("SELECT 2")
        print("answered")
    except Exception as exc:
        print("failed:", type(exc).__name__, exc)
store.close()
"""


@pytest.mark.postgres
def test_a_worker_frozen_between_two_statements_goes_on_when_it_wakes(fresh_pg_url):
    """The real thing: a process that stops itself (SIGSTOP) with a connection out."""
    open_store(fresh_pg_url).close()  # its schema, before the child opens it
    child = subprocess.Popen(
        [sys.executable, "-c", _FROZEN_BETWEEN_STATEMENTS, fresh_pg_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, status = os.waitpid(child.pid, os.WUNTRACED)  # until it has stopped itself
        assert os.WIFSTOPPED(status), status
        time.sleep(4.0)  # the freeze: longer than the connection's 3 s, within the lease
        os.kill(child.pid, signal.SIGCONT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert out.strip() == "answered", (out, err)
