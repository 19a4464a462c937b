"""A command whose output is closed early (``actors status | head -1``) stops quietly.

click exited 1 on the broken pipe, and rich's console did too (its own handler), as for a
failure, and the flush of stdout at exit could write ``Exception ignored ...
BrokenPipeError`` on stderr. Every command that prints exits with 141 (128 + SIGPIPE, as
``seq 1 100000 | head -1`` does) and writes nothing on stderr.

The output here is a pipe whose reading end is closed before the command starts: as
``head`` once it has its line, without the race of when it exits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from bounds import TIMEOUT
from cli_support import FLOWS, write_module

from actors import Sequential, Workflow, enqueue
from actors.stores import open_store

COMMANDS = [
    ["status"],
    ["status", "--json"],
    ["jobs", "list"],
    ["jobs", "list", "--json"],
    ["jobs", "show", "c1"],
    ["jobs", "show", "c1", "--history", "--tree"],
    ["jobs", "show", "c1", "--json"],
    ["db", "upgrade"],
    ["graph", "{module}"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_command_whose_output_is_closed_exits_quietly(tmp_path: Path, args: list[str]) -> None:
    module = write_module(tmp_path, FLOWS)
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = open_store(url)
    try:
        flow = Workflow("first", [Sequential("a", lambda d: None)], start="a")
        for n in range(1, 30):
            enqueue(store, flow, {"n": n}, job_id=f"c{n}")
    finally:
        store.close()
    command = [part.format(module=module) for part in args]
    if command[0] != "graph":
        command += ["--store", url]
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    try:
        done = subprocess.run(
            [sys.executable, "-m", "actors", *command],
            cwd=tmp_path,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, "")
