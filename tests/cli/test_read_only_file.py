"""A store file this user may read but not write, made so for real (not simulated).

``actors db upgrade`` of such a file at an older schema, and a worker, ``enqueue`` or a
``Mediator`` that must bring it up to date, said only SQLite's "attempt to write a readonly
database", which reads as a command that should not write at all. The error names the
file and says what is read-only to whom.

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

import actors.stores._schema as schema
from actors import StoreError
from actors._cli import main
from actors.stores import open_store


def as_a_user_who_cannot_write(path: Path) -> contextlib.AbstractContextManager[None]:
    """``path`` read-only to this process for the block, whoever runs the tests."""
    return cannot_write(path, 0o444, 0o644)


@pytest.fixture
def older_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A store at schema 16, in a directory every user may write (its -wal, -shm)."""
    # /tmp, not tmp_path: pytest's own directories are closed to other users.
    folder = Path(tempfile.mkdtemp(prefix="actors-rofile-"))
    folder.chmod(0o777)
    path = folder / "jobs.db"
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:-1])
        open_store(f"sqlite:///{path}").close()
    try:
        yield path
    finally:
        shutil.rmtree(folder)


def test_db_upgrade_of_a_read_only_file_says_it_is_read_only(older_store: Path) -> None:
    url = f"sqlite:///{older_store}"
    runner = CliRunner()
    runner.invoke(main, ["db", "--help"])  # imports done while they may be read
    with as_a_user_who_cannot_write(older_store):
        result = runner.invoke(main, ["db", "upgrade", "--store", url])
    assert result.exit_code == 1, result.output
    line = one_error_line(result)
    assert "attempt to write a readonly database" in line, line
    assert f"this process may not write {str(older_store)!r}" in line, line


def test_a_store_that_must_upgrade_a_read_only_file_says_it_is_read_only(
    older_store: Path,
) -> None:
    # What a worker, enqueue and a Mediator open the store with.
    with as_a_user_who_cannot_write(older_store), pytest.raises(StoreError) as caught:
        open_store(f"sqlite:///{older_store}").close()
    assert f"this process may not write {str(older_store)!r}" in str(caught.value)
