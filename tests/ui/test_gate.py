"""The dashboard's reads of a store that fails: answered at once, checked one at a time.

A page read a PostgreSQL store gone away by waiting its pool's timeout (10 s) for a
connection, every page and every refresh. Once a read has failed, the pages answer at
once; the store is checked on a thread of its own, one check at a time and at most once
per ``retry`` seconds of the gate's clock, and the pages read again once one answers.
"""

from __future__ import annotations

import logging
import threading

import pytest
from bounds import TIMEOUT, wait_until

from actors import StoreError
from actors.ui._gate import ReadGate, StoreDownError

URL = "postgresql://app:***@db/jobs"


class Clock:
    """The gate's clock: it moves when the test says."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def refused(what: str) -> StoreError:
    return StoreError(f"{URL}: cannot {what}: connection refused")


def gone() -> None:
    raise refused("read case c")


def test_pages_answer_at_once_while_one_check_waits_for_the_store(caplog):
    caplog.set_level(logging.INFO, logger="actors.ui")
    entered, release = threading.Event(), threading.Event()
    checks: list[str] = []

    def check() -> None:
        checks.append("check")
        entered.set()
        assert release.wait(TIMEOUT)  # the store does not answer until the test says

    reads: list[str] = []
    gate = ReadGate(URL, check, wait=0.0, clock=Clock())
    assert gate.read(reads.append, "before") is None
    with pytest.raises(StoreDownError) as failed:
        gate.read(gone)
    assert str(failed.value).startswith(f"{URL} has not answered since ")
    assert str(failed.value).endswith(
        " UTC (cannot read case c: connection refused); the dashboard tries it again every 2 s"
    )
    assert entered.is_set() is False  # nothing checked yet: the next page does
    with pytest.raises(StoreDownError, match="cannot read case c"):
        gate.read(reads.append, "during")  # starts the check, does not wait for it
    assert entered.wait(TIMEOUT)
    for _ in range(3):  # the check still waits: no page reads, none starts another
        with pytest.raises(StoreDownError):
            gate.read(reads.append, "during")
    assert checks == ["check"] and reads == ["before"]

    release.set()  # the store answers the check: the pages read again
    wait_until(lambda: _reads(gate, reads), "a page to read once the check has answered")
    assert checks == ["check"]
    logged = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in logged] == ["WARNING", "INFO"]
    assert logged[0][1].startswith(f"the store {URL} cannot be read (")
    assert logged[1][1].startswith(f"the store {URL} answers again (")


def _reads(gate: ReadGate, reads: list[str]) -> bool:
    try:
        gate.read(reads.append, "after")
    except StoreDownError:
        return False
    return True


def test_a_failing_store_is_checked_at_most_once_per_retry_period():
    clock = Clock()
    checks: list[float] = []
    answers = {"check": False}

    def check() -> None:
        checks.append(clock.now)
        if not answers["check"]:
            raise refused("check that the store answers")

    # The page that starts a check waits for it (as long as a test allows).
    gate = ReadGate(URL, check, retry=2.0, wait=TIMEOUT, clock=clock)
    reads: list[str] = []
    with pytest.raises(StoreDownError):
        gate.read(gone)
    with pytest.raises(StoreDownError, match=r"\(cannot check that the store answers: conn"):
        gate.read(reads.append, "page")  # checked at once: the check's failure is shown
    clock.now += 1.9
    with pytest.raises(StoreDownError):
        gate.read(reads.append, "page")  # within the period: not checked again
    assert checks == [100.0]
    clock.now += 0.1
    with pytest.raises(StoreDownError):
        gate.read(reads.append, "page")
    assert checks == [100.0, 102.0]
    answers["check"] = True
    clock.now += 2.0
    gate.read(reads.append, "page")  # the check answers, and the page that made it reads
    gate.read(reads.append, "page")
    assert checks == [100.0, 102.0, 104.0] and reads == ["page", "page"]


def test_a_read_that_failed_alone_holds_no_other_page_back():
    """A read may fail for a reason of its own: the next page checks, and reads."""
    gate = ReadGate(URL, lambda: None, wait=TIMEOUT, clock=Clock())
    with pytest.raises(StoreDownError):
        gate.read(gone)
    assert gate.read(lambda: "rows") == "rows"
