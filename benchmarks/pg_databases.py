"""A throwaway PostgreSQL server for the benchmarks: a database of its own, the server's CPU."""

from __future__ import annotations

from typing import Any


def fresh_database(server: Any, name: str) -> str:
    """The URL of database ``name`` on pgserver ``server``, dropped first if it exists."""
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return str(server.get_uri(name))


def server_cpu(pid: int | None) -> float:
    """CPU seconds of the postmaster ``pid`` and its children, living and exited (0: none).

    The exited backends count through the postmaster's children's times: a worker's
    connections close when it stops.
    """
    if pid is None:
        return 0.0
    import psutil

    master = psutil.Process(pid)
    times = master.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in master.children():
        try:
            child_times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += child_times.user + child_times.system
    return total
