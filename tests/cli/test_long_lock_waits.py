"""Lock waits longer than the databases take are cut to their longest, never dropped.

SQLite keeps ``busy_timeout`` as a C ``int`` of milliseconds: one past 2**31 - 1 (about
24.8 days) read back as 0, no wait at all, so a write behind another transaction's lock
failed at once; PostgreSQL refuses a ``lock_timeout`` past that. An operator's
``--timeout`` of a month (``jobs retry``, ``jobs cancel``, ``events send``), and a
store's ``busy_timeout`` of one, each wait for the lock now. What is no time to wait
(NaN, a negative, past a century) is refused where it is given.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from bounds import TIMEOUT
from cli_support import case_rows_locked
from click.testing import CliRunner

from actors import JobState
from actors._cli import main
from actors._job import JobRecord
from actors.admin import Admin
from actors.stores import SqliteStore, open_store

MONTH = 30 * 86_400  # seconds: past the 24.8 days a database's lock wait holds
HELD_FOR = 1.0  # how long the lock is held once the writer waits behind it


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'locks.db'}"
    return str(request.getfixturevalue("pg_database")("actors_long_lock_waits"))


def _waits_behind_a_lock(url: str, case: str, write: threading.Thread) -> None:
    """``write`` is still waiting after HELD_FOR behind the lock, and ends once it goes."""
    with case_rows_locked(url, case):
        write.start()
        write.join(HELD_FOR)
        assert write.is_alive(), "the write did not wait for the lock"
    write.join(TIMEOUT)
    assert not write.is_alive()


def test_a_retry_with_a_timeout_of_a_month_waits_for_the_lock(
    runner: CliRunner, store_url: str
) -> None:
    """SQLite: exit 4 at once, "stayed locked for 2.592e+06s"; PostgreSQL: an error."""
    store = open_store(store_url)
    try:
        store.create(JobRecord("f-1", "f-1", "wf", 1, "a", {}, JobState.FAULTED, error="x"))
    finally:
        store.close()
    results = []
    args = ["jobs", "retry", "f-1", "--store", store_url, "--timeout", str(MONTH)]
    command = threading.Thread(target=lambda: results.append(runner.invoke(main, args)))
    _waits_behind_a_lock(store_url, "f-1", command)
    assert results[0].exit_code == 0, results[0].output
    assert "retry f-1 (step 'a'): retried, via store" in results[0].output
    store = open_store(store_url, read_only=True)
    try:
        assert store.get("f-1").state is JobState.READY
    finally:
        store.close()


def test_a_store_busy_timeout_of_a_month_waits_for_the_lock(tmp_path: Path) -> None:
    """It failed at once with "database is locked": SQLite read the timeout as none."""
    store = SqliteStore(tmp_path / "b.db", busy_timeout=MONTH)
    errors: list[BaseException] = []

    def create() -> None:
        try:
            store.create(JobRecord("a", "a", "wf", 1, "a", {}, JobState.READY))
        except BaseException as exc:
            errors.append(exc)

    try:
        _waits_behind_a_lock(f"sqlite:///{tmp_path / 'b.db'}", "a", threading.Thread(target=create))
        assert errors == []
        assert store.get("a") is not None
    finally:
        store.close()


@pytest.mark.parametrize("value", [float("nan"), -1, float("inf"), 1e10, "10", True])
def test_what_is_no_time_to_wait_is_refused_where_it_is_given(
    tmp_path: Path, value: object
) -> None:
    """NaN and infinity raised from int() on the first connection, -1 'database is locked'."""
    with pytest.raises(ValueError, match=r"^busy_timeout must be a number of seconds from 0"):
        SqliteStore(tmp_path / "b.db", busy_timeout=value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^timeout must be a number of seconds from 0"):
        Admin(f"sqlite:///{tmp_path / 'a.db'}", timeout=value)  # type: ignore[arg-type]
    assert not (tmp_path / "a.db").exists()  # refused before the store was opened


@pytest.mark.parametrize("command", [["jobs", "retry", "j"], ["jobs", "cancel", "j"],
                                     ["events", "send", "j/e"]])  # fmt: skip
def test_a_timeout_past_a_century_is_a_bad_argument(
    runner: CliRunner, tmp_path: Path, command: list[str]
) -> None:
    """``--timeout 1e308`` ended in an OverflowError's traceback (exit 1)."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    result = runner.invoke(main, [*command, "--store", url, "--timeout", "1e308"])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--timeout': 1e+308 is not in the range" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
