"""Shell blocks of the guides that a reader pastes whole run as written.

The Python blocks are run by ``test_docs_code.py``; these are the ``sh`` blocks that act
on a store's files with tools of their own.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from bounds import TIMEOUT

from actors import JobState, Mediator, Sequential, Workflow
from actors.stores import open_store

ROOT = Path(__file__).resolve().parent.parent


def sh_block_under(page: str, heading: str) -> str:
    """The first ``sh`` block after ``heading`` on ``page``."""
    text = (ROOT / page).read_text(encoding="utf-8")
    after = text[text.index(f"\n{heading}\n") :]
    found = re.search(r"^```sh\n(.*?)^```", after, re.MULTILINE | re.DOTALL)
    assert found is not None, f"no sh block under {heading!r} in {page}"
    return found.group(1)


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 program is not installed")
def test_the_sqlite_backup_block_runs_as_pasted_and_copies_the_store(tmp_path: Path) -> None:
    flow = Workflow("hello", [Sequential("greet", lambda data: None)], start="greet")
    with Mediator([flow], store=f"sqlite:///{tmp_path / 'jobs.db'}") as mediator:
        done = mediator.schedule("hello", {}, job_id="hello-1").result(timeout=TIMEOUT)
        assert done.state is JobState.DONE
    block = sh_block_under("docs/how-to/durable-stores.md", "### SQLite: take a consistent copy")
    ran = subprocess.run(
        ["bash", "-e", "-c", block],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["ok"]  # PRAGMA integrity_check, as the block's comment says
    copy = open_store(f"sqlite:///{tmp_path / 'jobs-backup.db'}", read_only=True)
    try:
        saved = copy.get("hello-1")
        assert saved is not None and saved.state is JobState.DONE
    finally:
        copy.close()
    # The block's alternative, as its comment and the page say: VACUUM INTO refuses a
    # file that exists, and the store put in rollback-journal mode is put back in WAL
    # mode by the first store to open it.
    vacuum = re.search(r"^#\s+(sqlite3 jobs.db \"VACUUM INTO '(.+)'\")$", block, re.MULTILINE)
    assert vacuum is not None, block
    again = subprocess.run(
        ["bash", "-c", vacuum.group(1)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert again.returncode != 0
    assert "output file already exists" in again.stderr
    (tmp_path / vacuum.group(2)).unlink()
    fresh = subprocess.run(
        ["bash", "-c", vacuum.group(1)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert fresh.returncode == 0, fresh.stderr
    assert journal_mode(tmp_path / vacuum.group(2)) == "delete"
    open_store(f"sqlite:///{tmp_path / vacuum.group(2)}").close()
    assert journal_mode(tmp_path / vacuum.group(2)) == "wal"


def journal_mode(path: Path) -> str:
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as db:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])
