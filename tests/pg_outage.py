"""Outages of a throwaway PostgreSQL server, for the tests: one database's, or a frozen server."""

import contextlib
import os
import signal
from collections.abc import Iterator

import psycopg


def database_accepts(server, name: str, accepts: bool) -> None:
    """Let database ``name`` take connections again, or refuse them and end those open.

    Refusing ends the connections open now, as a server's restart does, and the database
    refuses new ones until it accepts them again: an outage of that database only.
    """
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(accepts).lower()}')
        if not accepts:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )


def _processes(postmaster: int) -> list[int]:
    """The postmaster and its children (the backends and the server's own processes)."""
    found = [postmaster]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # ended meanwhile
            if parent == postmaster:
                found.append(int(entry))
    return found


@contextlib.contextmanager
def frozen(server) -> Iterator[None]:
    """The whole server stops answering (SIGSTOP) until the block ends (SIGCONT).

    Its connections stay open and nothing is refused: a statement in flight, a new
    connection, a cancel request all wait, as behind a network that drops packets.
    """
    pids = _processes(server.get_pid())
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
