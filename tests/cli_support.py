"""Helpers of the ``actors`` program's tests: workflow modules for it to import, its errors."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bounds import TIMEOUT

from actors import Sequential, Workflow

UNSUPPORTED = "nosuch:///var/lib/jobs.db"


def write_module(where: Path, body: str) -> str:
    """Write a uniquely named module of workflows; return its name."""
    name = f"wfmod_{uuid.uuid4().hex[:8]}"
    (where / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    return name


FLOWS = """
    from actors import Sequential, Workflow

    def noop(data):
        return None

    FIRST = Workflow("first", [Sequential("a", noop)], start="a")
    SECOND = Workflow("second", [Sequential("b", noop)], start="b", version=2)
    BOTH = [FIRST, SECOND]
    NOT_A_FLOW = 42
"""


def one_error_line(result: Any) -> str:
    """The command failed with exactly one ``actors: error:`` line and no traceback."""
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("actors: error: ")
    return str(lines[0])


def held_flow() -> tuple[Workflow, threading.Event, threading.Event]:
    """Workflow "held": its first step sets ``started`` and stays in until ``go_on``."""
    started, go_on = threading.Event(), threading.Event()

    def hold(data: dict[str, Any]) -> None:
        started.set()
        assert go_on.wait(TIMEOUT)

    flow = Workflow("held", start="hold", steps=[
        Sequential("hold", hold, next="after"), Sequential("after", lambda d: None),
    ])  # fmt: skip
    return flow, started, go_on


@contextlib.contextmanager
def case_rows_locked(url: str, case: str) -> Iterator[None]:
    """Another transaction holds ``case``'s rows until the block ends.

    On SQLite, the database's write lock (any write holds the whole file); on
    PostgreSQL, the case's rows ``FOR UPDATE``: as a worker frozen in a write holds them.
    """
    if url.startswith("sqlite"):
        held = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            held.execute("BEGIN IMMEDIATE")
            yield
            held.execute("ROLLBACK")
        finally:
            held.close()
        return
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("SELECT 1 FROM jobs WHERE case_id = %s FOR UPDATE", (case,))
        yield
        conn.rollback()


NOBODY = 65534  # the user id (and group id) the read-only tests act as under root


@contextlib.contextmanager
def as_a_user_who_cannot_write(path: Path, mode: int, restored: int) -> Iterator[None]:
    """``path`` (chmod ``mode``) read-only to this process for the block, whoever runs the tests.

    Under root nothing is read-only, so the block runs with the real and effective ids of
    ``nobody`` (the saved id stays root, which takes them back after). ``path`` gets
    ``restored`` back at the end.
    """
    path.chmod(mode)
    try:
        if os.geteuid() != 0:
            yield
            return
        os.setresgid(NOBODY, NOBODY, 0)
        os.setresuid(NOBODY, NOBODY, 0)
        try:
            yield
        finally:
            os.setresuid(0, 0, 0)
            os.setresgid(0, 0, 0)
    finally:
        path.chmod(restored)
