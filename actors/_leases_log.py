"""What a starting worker says of the cases other workers' leases keep from it."""

from __future__ import annotations

import os
import socket

from actors._engine import job_log, logger
from actors.stores import Store

__all__ = ["log_leases_held", "own_leases"]


def own_leases(store: Store, owner: str, now: float) -> tuple[int, float] | None:
    """(cases, latest expiry) that ``owner``'s name holds now, before it claims them back."""
    try:
        held = store.leases_held(now)
    except Exception:
        return None
    return next(((cases, until) for holder, cases, until in held if holder == owner), None)


def log_leases_held(
    store: Store, owner: str, now: float, own: tuple[int, float] | None = None
) -> None:
    """Say which unfinished cases other workers' leases keep from this one, and until when.

    ``own``: what ``own_leases`` read before this worker took its cases back. A worker
    that stopped cleanly released them; if its name still held live leases, either it
    died (the restart takes them back at once, as meant) or another process runs under
    the same name, and both would run those cases: a warning says so.

    A worker named by default (host, process id, random suffix) that crashed leaves its
    cases leased until the leases expire; a program restarted after the crash then waits
    that long before it resumes them. That is a warning when the holder is a process of
    this host that no longer runs; otherwise other workers may well be alive (info).
    """
    if own is not None:
        logger.warning(
            "%d unfinished case(s) were leased to this worker's name %r for %.0f s more: "
            "those of the workflow versions it serves are taken back at once (as many as "
            "fit its capacity), as after a crash, and the others freed for any worker. If "
            "a worker of that name still runs (a name used twice, or a frozen process "
            "restarted), both run those cases: worker names must be unique",
            own[0],
            owner,
            max(own[1] - now, 0.0),
            extra=job_log(None),
        )
    try:
        held = store.leases_held(now)
    except Exception:
        return
    for holder, cases, until in held:
        if holder == owner:
            continue
        wait = max(until - now, 0.0)
        if _dead_here(holder):
            logger.warning(
                "%d unfinished case(s) are leased to worker %r, a process of this host that "
                "is no longer running; those of the workflow versions this worker serves "
                "resume here once its leases expire, in %.0f s (the others wait for a worker "
                "serving theirs). A Mediator given a stable owner= takes its own cases back "
                "at once on restart",
                cases,
                holder,
                wait,
                extra=job_log(None),
            )
        else:
            logger.info(
                "%d unfinished case(s) are held by worker %r; this worker takes over those "
                "of the workflow versions it serves if its leases expire (the last in %.0f s)",
                cases,
                holder,
                wait,
                extra=job_log(None),
            )


def _dead_here(owner: str) -> bool:
    """Whether ``owner`` is a default worker name of a process of this host that has ended."""
    host, _, rest = owner.partition(":")
    pid, _, _ = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False
