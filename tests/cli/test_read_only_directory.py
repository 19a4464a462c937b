"""A store in a directory this user cannot write, made so for real (not simulated).

SQLite opens a WAL database with its ``-wal`` and ``-shm`` files beside it. Where they
are not there and the directory is read-only to the user, SQLite 3.22 and later answer
"attempt to write a readonly database" (``SQLITE_READONLY_DIRECTORY``), even to a
read-only command: the error must say that the directory is the cause and name it.

Under root nothing is read-only, so the commands run with the real and effective ids of
``nobody`` (the saved id stays root, which takes them back after).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import as_a_user_who_cannot_write as cannot_write
from cli_support import one_error_line
from click.testing import CliRunner

from actors import StoreError
from actors._cli import main
from actors.stores import open_store


def as_a_user_who_cannot_write(folder: Path) -> contextlib.AbstractContextManager[None]:
    """``folder`` read-only to this process for the block, whoever runs the tests."""
    return cannot_write(folder, 0o555, 0o755)


@pytest.fixture
def read_only_store() -> Iterator[Path]:
    """A WAL store no connection holds open, in a directory every user may enter."""
    # /tmp, not tmp_path: pytest's own directories are closed to other users.
    folder = Path(tempfile.mkdtemp(prefix="actors-ro-"))
    folder.chmod(0o755)
    path = folder / "jobs.db"
    open_store(f"sqlite:///{path}").close()  # WAL, as every store leaves it; no -wal now
    path.chmod(0o644)
    try:
        yield path
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize(
    "command",
    [["status"], ["jobs", "list"], ["jobs", "show", "x"], ["jobs", "cancel", "x"]],
)
def test_a_store_in_a_read_only_directory_is_named_so(
    runner: CliRunner, read_only_store: Path, command: list[str]
) -> None:
    url = f"sqlite:///{read_only_store}"
    runner.invoke(main, [command[0], "--help"])  # imports done while they may be read
    with as_a_user_who_cannot_write(read_only_store.parent):
        result = runner.invoke(main, [*command, "--store", url])
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert f"cannot create them in {str(read_only_store.parent)!r}" in line, line
    assert not list(read_only_store.parent.glob("jobs.db-*"))


def test_open_store_names_the_read_only_directory(read_only_store: Path) -> None:
    with as_a_user_who_cannot_write(read_only_store.parent), pytest.raises(StoreError) as caught:
        open_store(f"sqlite:///{read_only_store}").close()
    assert f"cannot create them in {str(read_only_store.parent)!r}" in str(caught.value)
