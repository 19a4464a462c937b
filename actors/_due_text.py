"""Due times as an operator reads them: by the clock the store keeps them by.

On PostgreSQL a worker stores timers and leases by the database server's clock (see
``actors.stores._server_clock``), so a due time shown by this machine's clock, or told
from this machine's "now", is off by as much as this machine's clock is. Operators'
views therefore show them as stored, and say how far off they are from the server's
now: "in 5 s", "12 s overdue". Other stores keep them by this machine's clock, where
the two are one.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from actors.stores._base import Store

__all__ = ["server_now", "server_skew", "span", "until"]

_YEAR = 365.25 * 86400
_CENTURY = 100 * _YEAR


def server_now(store: Store) -> float:
    """Now, by the clock ``store`` keeps due times and leases by (the server's, on PostgreSQL)."""
    return store.lease_time(time.time())


def server_skew(store: Store) -> float:
    """Seconds to add to this machine's time for the store's clock's (0 but on PostgreSQL).

    A ``JobRecord`` that a store gives the engine holds its due time on this machine's
    clock (a worker compares it with its own); adding this gives it as stored.
    """
    now = time.time()
    return store.lease_time(now) - now


def until(due: float, now: float) -> str:
    """How far ``due`` is from ``now`` in words: ``in 5 s``, ``3 min overdue``, ``due now``."""
    seconds = due - now
    if abs(seconds) < 0.5:
        return "due now"
    amount = span(seconds)
    return f"in {amount}" if seconds > 0 else f"{amount} overdue"


def span(seconds: float) -> str:
    """A length of time in words, its sign dropped: ``5 s``, ``3 min``, ``1.5 h``."""
    size = abs(seconds)
    if size < 60:
        return f"{size:.0f} s"
    if size < 3600:
        return f"{size / 60:.0f} min"
    if size < 86400:
        return f"{size / 3600:.1f} h"
    if size < _CENTURY:
        return f"{size / 86400:.1f} d"
    return f"{size / _YEAR:.3g} years"  # only a row edited by hand (1e308: 300 digits of days)
