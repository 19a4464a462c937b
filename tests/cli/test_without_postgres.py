"""The commands on a SQLite store need nothing of the ``postgres`` extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Each command line runs in one process that cannot import psycopg (as after the
# README's first install, without the extra), on a store the first one creates.
_PROGRAM = """
import sys
sys.modules["psycopg"] = None  # as if it were not installed
sys.modules["psycopg_pool"] = None
from click.testing import CliRunner
from actors._cli import main
url = sys.argv[1]
for args in (
    ["db", "upgrade", "--store", url],
    ["db", "upgrade", "--store", url],
    ["status", "--store", url],
    ["jobs", "list", "--store", url],
):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, (args, result.output, result.exception)
print("ok")
"""


def test_sqlite_commands_run_without_psycopg(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    result = subprocess.run(
        [sys.executable, "-c", _PROGRAM, url],
        env={"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
