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
    ],
)
def test_a_due_time_is_said_from_now(seconds: float, said: str) -> None:
    now = 1_800_000_000.0
    assert until(now + seconds, now) == said
