"""The workers ``actors status`` shows: live or stopped, the cases each holds, its lease's end."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from actors._admin_model import WorkerInfo, Workers
from actors._cli import _when
from actors._due_text import span

__all__ = ["lease_end", "workers_json", "workers_option", "workers_summary", "workers_table"]

workers_option = click.option(
    "--workers",
    "worker_limit",
    default=20,
    show_default=True,
    type=click.IntRange(0, 2**62),
    help="Workers to list (stopped ones first); 0 lists none (they are still counted).",
)
"""``status --workers N``: how many workers to list."""


def lease_end(worker: WorkerInfo, now: float) -> str:
    """When ``worker``'s lease ends, or ended, and how far that is from ``now`` (store's clock)."""
    expires = worker.lease_expires
    if expires is None:
        return "- (no lease: an expiry no worker writes)"
    if worker.live:
        return f"{_when(expires)} (in {span(expires - now)})"
    return f"{_when(expires)} (ended {span(now - expires)} ago)"


def workers_summary(workers: Workers) -> str:
    """``3 (2 live, 1 stopped: lease expired)``: every worker the store knows."""
    stopped = workers.total - workers.live
    if not workers.total:
        return "0"
    return f"{workers.total} ({workers.live} live, {stopped} stopped: lease expired)"


def workers_table(workers: Workers) -> Table | None:
    """The listed workers, the stopped first; ``None`` when there are none to list."""
    if not workers.items:
        return None
    title = f"Workers ({len(workers.items)} of {workers.total}, stopped first)"
    table = Table(title=title)
    table.add_column("worker", overflow="fold")
    table.add_column("lease")
    table.add_column("cases", justify="right")
    table.add_column("lease ends (store's clock)")
    for worker in workers.items:
        if worker.live:
            lease = "live"
        elif worker.cases:
            lease = "expired: its cases wait for a takeover"
        else:
            lease = "expired"
        table.add_row(worker.owner, lease, str(worker.cases), lease_end(worker, workers.now))
    if workers.more:
        table.caption = f"{workers.more} more not listed (--workers to list more)"
    return table


def workers_json(workers: Workers) -> dict[str, Any]:
    """The workers as ``status --json`` gives them: counts, and the listed ones."""
    return {
        "total": workers.total,
        "live": workers.live,
        "more": workers.more,
        "listed": [worker.to_dict() for worker in workers.items],
    }
