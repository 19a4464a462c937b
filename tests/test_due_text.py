"""How far a due time is from now, in the words operators' views show (``_due_text.until``)."""

from __future__ import annotations

import pytest

from actors._due_text import until


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (5.2, "in 5 s"),
        (-12.4, "12 s overdue"),
        (0.3, "due now"),
        (-0.3, "due now"),
        (600.0, "in 10 min"),
        (-180.0, "3 min overdue"),
        (2.5 * 3600, "in 2.5 h"),
        (-3 * 86400, "3.0 d overdue"),
        (99 * 365 * 86400, "in 36135.0 d"),
        # Past a century, years: a due edited by hand to 1e308 took 300 digits of days,
        # and the column squeezed every other one of the status table out of sight.
        (200 * 365.25 * 86400, "in 200 years"),
        (9e15, "in 2.85e+08 years"),
        (1e308, "in 3.17e+300 years"),
        (-1e308, "3.17e+300 years overdue"),
    ],
)
def test_a_due_time_is_said_from_now(seconds: float, said: str) -> None:
    now = 1_800_000_000.0
    assert until(now + seconds, now) == said


def test_a_due_time_no_clock_reaches_is_said_in_a_few_characters() -> None:
    now = 1_800_000_000.0
    for due in (1e308, -1e308, 1.7976931348623157e308):
        assert len(until(due, now)) <= 24
