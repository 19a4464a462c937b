"""Output sent to a full disk: one line saying so, never a traceback.

``actors jobs list > out.txt`` on a disk with no room left ended in a traceback of
rich's buffer; ``actors enqueue --file`` said nothing of the cases it had written.
``/dev/full`` refuses every write with ENOSPC, as a full disk does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from bounds import TIMEOUT
from records import record

import actors
from actors.stores import SqliteStore

pytestmark = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
SOURCE = str(Path(actors.__file__).parent.parent)  # this checkout, in the child process


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SOURCE, str(tmp_path)])}
    with open("/dev/full", "w") as full:
        return subprocess.run(
            [sys.executable, "-m", "actors", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=TIMEOUT * 6,
            check=False,
        )


@pytest.mark.parametrize(
    "args", [["jobs", "list"], ["jobs", "list", "--json"], ["status"], ["jobs", "show", "j-0"]]
)
def test_a_listing_to_a_full_disk_says_so_in_one_line(tmp_path, args):
    store = SqliteStore(tmp_path / "jobs.db")
    try:
        store.create_many([record(f"j-{i}", data={"pad": "x" * 200}) for i in range(300)])
    finally:
        store.close()
    done = _run([*args, "--store", f"sqlite:///{tmp_path / 'jobs.db'}"], tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert done.stderr == "actors: error: cannot write the output: No space left on device\n"


def test_enqueue_to_a_full_disk_says_which_cases_it_wrote(tmp_path):
    (tmp_path / "quickflow.py").write_text(
        "from actors import Sequential, Workflow\n"
        "QUICK = Workflow('quick', start='a', steps=[Sequential('a', lambda d: None)])\n"
    )
    (tmp_path / "cases.jsonl").write_text("".join(f'{{"n": {i}}}\n' for i in range(1200)))
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    args = ["enqueue", "quick", "--store", url, "--workflows", "quickflow"]
    done = _run([*args, "--file", "cases.jsonl", "--batch", "500"], tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "the output cannot be written (No space left on device)" in done.stderr
    assert "500 case(s) written, from lines 1 to 500" in done.stderr
