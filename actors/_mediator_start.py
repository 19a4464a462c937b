"""What a starting Mediator takes from its store before it admits anything new."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors._leases_log import log_leases_held, own_leases
from actors._mediator_options import warn_short_lease

if TYPE_CHECKING:
    from actors._engine import EngineConfig
    from actors._job import JobRecord

__all__ = ["take_unfinished"]


def take_unfinished(
    config: EngineConfig, capacity: int, lease_seconds: float, poll_interval: float, now: float
) -> list[JobRecord]:
    """The jobs a previous run left unfinished, to resume.

    On a shared store, only the cases no live worker holds (up to ``capacity``), which
    are leased to this worker as they are taken.
    """
    store = config.store
    if not store.shared:
        return store.unfinished()
    warn_short_lease(lease_seconds, poll_interval)
    store.owner = config.owner
    store.lease_seconds = lease_seconds
    own = own_leases(store, config.owner, now)  # before they are taken back
    resume = store.claim(
        config.owner,
        now,
        lease_seconds,
        limit=capacity,
        reclaim=True,
        workflows=config.workflows,
    )
    log_leases_held(store, config.owner, now, own)
    return resume
