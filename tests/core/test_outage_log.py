"""What a worker says of a store outage: one WARNING as it starts, one INFO as it ends.

``Outage`` is a plain object: each call gives it the time. Calls the outage held up end
just after it (a save that waited for a connection fails once its wait is up, after a
poll found the store answering): those failures are the outage's tail, at DEBUG, and
not a second WARNING and INFO. A store that fails again for ``SETTLE`` seconds, or
after ``SETTLE`` seconds, is a new outage, said as the first was.
"""

from __future__ import annotations

import logging

import pytest

from actors._errors import StoreError
from actors._outage import SETTLE, Outage

URL = "postgresql://app@db/jobs"


def _down() -> StoreError:
    error = StoreError(f"{URL}: cannot save job j1: couldn't get a connection after 1.00 sec")
    error.blames_job = False
    return error


def _said(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """The engine's lines above DEBUG, each as (level, first words), then forgotten."""
    said = [
        (r.levelname, " ".join(r.getMessage().split()[:5]))
        for r in caplog.records
        if r.name == "actors" and r.levelno > logging.DEBUG
    ]
    caplog.clear()
    return said


WARNING = ("WARNING", f"the store {URL} cannot be")
INFO = ("INFO", f"the store {URL} is reachable")


def test_failures_just_after_the_store_answered_are_the_outages_tail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="actors")
    outage = Outage(URL)
    outage.failed(_down(), 100.0)
    outage.failed(_down(), 101.0)
    outage.answered(103.0)
    assert _said(caplog) == [WARNING, INFO]
    # A save that waited for a connection through the outage fails after the poll.
    outage.failed(_down(), 103.5)
    outage.failed(_down(), 104.0)
    outage.answered(105.0)
    assert _said(caplog) == []
    assert outage.down_since is None
    # Well after the outage, a failure is a new one, said again.
    outage.failed(_down(), 103.0 + SETTLE + 1)
    outage.answered(103.0 + SETTLE + 2)
    assert _said(caplog) == [WARNING, INFO]


def test_a_failure_after_the_store_answered_that_lasts_is_a_new_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="actors")
    outage = Outage(URL)
    outage.failed(_down(), 100.0)
    outage.answered(101.0)
    assert _said(caplog) == [WARNING, INFO]
    outage.failed(_down(), 102.0)  # taken for the tail at first
    outage.failed(_down(), 102.0 + SETTLE / 2)
    assert _said(caplog) == []
    outage.failed(_down(), 102.0 + SETTLE)  # still failing: the store is down again
    outage.failed(_down(), 103.0 + SETTLE)
    assert _said(caplog) == [WARNING]
    outage.answered(104.0 + SETTLE)
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert _said(caplog) == [INFO]
    assert said == [f"the store {URL} is reachable again (after {SETTLE + 2:.1f}s)"]
