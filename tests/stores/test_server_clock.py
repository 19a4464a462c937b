"""How far the database server's clock is from this machine's, as a PostgreSQL store reads it.

Leases go by the server's clock: a store adds the offset it read to this machine's time.
Within a second nothing is added; once added, the offset is kept until the clocks agree
within half a second, so a clock about a second off does not flap. Each change is logged
once: a WARNING naming how far and which way, an INFO when the clocks agree again.
"""

from __future__ import annotations

import logging
import time

import pytest

from actors.stores._server_clock import ServerClock


def _server(offset: float):
    return lambda: time.time() + offset


def test_an_offset_is_applied_from_a_second_and_kept_to_half_a_second(caplog):
    clock = ServerClock("postgresql://app:***@db/jobs")
    with caplog.at_level(logging.INFO, logger="actors.stores"):
        clock.observe(_server(0.6))
        assert clock.offset == 0.0  # within the tolerance: this machine's clock
        clock.observe(_server(-120.0))
        assert clock.offset == pytest.approx(-120.0, abs=0.1)
        [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert "this machine's clock is 120.0 s ahead of the clock of the database server at" in (
            warning.getMessage()
        )
        assert "postgresql://app:***@db/jobs" in warning.getMessage()
        clock.observe(_server(-120.3))  # it drifts: followed, said once
        assert clock.offset == pytest.approx(-120.3, abs=0.1)
        clock.observe(_server(0.7))  # set right, but not quite
        assert clock.offset == pytest.approx(0.7, abs=0.1)
        clock.observe(_server(1.1))
        clock.observe(_server(0.2))
        assert clock.offset == 0.0
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in said] == ["WARNING", "WARNING", "INFO"]
    assert "0.7 s behind" in said[1][1]  # a jump of a second or more is said again
    assert "agrees with the clock of the database server" in said[2][1]


def test_a_slow_or_unreadable_reading_is_ignored():
    clock = ServerClock("postgresql://db/jobs")

    def slow() -> float:
        time.sleep(1.1)  # a round trip longer than the tolerance tells too little
        return time.time() + 300.0

    clock.observe(slow)
    clock.observe(lambda: None)
    clock.observe(lambda: float("nan"))
    assert clock.offset == 0.0
